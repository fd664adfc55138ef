// Package observability tests sim-operator's alerting rules with Prometheus' own rule evaluation and
// generates its Grafana dashboard. It is a module of its own so that Prometheus and the Grafana
// Foundation SDK never enter the operator's module graph.
package observability
