package install

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/test/harness"
)

// observabilityValues turns on the PrometheusRule and the dashboard ConfigMap.
var observabilityValues = map[string]any{
	"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
	"dashboard": map[string]any{
		"enabled": true, "namespace": "monitoring",
		"labels": map[string]any{"grafana_dashboard": "1"}, "annotations": map[string]any{"grafana_folder": "Operators"},
	},
}

// TestChartObservability: off by default; when on, the chart ships the PrometheusRule of
// config/prometheus/alerts.yaml and the generated dashboard, unchanged, in a ConfigMap the Grafana
// sidecar picks up.
func TestChartObservability(t *testing.T) {
	render(t)
	for _, o := range chartObjs {
		if o.GetKind() == "PrometheusRule" || (o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-dashboard")) {
			t.Errorf("%s rendered with default values", Key(o))
		}
	}
	if problems := LintChart(observabilityValues); len(problems) > 0 {
		t.Errorf("helm lint --strict:\n%s", strings.Join(problems, "\n"))
	}
	data, err := RenderChart(observabilityValues)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}

	rules := ByKind(objs, "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(rules))
	}
	r := rules[0]
	if r.GetName() != "sim-operator-alerts" || r.GetNamespace() != Namespace || r.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("%s labels %v", Key(r), r.GetLabels())
	}
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := sigsyaml.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(r.Object["spec"], want["spec"]) {
		t.Errorf("the chart's rules differ from config/prometheus/alerts.yaml:\nchart: %s\nconfig: %s", toYAML(r.Object["spec"]), toYAML(want["spec"]))
	}

	var cm map[string]any
	for _, o := range ByKind(objs, "ConfigMap") {
		if o.GetName() == "sim-operator-dashboard" {
			cm = o.Object
			if o.GetNamespace() != "monitoring" || o.GetLabels()["grafana_dashboard"] != "1" ||
				o.GetAnnotations()["grafana_folder"] != "Operators" {
				t.Errorf("%s: namespace %q labels %v annotations %v", Key(o), o.GetNamespace(), o.GetLabels(), o.GetAnnotations())
			}
		}
	}
	if cm == nil {
		t.Fatal("no ConfigMap sim-operator-dashboard")
	}
	committed, err := os.ReadFile(filepath.Join(ChartDir(), "files", "dashboards", "sim-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	shipped, _ := cm["data"].(map[string]any)["sim-operator.json"].(string)
	if shipped != strings.TrimSuffix(string(committed), "\n") {
		t.Errorf("the ConfigMap's dashboard differs from files/dashboards/sim-operator.json")
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []any  `json:"panels"`
	}
	if err := json.Unmarshal([]byte(shipped), &d); err != nil || d.UID != "sim-operator-fleet" || len(d.Panels) < 10 {
		t.Errorf("the shipped dashboard: uid %q, %d panels, %v", d.UID, len(d.Panels), err)
	}

	for name, vals := range map[string]map[string]any{
		"misspelt prometheusRule value": {"prometheusRule": map[string]any{"enable": true}},
		"dashboard label not a string":  {"dashboard": map[string]any{"labels": map[string]any{"grafana_dashboard": 1}}},
	} {
		if _, err := RenderChart(vals); err == nil {
			t.Errorf("%s: rendered, want a values.schema.json error", name)
		}
	}
}
