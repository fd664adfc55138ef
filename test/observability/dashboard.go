package observability

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/prometheus/common/model"
)

// DashboardFile is the generated dashboard the chart ships (dashboard.enabled).
var DashboardFile = filepath.Join(RepoRoot(), "charts", "sim-operator", "files", "dashboards", "sim-operator.json")

// DashboardUID is the dashboard's fixed uid, so that links and provisioning survive regeneration.
const DashboardUID = "sim-operator-fleet"

// Query is one PromQL query of a panel and its legend.
type Query struct {
	Expr, Legend string
}

// Panel describes one panel; the dashboard and the picture in docs/ are both made from these.
type Panel struct {
	Title, Description string
	// Stat panels show the last value; the others are time series.
	Stat bool
	// Unit is a Grafana unit ("short", "s", "percentunit", "reqps", "dateTimeFromNow").
	Unit    string
	Queries []Query
	// Width in grid columns (of 24); the height is fixed per kind.
	Width uint32
	// Stack stacks the series (counts that add up).
	Stack bool
	// Main: drawn in the picture of docs/operations.md.
	Main bool
}

// Row is a titled group of panels.
type Row struct {
	Title  string
	Panels []Panel
}

// Grafana's template variables in the queries.
const (
	sel      = `tenant=~"$tenant"`
	interval = "$__rate_interval"
)

// Rows are the dashboard's contents: the fleet, each tenant, the remote API, the manager. Every
// replica reports the counts from its own cache and only the leader the tenants' connections, so
// queries take the max by tenant before adding tenants up.
//
//nolint:lll,goconst // one panel a line or two reads best; units and legends are Grafana's words
var Rows = []Row{
	{Title: "Fleet", Panels: []Panel{
		{Title: "SimIntegrations", Stat: true, Unit: "short", Width: 3,
			Queries: []Query{{Expr: `sum(max by (tenant) (sim_operator_simintegrations{` + sel + `}))`}}},
		{Title: "Ready", Stat: true, Unit: "short", Width: 3,
			Queries: []Query{{Expr: `sum(max by (tenant) (sim_operator_simintegrations_by_condition{` + sel + `, condition="Ready", status="True"}))`}}},
		{Title: "Stalled", Stat: true, Unit: "short", Width: 3,
			Queries: []Query{{Expr: `sum(max by (tenant, reason) (sim_operator_simintegrations_by_condition{` + sel + `, condition="Stalled", status="True"})) or vector(0)`}}},
		{Title: "Suspended", Stat: true, Unit: "short", Width: 3,
			Queries: []Query{{Expr: `sum(max by (tenant) (sim_operator_simintegrations_suspended{` + sel + `}))`}}},
		{Title: "Drifted (ObserveOnly, suspended tenants)", Stat: true, Unit: "short", Width: 3,
			Queries: []Query{{Expr: `sum(max by (tenant) (sim_operator_simintegrations_drifted{` + sel + `}))`}}},
		{Title: "Pending create", Stat: true, Unit: "short", Width: 3,
			Queries: []Query{{Expr: `sum(max by (tenant) (sim_operator_simintegrations_pending_create{` + sel + `}))`}}},
		{Title: "ObserveOnly", Stat: true, Unit: "short", Width: 3,
			Queries: []Query{{Expr: `sum(max by (tenant) (sim_operator_simintegrations_observe_only{` + sel + `}))`}}},
		{Title: "Being deleted", Stat: true, Unit: "short", Width: 3,
			Queries: []Query{{Expr: `sum(max by (tenant) (sim_operator_simintegrations_deleting{` + sel + `}))`}}},
		{Title: "Ready status", Width: 12, Stack: true, Main: true, Unit: "short",
			Description: "SimIntegrations by the status of their Ready condition (Unknown: not reconciled yet, or suspended before the first sync).",
			Queries: []Query{{Legend: "{{status}}",
				Expr: `sum by (status) (max by (tenant, status, reason) (sim_operator_simintegrations_by_condition{` + sel + `, condition="Ready"}))`}}},
		{Title: "Stalled and Reconciling, by reason", Width: 12, Stack: true, Main: true, Unit: "short",
			Description: "SimIntegrations with Stalled=True or Reconciling=True, by reason. Stalled needs a human; Reconciling passes by itself.",
			Queries: []Query{{Legend: "{{condition}} {{reason}}",
				Expr: `sum by (condition, reason) (max by (tenant, condition, reason) (sim_operator_simintegrations_by_condition{` + sel + `, condition=~"Stalled|Reconciling", status="True"}))`}}},
		{Title: "Drift corrected and recreated", Width: 12, Main: true, Unit: "short",
			Description: "Changes made outside Kubernetes that were reverted, and remote objects deleted outside Kubernetes that were created again, per tenant.",
			Queries: []Query{
				{Legend: "drift corrected {{tenant}}", Expr: `sum by (tenant) (increase(sim_operator_drift_corrections_total{` + sel + `}[` + interval + `]))`},
				{Legend: "recreated {{tenant}}", Expr: `sum by (tenant) (increase(sim_operator_recreations_total{` + sel + `}[` + interval + `]))`},
			}},
		{Title: "Longest not Ready (not Stalled)", Width: 12, Main: true, Unit: "s",
			Description: "How long the tenant's longest not-Ready SimIntegration that is neither Stalled nor suspended has been so.",
			Queries: []Query{{Legend: "{{tenant}}",
				Expr: `time() - min by (tenant) (sim_operator_simintegrations_oldest_not_ready_timestamp_seconds{` + sel + `})`}}},
	}},
	{Title: "Tenants", Panels: []Panel{
		{Title: "Snapshot age and poll interval", Width: 8, Main: true, Unit: "s",
			Description: "Time since each tenant's remote objects were last listed; it should stay below about 1.2 × the poll interval.",
			Queries: []Query{
				{Legend: "age {{tenant}}", Expr: `max by (tenant) (sim_operator_tenant_snapshot_age_seconds{` + sel + `})`},
				{Legend: "poll interval {{tenant}}", Expr: `max by (tenant) (sim_operator_tenant_poll_interval_seconds{` + sel + `})`},
			}},
		{Title: "List duration", Width: 8, Unit: "s",
			Queries: []Query{{Legend: "{{tenant}}", Expr: `max by (tenant) (sim_operator_tenant_snapshot_list_duration_seconds{` + sel + `})`}}},
		{Title: "Remote objects", Width: 8, Unit: "short",
			Queries: []Query{{Legend: "{{tenant}}", Expr: `max by (tenant) (sim_operator_tenant_snapshot_objects{` + sel + `})`}}},
		{Title: "Rate budget in use", Width: 8, Main: true, Unit: "percentunit",
			Description: "Requests sent in the current window of the tenant's rate budget, as a share of its limit.",
			Queries: []Query{{Legend: "{{tenant}}",
				Expr: `max by (tenant) (sim_operator_tenant_budget_requests_in_use{` + sel + `}) / max by (tenant) (sim_operator_tenant_budget_requests_limit{` + sel + `} > 0)`}}},
		{Title: "Rate limit", Width: 8, Unit: "short",
			Description: "The tenant's rate budget: requests allowed per period (the strictest of the tenants sharing it).",
			Queries: []Query{
				{Legend: "requests {{tenant}}", Expr: `max by (tenant) (sim_operator_tenant_budget_requests_limit{` + sel + `})`},
				{Legend: "period (s) {{tenant}}", Expr: `max by (tenant) (sim_operator_tenant_budget_period_seconds{` + sel + `})`},
			}},
		{Title: "429s and back-off", Width: 8, Main: true, Unit: "s",
			Description: "How long each tenant's budget stays closed after a 429, and the 429s received.",
			Queries: []Query{
				{Legend: "back-off {{tenant}}", Expr: `max by (tenant) (sim_operator_tenant_backoff_seconds{` + sel + `})`},
				{Legend: "429s {{tenant}}", Expr: `max by (tenant) (increase(sim_operator_tenant_rate_limited_total{` + sel + `}[` + interval + `]))`},
			}},
		{Title: "Credentials", Width: 8, Unit: "short",
			Description: "Failed token requests, and tenants whose credentials IdentityNow refuses (Stalled: Unauthorized).",
			Queries: []Query{
				{Legend: "token failures {{tenant}}", Expr: `max by (tenant) (increase(sim_operator_tenant_token_failures_total{` + sel + `}[` + interval + `]))`},
				{Legend: "refused {{tenant}}", Expr: `max by (tenant) (sim_operator_tenant_condition{` + sel + `, condition="Stalled", status="True", reason="Unauthorized"})`},
			}},
		{Title: "Time since the last token", Width: 8, Unit: "s",
			Queries: []Query{{Legend: "{{tenant}}", Expr: `time() - max by (tenant) (sim_operator_tenant_last_token_success_timestamp_seconds{` + sel + `})`}}},
	}},
	{Title: "IdentityNow API", Panels: []Panel{
		{Title: "Requests by operation and code", Width: 12, Main: true, Unit: "reqps", Stack: true,
			Queries: []Query{{Legend: "{{operation}} {{code}}",
				Expr: `sum by (operation, code) (rate(sim_operator_identitynow_requests_total[` + interval + `]))`}}},
		{Title: "Request duration (p90)", Width: 12, Unit: "s",
			Queries: []Query{{Legend: "{{operation}}",
				Expr: `histogram_quantile(0.9, sum by (le, operation) (rate(sim_operator_identitynow_request_duration_seconds_bucket[` + interval + `])))`}}},
		{Title: "Wait for the rate budget (p90)", Width: 12, Unit: "s",
			Queries: []Query{{Legend: "p90",
				Expr: `histogram_quantile(0.9, sum by (le) (rate(sim_operator_identitynow_budget_wait_seconds_bucket[` + interval + `])))`}}},
		{Title: "Token requests by result", Width: 12, Unit: "reqps",
			Queries: []Query{{Legend: "{{result}}",
				Expr: `sum by (result) (rate(sim_operator_identitynow_token_requests_total[` + interval + `]))`}}},
	}},
	{Title: "Manager", Panels: []Panel{
		{Title: "Reconciles by controller and result", Width: 12, Unit: "ops", Stack: true,
			Queries: []Query{{Legend: "{{controller}} {{result}}",
				Expr: `sum by (controller, result) (rate(controller_runtime_reconcile_total[` + interval + `]))`}}},
		{Title: "Work queue depth", Width: 12, Unit: "short",
			Queries: []Query{{Legend: "{{name}}", Expr: `sum by (name) (workqueue_depth{name=~"simintegration|tenant|clustertenant"})`}}},
	}},
}

// ExpandGrafanaVariables replaces the dashboard's variables with values PromQL accepts, as Grafana
// does before it sends a query: every tenant, and rateInterval for the rate intervals.
func ExpandGrafanaVariables(expr string, rateInterval time.Duration) string {
	d := model.Duration(rateInterval).String() // 5m, 20s
	return strings.NewReplacer(`"$tenant"`, `".*"`, "$__rate_interval", d, "$__interval", d).Replace(expr)
}

func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: new("prometheus"), Uid: new("${datasource}")}
}

func target(q Query, i int) *prometheus.DataqueryBuilder {
	b := prometheus.NewDataqueryBuilder().Expr(q.Expr).RefId(string(rune('A' + i))).Datasource(datasource())
	if q.Legend != "" {
		b = b.LegendFormat(q.Legend)
	}
	return b
}

func panelBuilder(p Panel, id uint32) cog.Builder[dashboard.Panel] {
	if p.Stat {
		b := stat.NewPanelBuilder().Id(id).Title(p.Title).Unit(p.Unit).Span(p.Width).Height(4).Datasource(datasource()).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
			ColorMode(common.BigValueColorModeNone).GraphMode(common.BigValueGraphModeArea)
		if p.Description != "" {
			b = b.Description(p.Description)
		}
		for i, q := range p.Queries {
			b = b.WithTarget(target(q, i))
		}
		return b
	}
	b := timeseries.NewPanelBuilder().Id(id).Title(p.Title).Unit(p.Unit).Span(p.Width).Height(8).Datasource(datasource()).
		Min(0).FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom))
	if p.Stack {
		b = b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
	}
	if p.Description != "" {
		b = b.Description(p.Description)
	}
	for i, q := range p.Queries {
		b = b.WithTarget(target(q, i))
	}
	return b
}

// Dashboard builds the dashboard with the Grafana Foundation SDK. It is the classic dashboard JSON
// (schema v1), which every Grafana since 8 imports and the dashboard sidecar loads; the SDK marks it
// deprecated in favour of the v2 schema of Grafana 12.
//
//nolint:staticcheck // see above
func Dashboard() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder("sim-operator").
		Uid(DashboardUID).
		Description("SimIntegrations by tenant, condition and reason; each tenant's snapshot, rate budget and "+
			"credentials; the IdentityNow API; the manager. Generated by test/observability (docs/operations.md).").
		Tags([]string{"sim-operator", "identitynow"}).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("tenant").Label("Tenant").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: new("label_values(sim_operator_simintegrations, tenant)")}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Multi(true).IncludeAll(true).AllValue(".*").
			Sort(dashboard.VariableSortAlphabeticalAsc))
	id := uint32(0)
	for _, row := range Rows {
		id++
		b = b.WithRow(dashboard.NewRowBuilder(row.Title).Id(id))
		for _, p := range row.Panels {
			id++
			b = b.WithPanel(panelBuilder(p, id))
		}
	}
	return b.Build()
}

// DashboardJSON is the dashboard as committed: indented JSON ending in a newline.
func DashboardJSON() ([]byte, error) {
	d, err := Dashboard()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
