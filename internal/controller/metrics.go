package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// State metrics: counted at scrape time from the manager's informer cache and the tenant registry, so
// that they cost nothing between scrapes and can never disagree with the objects. Labels are bounded
// by the number of Tenants and ClusterTenants, never by SimIntegrations: tenant names a tenant object
// ("Tenant/<namespace>/<name>" or "ClusterTenant/<name>"), condition and status are fixed words,
// reason is one of the operator's own reason constants. Nothing here carries a remote id, a URL, a
// client id or a secret.

// missingTenant is the tenant label of SimIntegrations whose tenant does not exist: however many
// different names they refer to, they share one series.
const missingTenant = "missing"

// collectTimeout bounds a scrape's reads of the cache (which wait for its first sync).
const collectTimeout = 5 * time.Second

var (
	labelsTenant     = []string{"tenant"}
	labelsCondition  = []string{"tenant", "condition", "status", "reason"}
	descSims         = newDesc("sim_operator_simintegrations", "SimIntegrations that refer to the tenant.", labelsTenant)
	descSimCondition = newDesc("sim_operator_simintegrations_by_condition",
		"SimIntegrations by condition (Ready, Reconciling, Stalled), status and reason; objects not reconciled yet count as Ready Unknown with an empty reason.",
		labelsCondition)
	descSuspended      = newDesc("sim_operator_simintegrations_suspended", "SimIntegrations with spec.suspend: true.", labelsTenant)
	descObserveOnly    = newDesc("sim_operator_simintegrations_observe_only", "SimIntegrations with managementPolicy: ObserveOnly.", labelsTenant)
	descDrifted        = newDesc("sim_operator_simintegrations_drifted", "SimIntegrations whose status.drift lists differences (ObserveOnly, or a suspended tenant).", labelsTenant)
	descPendingCreate  = newDesc("sim_operator_simintegrations_pending_create", "SimIntegrations with a create marker (status.pendingCreate): a create sent or about to be sent.", labelsTenant)
	descDeleting       = newDesc("sim_operator_simintegrations_deleting", "SimIntegrations being deleted (held by the finalizer).", labelsTenant)
	descOldestNotReady = newDesc("sim_operator_simintegrations_oldest_not_ready_timestamp_seconds",
		"When the tenant's longest not-Ready SimIntegration that is not Stalled, suspended or being deleted became not Ready (Unix time). Absent when there is none.",
		labelsTenant)

	descTenantCondition = newDesc("sim_operator_tenant_condition",
		"1 for each condition of the Tenant or ClusterTenant, with its status and reason.", labelsCondition)
	descSnapshotAge = newDesc("sim_operator_tenant_snapshot_age_seconds",
		"Time since the list behind the tenant's remote snapshot was sent. Absent until the first list.", labelsTenant)
	descListDuration = newDesc("sim_operator_tenant_snapshot_list_duration_seconds",
		"How long the tenant's last successful list of remote objects took.", labelsTenant)
	descSnapshotObjects = newDesc("sim_operator_tenant_snapshot_objects", "Remote objects in the tenant's snapshot.", labelsTenant)
	descPollInterval    = newDesc("sim_operator_tenant_poll_interval_seconds",
		"The poll interval the tenant's snapshot lists at (the shortest of the tenants that share it).", labelsTenant)
	descBudgetInUse = newDesc("sim_operator_tenant_budget_requests_in_use",
		"Requests sent within the current window of the tenant's rate budget (shared by tenants with the same credentials and release).", labelsTenant)
	descBudgetLimit = newDesc("sim_operator_tenant_budget_requests_limit",
		"Requests the tenant's rate budget allows per period (0: no limit).", labelsTenant)
	descBudgetPeriod = newDesc("sim_operator_tenant_budget_period_seconds", "The period of the tenant's rate budget.", labelsTenant)
	descRateLimited  = newDesc("sim_operator_tenant_rate_limited_total",
		"429 responses that closed the tenant's rate budget (counts from zero when the budget is rebuilt).", labelsTenant)
	descBackoff = newDesc("sim_operator_tenant_backoff_seconds",
		"How long the tenant's rate budget stays closed after a 429 (Retry-After); 0 when open.", labelsTenant)
	descTokenFailures = newDesc("sim_operator_tenant_token_failures_total",
		"Token requests of the tenant's client that failed, refused or unanswered (counts from zero when the client is rebuilt).", labelsTenant)
	descLastToken = newDesc("sim_operator_tenant_last_token_success_timestamp_seconds",
		"When the tenant's client last obtained a token (Unix time). Absent until one was.", labelsTenant)

	descDriftCorrections = newDesc("sim_operator_drift_corrections_total",
		"Changes made outside Kubernetes that the operator reverted (event DriftCorrected).", labelsTenant)
	descRecreations = newDesc("sim_operator_recreations_total",
		"Remote integrations deleted outside Kubernetes that the operator created again (event Recreated).", labelsTenant)
)

// stateMetricNames are the names of the metrics below, in order.
var stateMetricNames []string

func newDesc(name, help string, labels []string) *prometheus.Desc {
	stateMetricNames = append(stateMetricNames, name)
	return prometheus.NewDesc(name, help, labels, nil)
}

// StateMetricNames returns the names of the state metrics the manager exports (for the tests of the
// dashboard and the alerts).
func StateMetricNames() []string { return append([]string(nil), stateMetricNames...) }

// tenantLabel is the tenant label value of a tenant object.
func tenantLabel(kind simv1alpha1.TenantKind, namespace, name string) string {
	if kind == simv1alpha1.TenantKindClusterTenant {
		return string(kind) + "/" + name
	}
	return string(simv1alpha1.TenantKindTenant) + "/" + namespace + "/" + name
}

// refLabel is the tenant label of the tenant a SimIntegration refers to, whether it exists or not.
func refLabel(obj *simv1alpha1.SimIntegration) string {
	return tenantLabel(obj.Spec.TenantRef.Kind, obj.Namespace, obj.Spec.TenantRef.Name)
}

// tenantCounters are the drift and recreation counts by tenant label, kept by the process. The
// collector reports (and keeps) only those of tenants that exist, so deleted tenants leave no series.
type tenantCounters struct {
	mu        sync.Mutex
	drift     map[string]uint64
	recreated map[string]uint64
}

var counters = &tenantCounters{drift: map[string]uint64{}, recreated: map[string]uint64{}}

// countDriftCorrected counts a DriftCorrected event.
func countDriftCorrected(obj *simv1alpha1.SimIntegration) {
	counters.inc(counters.drift, refLabel(obj))
}

// countRecreated counts a Recreated event.
func countRecreated(obj *simv1alpha1.SimIntegration) { counters.inc(counters.recreated, refLabel(obj)) }

func (c *tenantCounters) inc(m map[string]uint64, label string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m[label]++
}

// snapshot returns the counts of the tenants in keep and forgets the others.
func (c *tenantCounters) snapshot(keep map[string]bool) (drift, recreated map[string]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	copyKept := func(m map[string]uint64) map[string]uint64 {
		out := make(map[string]uint64, len(m))
		for label, n := range m {
			if !keep[label] {
				delete(m, label)
				continue
			}
			out[label] = n
		}
		return out
	}
	return copyKept(c.drift), copyKept(c.recreated)
}

// stateCollector reports the state metrics at scrape time.
type stateCollector struct {
	// reader lists the cached objects (the manager's cache).
	reader client.Reader
	// registry, if set, gives the per-tenant values of connections, snapshots and budgets.
	registry *tenant.Registry
	// clock defaults to time.Now.
	clock func() time.Time
	// every is the shortest time between two passes over the cache; a scrape within it gets the
	// samples of the last pass (0: every scrape passes).
	every time.Duration

	mu     sync.Mutex
	last   []prometheus.Metric
	lastAt time.Time
}

// collectEvery bounds what scrapes cost the manager: one pass over the cached objects per 5 s,
// however often and by however many scrapers the endpoint is read (a pass over 10,000 objects
// allocates about 5 MB). The state metrics are then up to 5 s old.
const collectEvery = 5 * time.Second

var allDescs = []*prometheus.Desc{
	descSims, descSimCondition, descSuspended, descObserveOnly, descDrifted, descPendingCreate, descDeleting,
	descOldestNotReady, descTenantCondition, descSnapshotAge, descListDuration, descSnapshotObjects,
	descPollInterval, descBudgetInUse, descBudgetLimit, descBudgetPeriod, descRateLimited, descBackoff,
	descTokenFailures, descLastToken, descDriftCorrections, descRecreations,
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// simCounts is what the collector counts for one tenant label.
type simCounts struct {
	total, suspended, observeOnly, drifted, pendingCreate, deleting int
	conditions                                                      map[conditionKey]int
	oldestNotReady                                                  time.Time
}

type conditionKey struct{ condition, status, reason string }

// Collect implements prometheus.Collector: it sends the samples of the last pass over the cache,
// made anew when it is older than c.every. Concurrent scrapes wait for one pass.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || time.Since(c.lastAt) >= c.every {
		c.last, c.lastAt = c.pass(), time.Now()
	}
	for _, m := range c.last {
		ch <- m
	}
}

// pass computes the state metrics from the cache. A cache that cannot be read (not synced within
// collectTimeout) leaves them out rather than failing the scrape, and is read again at the next one.
func (c *stateCollector) pass() []prometheus.Metric {
	ch := make(chan prometheus.Metric, 64)
	out := make(chan []prometheus.Metric)
	go func() {
		var ms []prometheus.Metric
		for m := range ch {
			ms = append(ms, m)
		}
		out <- ms
	}()
	c.collect(ch)
	close(ch)
	return <-out
}

func (c *stateCollector) collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	now := time.Now()
	if c.clock != nil {
		now = c.clock()
	}
	tenants, err := c.tenants(ctx)
	if err != nil {
		return
	}
	sims := &simv1alpha1.SimIntegrationList{}
	if err := c.reader.List(ctx, sims, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	counts := map[string]*simCounts{}
	for i := range sims.Items {
		obj := &sims.Items[i]
		label := refLabel(obj)
		if _, ok := tenants[label]; !ok {
			label = missingTenant
		}
		sc := counts[label]
		if sc == nil {
			sc = &simCounts{conditions: map[conditionKey]int{}}
			counts[label] = sc
		}
		sc.add(obj)
	}
	for label, sc := range counts {
		sc.collect(ch, label)
	}

	var stats map[string]tenant.Stats
	if c.registry != nil {
		stats = c.registry.Stats()
	}
	keep := make(map[string]bool, len(tenants))
	for label, t := range tenants {
		keep[label] = true
		for _, cond := range t.GetTenantStatus().Conditions {
			gauge(ch, descTenantCondition, 1, label, cond.Type, string(cond.Status), cond.Reason)
		}
		if st, ok := stats[tenant.KeyOf(t)]; ok {
			collectTenantStats(ch, label, st, now)
		}
	}
	// Every existing tenant has both counters, from 0: rate() and increase() then see the first event.
	drift, recreated := counters.snapshot(keep)
	for label := range tenants {
		ch <- prometheus.MustNewConstMetric(descDriftCorrections, prometheus.CounterValue, float64(drift[label]), label)
		ch <- prometheus.MustNewConstMetric(descRecreations, prometheus.CounterValue, float64(recreated[label]), label)
	}
}

// tenants returns the cached Tenants and ClusterTenants by tenant label.
func (c *stateCollector) tenants(ctx context.Context) (map[string]simv1alpha1.TenantObject, error) {
	out := map[string]simv1alpha1.TenantObject{}
	ts := &simv1alpha1.TenantList{}
	if err := c.reader.List(ctx, ts, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	for i := range ts.Items {
		t := &ts.Items[i]
		out[tenantLabel(t.GetTenantKind(), t.Namespace, t.Name)] = t
	}
	cts := &simv1alpha1.ClusterTenantList{}
	if err := c.reader.List(ctx, cts, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	for i := range cts.Items {
		t := &cts.Items[i]
		out[tenantLabel(t.GetTenantKind(), "", t.Name)] = t
	}
	return out, nil
}

func (sc *simCounts) add(obj *simv1alpha1.SimIntegration) {
	sc.total++
	deleting := !obj.DeletionTimestamp.IsZero()
	count := func(on bool, n *int) {
		if on {
			*n++
		}
	}
	count(obj.Spec.Suspend, &sc.suspended)
	count(obj.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly, &sc.observeOnly)
	count(len(obj.Status.Drift) > 0, &sc.drifted)
	count(obj.Status.PendingCreate != nil, &sc.pendingCreate)
	count(deleting, &sc.deleting)

	var ready *metav1.Condition
	stalled := false
	for i := range obj.Status.Conditions {
		cond := &obj.Status.Conditions[i]
		switch cond.Type {
		case simv1alpha1.ConditionReady:
			ready = cond
		case simv1alpha1.ConditionStalled:
			stalled = cond.Status == metav1.ConditionTrue
		case simv1alpha1.ConditionReconciling:
		default:
			continue
		}
		sc.conditions[conditionKey{cond.Type, string(cond.Status), cond.Reason}]++
	}
	since := obj.CreationTimestamp.Time
	if ready == nil {
		sc.conditions[conditionKey{simv1alpha1.ConditionReady, string(metav1.ConditionUnknown), ""}]++
	} else {
		since = ready.LastTransitionTime.Time
	}
	// Stalled objects have an alert of their own; suspended and deleted ones are not expected to be Ready.
	if (ready == nil || ready.Status != metav1.ConditionTrue) && !stalled && !obj.Spec.Suspend && !deleting &&
		(sc.oldestNotReady.IsZero() || since.Before(sc.oldestNotReady)) {
		sc.oldestNotReady = since
	}
}

func (sc *simCounts) collect(ch chan<- prometheus.Metric, label string) {
	gauge(ch, descSims, float64(sc.total), label)
	gauge(ch, descSuspended, float64(sc.suspended), label)
	gauge(ch, descObserveOnly, float64(sc.observeOnly), label)
	gauge(ch, descDrifted, float64(sc.drifted), label)
	gauge(ch, descPendingCreate, float64(sc.pendingCreate), label)
	gauge(ch, descDeleting, float64(sc.deleting), label)
	for k, n := range sc.conditions {
		gauge(ch, descSimCondition, float64(n), label, k.condition, k.status, k.reason)
	}
	if !sc.oldestNotReady.IsZero() {
		gauge(ch, descOldestNotReady, unixSeconds(sc.oldestNotReady), label)
	}
}

func collectTenantStats(ch chan<- prometheus.Metric, label string, st tenant.Stats, now time.Time) {
	if s := st.Snapshot; s != nil {
		gauge(ch, descPollInterval, s.Interval.Seconds(), label)
		if s.Listed {
			gauge(ch, descSnapshotAge, max(now.Sub(s.ListedAt), 0).Seconds(), label)
			gauge(ch, descListDuration, s.ListDuration.Seconds(), label)
			gauge(ch, descSnapshotObjects, float64(s.Objects), label)
		}
	}
	b := st.Budget
	gauge(ch, descBudgetInUse, float64(b.InUse), label)
	gauge(ch, descBudgetLimit, float64(b.Requests), label)
	gauge(ch, descBudgetPeriod, b.Period.Seconds(), label)
	gauge(ch, descBackoff, b.BlockedFor.Seconds(), label)
	ch <- prometheus.MustNewConstMetric(descRateLimited, prometheus.CounterValue, float64(b.RateLimited), label)
	if t := st.Token; t != nil {
		ch <- prometheus.MustNewConstMetric(descTokenFailures, prometheus.CounterValue, float64(t.Failures), label)
		if !t.LastSuccess.IsZero() {
			gauge(ch, descLastToken, unixSeconds(t.LastSuccess), label)
		}
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// registeredState is the collector Setup registered last; a second Setup in one process replaces it.
var (
	registeredMu    sync.Mutex
	registeredState *stateCollector
)

// registerStateMetrics registers the state collector over reader and registry with reg, replacing
// one registered by an earlier call.
func registerStateMetrics(reg prometheus.Registerer, reader client.Reader, registry *tenant.Registry) error {
	registeredMu.Lock()
	defer registeredMu.Unlock()
	if registeredState != nil {
		reg.Unregister(registeredState)
	}
	c := &stateCollector{reader: reader, registry: registry, every: collectEvery}
	if err := reg.Register(c); err != nil {
		if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok {
			return err
		}
	}
	registeredState = c
	return nil
}
