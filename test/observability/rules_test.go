package observability

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
)

// alertCase is one promtool-style test: series loaded at a 1m interval (promqltest's `load 1m`
// notation, as in promtool's input_series), the rules evaluated every minute from 0 to at, and the
// alerts firing then. firing lists the labels of each firing alert (those the rule adds from its
// expression); nil means none fires.
type alertCase struct {
	name   string
	series string
	at     time.Duration
	firing []map[string]string
}

const acme, shared = `tenant="Tenant/iam/acme"`, `tenant="ClusterTenant/shared"`

var alertCases = map[string][]alertCase{
	"SimOperatorIntegrationStalled": {
		{name: "stalled for 20 minutes", at: 20 * time.Minute,
			series: `sim_operator_simintegrations_by_condition{` + acme + `,condition="Stalled",status="True",reason="NameConflict",pod="a"} 1x30
			         sim_operator_simintegrations_by_condition{` + acme + `,condition="Stalled",status="True",reason="NameConflict",pod="b"} 1x30`,
			firing: []map[string]string{{"tenant": "Tenant/iam/acme", "reason": "NameConflict"}}},
		{name: "stalled for 10 minutes only", at: 10 * time.Minute,
			series: `sim_operator_simintegrations_by_condition{` + acme + `,condition="Stalled",status="True",reason="NameConflict"} 1x30`},
		{name: "stalled, then fixed", at: 25 * time.Minute,
			series: `sim_operator_simintegrations_by_condition{` + acme + `,condition="Stalled",status="True",reason="SecretNotFound"} 1x20 0x10`},
		{name: "Stalled=False counts are not stalled objects", at: 30 * time.Minute,
			series: `sim_operator_simintegrations_by_condition{` + acme + `,condition="Stalled",status="False",reason="Synced"} 5x30`},
	},
	"SimOperatorIntegrationNotReady": {
		{name: "not Ready since the start, 70 minutes ago", at: 70 * time.Minute,
			series: `sim_operator_simintegrations_oldest_not_ready_timestamp_seconds{` + shared + `} 0x80`,
			firing: []map[string]string{{"tenant": "ClusterTenant/shared"}}},
		{name: "just past the hour, not yet for 5 minutes", at: 63 * time.Minute,
			series: `sim_operator_simintegrations_oldest_not_ready_timestamp_seconds{` + shared + `} 0x80`},
		{name: "objects keep becoming Ready; the oldest not-Ready one is always recent", at: 80 * time.Minute,
			series: `sim_operator_simintegrations_oldest_not_ready_timestamp_seconds{` + shared + `} 0+60x80`},
		{name: "every object Ready: no series", at: 80 * time.Minute,
			series: `sim_operator_simintegrations{` + shared + `} 4x80`},
	},
	"SimOperatorDriftCorrectedRepeatedly": {
		{name: "four corrections within an hour", at: 9 * time.Minute,
			series: `sim_operator_drift_corrections_total{` + acme + `} 0 0 0 1 2 3 4 4 4 4`,
			firing: []map[string]string{{"tenant": "Tenant/iam/acme"}}},
		{name: "two corrections", at: 9 * time.Minute,
			series: `sim_operator_drift_corrections_total{` + acme + `} 0 0 1 1 2 2 2 2 2 2`},
		{name: "four corrections, more than an hour ago", at: 90 * time.Minute,
			series: `sim_operator_drift_corrections_total{` + acme + `} 0 1 2 3 4x90`},
	},
	"SimOperatorSnapshotStale": {
		{name: "no list for 40 minutes at a 10 minute interval", at: 40 * time.Minute,
			series: `sim_operator_tenant_snapshot_age_seconds{` + acme + `} 0+60x40
			         sim_operator_tenant_poll_interval_seconds{` + acme + `} 600x40
			         sim_operator_simintegrations_by_condition{` + acme + `,condition="Ready",status="True",reason="Synced"} 2x40
			         sim_operator_simintegrations_suspended{` + acme + `} 0x40`,
			firing: []map[string]string{{"tenant": "Tenant/iam/acme"}}},
		{name: "listed every 10 minutes", at: 40 * time.Minute,
			series: `sim_operator_tenant_snapshot_age_seconds{` + acme + `} 0+60x9 0+60x9 0+60x9 0+60x9
			         sim_operator_tenant_poll_interval_seconds{` + acme + `} 600x40
			         sim_operator_simintegrations_by_condition{` + acme + `,condition="Ready",status="True",reason="Synced"} 2x40
			         sim_operator_simintegrations_suspended{` + acme + `} 0x40`},
		{name: "every Ready object is suspended, so nothing lists", at: 40 * time.Minute,
			series: `sim_operator_tenant_snapshot_age_seconds{` + acme + `} 0+60x40
			         sim_operator_tenant_poll_interval_seconds{` + acme + `} 600x40
			         sim_operator_simintegrations_by_condition{` + acme + `,condition="Ready",status="True",reason="Synced"} 2x40
			         sim_operator_simintegrations_suspended{` + acme + `} 2x40`},
	},
	"SimOperatorTenantRateLimited": {
		{name: "a 429 every 10 minutes for an hour", at: 50 * time.Minute,
			series: `sim_operator_tenant_backoff_seconds{` + shared + `} 60 0x8 60 0x8 60 0x8 60 0x8 60 0x8 60 0x8`,
			firing: []map[string]string{{"tenant": "ClusterTenant/shared"}}},
		{name: "one 429", at: 50 * time.Minute,
			series: `sim_operator_tenant_backoff_seconds{` + shared + `} 60 0x59`},
		{name: "never blocked", at: 50 * time.Minute,
			series: `sim_operator_tenant_backoff_seconds{` + shared + `} 0x59`},
	},
	"SimOperatorTenantCredentialsFailing": {
		{name: "the tenant is Stalled: Unauthorized", at: 15 * time.Minute,
			series: `sim_operator_tenant_condition{` + acme + `,condition="Stalled",status="True",reason="Unauthorized"} 1x20`,
			firing: []map[string]string{{"tenant": "Tenant/iam/acme"}}},
		{name: "token requests fail and none ever succeeded", at: 15 * time.Minute,
			series: `sim_operator_tenant_token_failures_total{` + acme + `} 0+1x20`,
			firing: []map[string]string{{"tenant": "Tenant/iam/acme"}}},
		{name: "a failed token request, then a token", at: 15 * time.Minute,
			series: `sim_operator_tenant_token_failures_total{` + acme + `} 0 1x20
			         sim_operator_tenant_last_token_success_timestamp_seconds{` + acme + `} 0+60x20`},
		{name: "a Ready tenant", at: 15 * time.Minute,
			series: `sim_operator_tenant_condition{` + acme + `,condition="Stalled",status="False",reason="TokenObtained"} 1x20
			         sim_operator_tenant_token_failures_total{` + acme + `} 0x20`},
	},
	"SimOperatorNotReconciling": {
		{name: "objects, and no reconcile for over an hour", at: 90 * time.Minute,
			series: `sim_operator_simintegrations{` + acme + `} 3x90
			         sim_operator_simintegrations_suspended{` + acme + `} 0x90
			         controller_runtime_reconcile_total{controller="simintegration",result="success"} 40x90`,
			firing: []map[string]string{{}}},
		{name: "objects, and the controller never started", at: 30 * time.Minute,
			series: `sim_operator_simintegrations{` + acme + `} 3x90
			         sim_operator_simintegrations_suspended{` + acme + `} 0x90`,
			firing: []map[string]string{{}}},
		{name: "reconciling at the poll interval", at: 90 * time.Minute,
			series: `sim_operator_simintegrations{` + acme + `} 3x90
			         sim_operator_simintegrations_suspended{` + acme + `} 0x90
			         controller_runtime_reconcile_total{controller="simintegration",result="requeue_after"} 0+1x90`},
		{name: "every object suspended", at: 90 * time.Minute,
			series: `sim_operator_simintegrations{` + acme + `} 3x90
			         sim_operator_simintegrations_suspended{` + acme + `} 3x90
			         controller_runtime_reconcile_total{controller="simintegration",result="success"} 40x90`},
	},
}

func alertRules(t *testing.T) map[string]rulefmt.Rule {
	t.Helper()
	groups, err := LoadRules(AlertsFile)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out[r.Alert] = r
			}
		}
	}
	return out
}

// TestAlertsFireAndStayQuiet evaluates each alert over its cases with Prometheus' rule evaluation.
func TestAlertsFireAndStayQuiet(t *testing.T) {
	for name, rule := range alertRules(t) {
		cases := alertCases[name]
		fires, quiet := false, false
		for _, c := range cases {
			fires = fires || len(c.firing) > 0
			quiet = quiet || len(c.firing) == 0
		}
		if !fires || !quiet {
			t.Errorf("%s: needs a case where it fires and one where it does not", name)
		}
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				got := evalAlert(t, rule, "load 1m\n"+indent(c.series), c.at)
				if len(got) != len(c.firing) {
					t.Fatalf("at %s: %d alerts firing, want %d: %v", c.at, len(got), len(c.firing), got)
				}
				for i, want := range c.firing {
					for k, v := range want {
						if got[i].Labels.Get(k) != v {
							t.Errorf("alert %d: label %s = %q, want %q (%v)", i, k, got[i].Labels.Get(k), v, got[i].Labels)
						}
					}
					if got[i].Labels.Get("severity") == "" {
						t.Errorf("alert %d has no severity", i)
					}
					for _, a := range []string{"summary", "description", "runbook_url"} {
						v := got[i].Annotations.Get(a)
						if v == "" || strings.Contains(v, "error") || strings.Contains(v, "<no value>") {
							t.Errorf("annotation %s = %q", a, v)
						}
					}
				}
			})
		}
	}
	for name := range alertCases {
		if _, ok := alertRules(t)[name]; !ok {
			t.Errorf("cases for %s, which %s does not have", name, AlertsFile)
		}
	}
}

func indent(series string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(series, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

// evalAlert evaluates rule every minute from 0 to at, as Prometheus' rule manager and promtool do,
// and returns the alerts firing at at.
func evalAlert(t *testing.T, rule rulefmt.Rule, load string, at time.Duration) []*rules.Alert {
	t.Helper()
	storage := promqltest.LoadedStorage(t, load)
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 100000)
	expr, err := Parser.ParseExpr(rule.Expr)
	if err != nil {
		t.Fatal(err)
	}
	ar := rules.NewAlertingRule(rule.Alert, expr, time.Duration(rule.For), time.Duration(rule.KeepFiringFor),
		labels.FromMap(rule.Labels), labels.FromMap(rule.Annotations), labels.EmptyLabels(), "", false, nil)
	query := rules.EngineQueryFunc(engine, storage)
	for ts := time.Duration(0); ts <= at; ts += time.Minute {
		if _, err := ar.Eval(t.Context(), 0, time.Unix(0, 0).Add(ts), query, nil, 0); err != nil {
			t.Fatalf("eval at %s: %v", ts, err)
		}
	}
	var firing []*rules.Alert
	for _, a := range ar.ActiveAlerts() {
		if a.State == rules.StateFiring {
			firing = append(firing, a)
		}
	}
	slices.SortFunc(firing, func(a, b *rules.Alert) int { return labels.Compare(a.Labels, b.Labels) })
	return firing
}

// TestChartShipsTheSameAlerts: the chart's copy is config/prometheus/alerts.yaml byte for byte.
func TestChartShipsTheSameAlerts(t *testing.T) {
	a, err := os.ReadFile(AlertsFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ChartAlertsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s: cp %s %s", ChartAlertsFile, AlertsFile, AlertsFile, ChartAlertsFile)
	}
}

// TestEveryAlertHasARunbook: each alert's runbook_url points at a section of docs/operations.md.
func TestEveryAlertHasARunbook(t *testing.T) {
	doc, err := os.ReadFile(RepoRoot() + "/docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range alertRules(t) {
		anchor := strings.ToLower(name)
		if !strings.HasSuffix(r.Annotations["runbook_url"], "docs/operations.md#"+anchor) {
			t.Errorf("%s: runbook_url %q does not end in docs/operations.md#%s", name, r.Annotations["runbook_url"], anchor)
		}
		if !strings.Contains(string(doc), "\n### "+name+"\n") {
			t.Errorf("docs/operations.md has no section ### %s", name)
		}
	}
}
