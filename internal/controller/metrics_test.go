package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
	"github.com/sim-operator/sim-operator/internal/tenant/remotefake"
)

var metricsEpoch = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func metricsScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := simv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// gatherState collects c through a pedantic registry (which checks descriptors and label
// consistency) and returns every sample as `name{l="v",...}` → value.
func gatherState(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[seriesName(mf.GetName(), m)] = sampleValue(m)
		}
	}
	return out
}

func seriesName(name string, m *dto.Metric) string {
	var labels []string
	for _, l := range m.GetLabel() {
		labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	slices.Sort(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}

func condition(typ string, status metav1.ConditionStatus, reason string, at time.Time) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, LastTransitionTime: metav1.NewTime(at)}
}

// conditionsFor returns Ready, Reconciling and Stalled as the reconciler writes them for o.
func conditionsFor(o outcome, at time.Time) []metav1.Condition {
	var conds []metav1.Condition
	setConditions(&conds, 1, o)
	for i := range conds {
		conds[i].LastTransitionTime = metav1.NewTime(at)
	}
	return conds
}

func simIn(ns, name string, ref simv1alpha1.TenantReference, conds []metav1.Condition, mutate ...func(*simv1alpha1.SimIntegration)) *simv1alpha1.SimIntegration {
	s := &simv1alpha1.SimIntegration{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(metricsEpoch.Add(-time.Hour))},
		Spec:       simv1alpha1.SimIntegrationSpec{TenantRef: ref},
		Status:     simv1alpha1.SimIntegrationStatus{Conditions: conds},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

var (
	sharedRef = simv1alpha1.TenantReference{Kind: simv1alpha1.TenantKindClusterTenant, Name: "shared"}
	acmeRef   = simv1alpha1.TenantReference{Kind: simv1alpha1.TenantKindTenant, Name: "acme"}
)

func sharedClusterTenant() *simv1alpha1.ClusterTenant {
	return &simv1alpha1.ClusterTenant{
		ObjectMeta: metav1.ObjectMeta{Name: "shared"},
		Status: simv1alpha1.TenantStatus{Conditions: []metav1.Condition{
			condition(simv1alpha1.ConditionReady, metav1.ConditionTrue, simv1alpha1.ReasonTokenObtained, metricsEpoch),
			condition(simv1alpha1.ConditionStalled, metav1.ConditionFalse, simv1alpha1.ReasonTokenObtained, metricsEpoch),
		}},
	}
}

func stateOver(t *testing.T, registry *tenant.Registry, objs ...client.Object) *stateCollector {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(metricsScheme(t)).WithObjects(objs...).Build()
	return &stateCollector{reader: c, registry: registry, clock: func() time.Time { return metricsEpoch }}
}

func TestStateMetricsCountObjectsByTenantConditionAndReason(t *testing.T) {
	ten := metricsEpoch.Add(-10 * time.Minute)
	twenty := metricsEpoch.Add(-20 * time.Minute)
	objs := []client.Object{
		sharedClusterTenant(),
		&simv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: "iam", Name: "acme"}},
		simIn("iam", "a", sharedRef, conditionsFor(ready(simv1alpha1.ReasonSynced, "ok"), twenty)),
		simIn("team-b", "b", sharedRef, conditionsFor(ready(simv1alpha1.ReasonSynced, "ok"), twenty)),
		simIn("team-c", "c", sharedRef, conditionsFor(stalled(simv1alpha1.ReasonNameConflict, "x"), twenty)),
		simIn("team-c", "d", sharedRef, conditionsFor(progressing(simv1alpha1.ReasonRateLimited, "x"), ten),
			func(s *simv1alpha1.SimIntegration) {
				s.Status.PendingCreate = &simv1alpha1.PendingCreate{Name: "d"}
			}),
		simIn("iam", "observer", acmeRef, conditionsFor(ready(simv1alpha1.ReasonObserved, "differs"), twenty),
			func(s *simv1alpha1.SimIntegration) {
				s.Spec.ManagementPolicy = simv1alpha1.ManagementPolicyObserveOnly
				s.Status.Drift = []string{"/description"}
			}),
		simIn("iam", "paused", acmeRef, conditionsFor(outcome{outcomeSuspended, simv1alpha1.ReasonSuspended, "s"}, twenty),
			func(s *simv1alpha1.SimIntegration) { s.Spec.Suspend = true }),
		simIn("iam", "new", acmeRef, nil), // not reconciled yet
		simIn("team-x", "orphan", acmeRef, conditionsFor(stalled(simv1alpha1.ReasonTenantNotFound, "x"), twenty)),
	}
	got := gatherState(t, stateOver(t, nil, objs...))

	const shared, acme = `tenant="ClusterTenant/shared"`, `tenant="Tenant/iam/acme"`
	byCond := func(tenantLabel, cond, status, reason string) string {
		return fmt.Sprintf(`sim_operator_simintegrations_by_condition{condition=%q,reason=%q,status=%q,%s}`, cond, reason, status, tenantLabel)
	}
	want := map[string]float64{
		"sim_operator_simintegrations{" + shared + "}":                  4,
		"sim_operator_simintegrations{" + acme + "}":                    3,
		`sim_operator_simintegrations{tenant="missing"}`:                1,
		byCond(shared, "Ready", "True", "Synced"):                       2,
		byCond(shared, "Stalled", "True", "NameConflict"):               1,
		byCond(shared, "Ready", "False", "NameConflict"):                1,
		byCond(shared, "Reconciling", "True", "RateLimited"):            1,
		byCond(shared, "Ready", "Unknown", "RateLimited"):               1,
		byCond(acme, "Ready", "True", "Observed"):                       1,
		byCond(acme, "Ready", "Unknown", ""):                            1,
		byCond(acme, "Ready", "Unknown", "Suspended"):                   1,
		byCond(acme, "Reconciling", "False", "Suspended"):               1,
		byCond(`tenant="missing"`, "Stalled", "True", "TenantNotFound"): 1,
		"sim_operator_simintegrations_pending_create{" + shared + "}":   1,
		"sim_operator_simintegrations_observe_only{" + acme + "}":       1,
		"sim_operator_simintegrations_drifted{" + acme + "}":            1,
		"sim_operator_simintegrations_suspended{" + acme + "}":          1,
		"sim_operator_simintegrations_deleting{" + acme + "}":           0,
		// the oldest not-Ready object of each tenant that is not Stalled: d since ten minutes ago (c is
		// Stalled); "new" since its creation ("paused" is suspended)
		"sim_operator_simintegrations_oldest_not_ready_timestamp_seconds{" + shared + "}":                      unixSeconds(ten),
		"sim_operator_simintegrations_oldest_not_ready_timestamp_seconds{" + acme + "}":                        unixSeconds(metricsEpoch.Add(-time.Hour)),
		`sim_operator_tenant_condition{condition="Ready",reason="TokenObtained",status="True",` + shared + "}": 1,
		"sim_operator_recreations_total{" + acme + "}":                                                         0,
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present: %t), want %v", series, g, ok, v)
		}
	}
	for series := range got {
		if strings.Contains(series, "sim_operator_simintegrations_by_condition") && strings.Contains(series, `tenant="missing"`) &&
			!strings.Contains(series, "TenantNotFound") {
			t.Errorf("unexpected %s", series)
		}
	}
}

// TestStateMetricsCardinalityIsBoundedByTenants: a thousand SimIntegrations in 500 namespaces on one
// ClusterTenant, and as many referring to tenants that do not exist, make as many series as ten.
func TestStateMetricsCardinalityIsBoundedByTenants(t *testing.T) {
	reasons := []outcome{
		ready(simv1alpha1.ReasonSynced, "ok"), stalled(simv1alpha1.ReasonNameConflict, "x"),
		progressing(simv1alpha1.ReasonRetrying, "x"), stalled(simv1alpha1.ReasonSecretNotFound, "x"),
	}
	fleet := func(namespaces int) []client.Object {
		objs := []client.Object{sharedClusterTenant()}
		for i := range namespaces {
			ns := fmt.Sprintf("team-%03d", i)
			for j := range 2 {
				objs = append(objs, simIn(ns, fmt.Sprintf("sim-%d", j), sharedRef,
					conditionsFor(reasons[(i+j)%len(reasons)], metricsEpoch.Add(-time.Duration(i)*time.Minute)),
					func(s *simv1alpha1.SimIntegration) {
						s.Spec.Suspend = i%7 == 0
						if i%5 == 0 {
							s.Status.Drift = []string{"/description"}
						}
					}))
			}
			// each namespace refers to a Tenant of its own that does not exist
			objs = append(objs, simIn(ns, "lost", simv1alpha1.TenantReference{Kind: simv1alpha1.TenantKindTenant, Name: "t-" + ns},
				conditionsFor(stalled(simv1alpha1.ReasonTenantNotFound, "x"), metricsEpoch)))
		}
		return objs
	}
	for i := range 5 {
		countDriftCorrected(simIn(fmt.Sprintf("team-%03d", i), "sim-0", sharedRef, nil))
		countDriftCorrected(simIn("team-x", fmt.Sprintf("lost-%d", i), simv1alpha1.TenantReference{Name: fmt.Sprintf("t-%d", i)}, nil))
	}
	small := gatherState(t, stateOver(t, nil, fleet(5)...))
	large := gatherState(t, stateOver(t, nil, fleet(500)...))
	if len(small) != len(large) {
		var extra []string
		for _, k := range keys(large) {
			if _, ok := small[k]; !ok {
				extra = append(extra, k)
			}
		}
		t.Errorf("%d series for 5 namespaces, %d for 500: the labels grow with the objects\nonly with 500: %q",
			len(small), len(large), extra)
	}
	if got := large[`sim_operator_simintegrations{tenant="ClusterTenant/shared"}`]; got != 1000 {
		t.Errorf("ClusterTenant/shared counts %v SimIntegrations, want 1000", got)
	}
	if got := large[`sim_operator_simintegrations{tenant="missing"}`]; got != 500 {
		t.Errorf("missing tenants count %v SimIntegrations, want 500", got)
	}
	if got := large[`sim_operator_drift_corrections_total{tenant="ClusterTenant/shared"}`]; got != 5 {
		t.Errorf("drift corrections of ClusterTenant/shared = %v, want 5", got)
	}
	for series := range large {
		if strings.HasPrefix(series, "sim_operator_drift_corrections_total") && !strings.Contains(series, "ClusterTenant/shared") {
			t.Errorf("%s: a counter for a tenant that does not exist", series)
		}
	}
}

func keys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// statsRemote is a remote that reports token stats as *identitynow.Client does.
type statsRemote struct {
	*remotefake.Remote
	tokens identitynow.TokenStats
}

func (r statsRemote) TokenStats() identitynow.TokenStats { return r.tokens }

func TestStateMetricsReportTheRegistryPerTenant(t *testing.T) {
	lastToken := metricsEpoch.Add(-3 * time.Minute)
	listed := make(chan struct{}, 1)
	remote := statsRemote{Remote: &remotefake.Remote{ListEachFunc: func(_ context.Context, each func(identitynow.Integration)) error {
		each(identitynow.Integration{ID: "1", Name: "one"})
		each(identitynow.Integration{ID: "2", Name: "two"})
		listed <- struct{}{}
		return nil
	}}, tokens: identitynow.TokenStats{Failures: 2, LastSuccess: lastToken}}
	now := metricsEpoch.Add(-time.Minute)
	registry := tenant.NewRegistry(tenant.RegistryOptions{
		NewRemote: func(identitynow.Config) (tenant.Remote, error) { return remote, nil },
		Clock:     func() time.Time { return now },
	})
	spec := simv1alpha1.TenantSpec{
		BaseURL: "https://acme.api.identitynow.com", APIRelease: simv1alpha1.APIReleaseV2024,
		PollInterval: metav1.Duration{Duration: 10 * time.Minute},
		RateLimit:    simv1alpha1.RateLimit{Requests: 100, Period: metav1.Duration{Duration: 10 * time.Second}},
	}
	key := tenant.Key(simv1alpha1.TenantKindClusterTenant, "", "shared")
	conn, err := registry.Connect(key, spec, tenant.Credentials{ClientID: "id", ClientSecret: "secret-value"})
	if err != nil {
		t.Fatal(err)
	}
	if conn, err = registry.Prove(key, conn); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Snapshot.Get(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	<-listed

	got := gatherState(t, stateOver(t, registry, sharedClusterTenant()))
	const l = `{tenant="ClusterTenant/shared"}`
	want := map[string]float64{
		"sim_operator_tenant_snapshot_age_seconds" + l:                 60,
		"sim_operator_tenant_snapshot_list_duration_seconds" + l:       0,
		"sim_operator_tenant_snapshot_objects" + l:                     2,
		"sim_operator_tenant_poll_interval_seconds" + l:                600,
		"sim_operator_tenant_budget_requests_limit" + l:                100,
		"sim_operator_tenant_budget_period_seconds" + l:                10,
		"sim_operator_tenant_budget_requests_in_use" + l:               0,
		"sim_operator_tenant_backoff_seconds" + l:                      0,
		"sim_operator_tenant_rate_limited_total" + l:                   0,
		"sim_operator_tenant_token_failures_total" + l:                 2,
		"sim_operator_tenant_last_token_success_timestamp_seconds" + l: unixSeconds(lastToken),
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present: %t), want %v", series, g, ok, v)
		}
	}
	for series := range got {
		if strings.Contains(series, "secret-value") || strings.Contains(series, `"id"`) || strings.Contains(series, "identitynow.com") {
			t.Errorf("%s names the credentials or the URL", series)
		}
	}
}

func TestStateMetricsSkipAnUnreadableCache(t *testing.T) {
	// a scheme without the kinds: every List fails, as an unsynced cache does
	c := &stateCollector{reader: fake.NewClientBuilder().WithScheme(runtime.NewScheme()).Build()}
	if got := gatherState(t, c); len(got) != 0 {
		t.Errorf("want no state series when the cache cannot be read, got %v", keys(got))
	}
}

func TestTenantLabel(t *testing.T) {
	for _, tc := range []struct {
		obj  *simv1alpha1.SimIntegration
		want string
	}{
		{simIn("iam", "a", acmeRef, nil), "Tenant/iam/acme"},
		{simIn("iam", "a", simv1alpha1.TenantReference{Name: "acme"}, nil), "Tenant/iam/acme"},
		{simIn("iam", "a", sharedRef, nil), "ClusterTenant/shared"},
	} {
		if got := refLabel(tc.obj); got != tc.want {
			t.Errorf("refLabel(%v) = %q, want %q", tc.obj.Spec.TenantRef, got, tc.want)
		}
	}
}

// However often the endpoint is scraped, the collector passes over the cache once per c.every and
// answers the scrapes in between with the samples of that pass.
func TestStateMetricsPassOverTheCacheOncePerInterval(t *testing.T) {
	lists := 0
	cl := fake.NewClientBuilder().WithScheme(metricsScheme(t)).
		WithObjects(sharedClusterTenant(), simIn("iam", "a", sharedRef, nil)).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*simv1alpha1.SimIntegrationList); ok {
				lists++
			}
			return c.List(ctx, list, opts...)
		}}).Build()
	c := &stateCollector{reader: cl, every: time.Hour}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	total := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "sim_operator_simintegrations" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no sim_operator_simintegrations")
		return 0
	}
	for range 10 {
		if got := total(); got != 1 {
			t.Fatalf("simintegrations = %v, want 1", got)
		}
	}
	if err := cl.Create(context.Background(), simIn("iam", "b", sharedRef, nil)); err != nil {
		t.Fatal(err)
	}
	if got := total(); got != 1 || lists != 1 {
		t.Fatalf("within the interval: simintegrations = %v after %d lists, want the last pass's 1 after 1 list", got, lists)
	}
	c.every = 0
	if got := total(); got != 2 || lists != 2 {
		t.Fatalf("after the interval: simintegrations = %v after %d lists, want 2 after 2", got, lists)
	}
}
