package observability

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	sigsyaml "sigs.k8s.io/yaml"
)

// RepoRoot is the operator repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AlertsFile is the PrometheusRule of config/prometheus; ChartAlertsFile is the chart's copy.
var (
	AlertsFile      = filepath.Join(RepoRoot(), "config", "prometheus", "alerts.yaml")
	ChartAlertsFile = filepath.Join(RepoRoot(), "charts", "sim-operator", "files", "prometheus", "alerts.yaml")
)

// Parser is the PromQL parser the tests and the renderer use.
var Parser = parser.NewParser(parser.Options{})

// LoadRules reads a PrometheusRule manifest and parses its spec.groups as Prometheus does (promtool
// check rules): every expression and template must be valid.
func LoadRules(path string) (*rulefmt.RuleGroups, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var obj struct {
		Kind string         `json:"kind"`
		Spec map[string]any `json:"spec"`
	}
	if err := sigsyaml.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if obj.Kind != "PrometheusRule" {
		return nil, fmt.Errorf("%s: kind %q, want PrometheusRule", path, obj.Kind)
	}
	spec, err := sigsyaml.Marshal(obj.Spec)
	if err != nil {
		return nil, err
	}
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, Parser, nil)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", path, errs)
	}
	return groups, nil
}

// MetricNames returns the metric names an expression selects. Grafana's variables ($tenant,
// $__rate_interval, ...) are replaced by values that parse.
func MetricNames(expr string) ([]string, error) {
	e, err := Parser.ParseExpr(ExpandGrafanaVariables(expr, 5*time.Minute))
	if err != nil {
		return nil, fmt.Errorf("%q: %w", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names, nil
}
