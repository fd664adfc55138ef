package observability

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// TestDashboardIsGenerated: the committed JSON is what the generator produces (`make dashboard`).
func TestDashboardIsGenerated(t *testing.T) {
	want, err := DashboardJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what test/observability generates: run `go run ./cmd/dashboard` in test/observability (make dashboard)", DashboardFile)
	}
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedMetrics are the metric names the manager exports: its own collectors' (the state metrics
// and the IdentityNow client's), and every name in a scrape of the real manager binary (LoadRun's
// file, recorded by cmd/picture), which holds controller-runtime's.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, n := range controller.StateMetricNames() {
		names[n] = true
	}
	ch := make(chan *prometheus.Desc, 100)
	for _, c := range identitynow.Collectors() {
		c.Describe(ch)
	}
	close(ch)
	for d := range ch {
		if m := fqNameRE.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	run, err := LoadRun(RunFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range run.Names {
		names[n] = true
	}
	return names
}

// exported reports whether name is an exported metric, or a histogram's series of one.
func exported(names map[string]bool, name string) bool {
	if names[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && names[base] {
			return true
		}
	}
	return false
}

// dashboardQueries returns every PromQL expression of the committed dashboard: the panels' targets
// and the query variables.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((\w+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			m := labelValues.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("variable query %q: not label_values(metric, label)", q)
				continue
			}
			out = append(out, m[1])
		}
	}
	return out
}

// TestEveryQueryNamesAnExportedMetric: the dashboard's and the alerts' queries parse and name only
// metrics the manager exports, so none stays empty because of a typo or a renamed metric.
func TestEveryQueryNamesAnExportedMetric(t *testing.T) {
	names := exportedMetrics(t)
	queries := dashboardQueries(t)
	if len(queries) < 20 {
		t.Fatalf("only %d queries in the dashboard", len(queries))
	}
	for name, r := range alertRules(t) {
		queries = append(queries, r.Expr)
		_ = name
	}
	for _, q := range queries {
		used, err := MetricNames(q)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(used) == 0 {
			t.Errorf("%q names no metric", q)
		}
		for _, n := range used {
			if !exported(names, n) {
				t.Errorf("%q: the manager exports no metric %s", q, n)
			}
		}
	}
}

// TestEveryStateMetricIsShown: each state metric appears in the dashboard or an alert, and in the
// metrics table of docs/operations.md.
func TestEveryStateMetricIsShown(t *testing.T) {
	doc, err := os.ReadFile(RepoRoot() + "/docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	queries := dashboardQueries(t)
	for _, r := range alertRules(t) {
		queries = append(queries, r.Expr)
	}
	for _, q := range queries {
		ns, _ := MetricNames(q)
		for _, n := range ns {
			used[n] = true
		}
	}
	for _, n := range controller.StateMetricNames() {
		if !used[n] {
			t.Errorf("%s is in neither the dashboard nor an alert", n)
		}
		if !strings.Contains(string(doc), "| `"+n+"` |") {
			t.Errorf("docs/operations.md has no row for %s", n)
		}
	}
}
