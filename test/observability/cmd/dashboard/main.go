// Command dashboard writes sim-operator's Grafana dashboard, generated with the Grafana Foundation
// SDK, to the file the Helm chart ships (charts/sim-operator/files/dashboards/sim-operator.json).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sim-operator/sim-operator/test/observability"
)

func main() {
	out := flag.String("o", observability.DashboardFile, "where to write the dashboard JSON")
	flag.Parse()
	data, err := observability.DashboardJSON()
	if err == nil {
		err = os.WriteFile(*out, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}
