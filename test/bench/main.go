// Command bench measures sim-operator against a real kube-apiserver + etcd (envtest) and the fake
// IdentityNow API: bulk create under a rate limit, steady-state polling cost, edit latency, restart
// cost, manager memory and local reconcile throughput. Run it with `make bench` or
// `go run ./test/bench [--quick] [--n 1000] [--steady-n 10000]` from the repository root.
//
// The manager is the real binary (./cmd, built at start) in its own process, stopped with SIGTERM and
// started again for the restart phases; the bench reads its /metrics, heap profiles and /proc. The
// fake API and the bench's own client and watch share the bench process. A missed goal prints MISSED
// but does not fail the run; an infrastructure failure exits non-zero.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

const (
	clientSecret      = "bench-client-secret-0a1b2c"
	credentialsSecret = "api-client"
	info              = "(info)" // a figure without a goal
	unitCalls         = "calls"
	unitMiB           = "MiB"
)

type settings struct {
	N           int           `json:"n"`
	SteadyN     int           `json:"steadyN"`
	Limit       int           `json:"limitRequests"`
	Period      time.Duration `json:"limitPeriod"`
	Tiers       []string      `json:"limitTiers"`
	Escalation  string        `json:"limitEscalation"`
	Poll        time.Duration `json:"pollInterval"`
	Concurrency int           `json:"maxConcurrentReconciles"`
	Creators    int           `json:"creatorGoroutines"`
	Edits       int           `json:"edits"`
	CPUs        int           `json:"cpus"`
	GoVersion   string        `json:"goVersion"`
	Started     time.Time     `json:"started"`
	LoadAvg     string        `json:"loadAvgAtStart"`
	ManagerEnv  []string      `json:"managerEnv,omitempty"`
	Phases      []string      `json:"phases"`
	// FleetTenants × FleetSims objects in the fleet phase; FleetTokenTTL is its fakes' expires_in.
	FleetTenants  int           `json:"fleetTenants"`
	FleetSims     int           `json:"fleetSims"`
	FleetTokenTTL time.Duration `json:"fleetTokenTTL"`
}

type result struct {
	Measure string  `json:"measure"`
	N       int     `json:"n"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Goal    string  `json:"goal"`
	Met     bool    `json:"met"`
	Detail  string  `json:"detail"`
}

type bench struct {
	s      settings
	ctx    context.Context
	cfg    *rest.Config
	scheme *kruntime.Scheme
	limit  fake.RateLimit // the fake's rate limit outside the phases that lift it
	k8s    client.Client
	// watched counts Ready objects from a watch: listing 10,000 objects every few seconds would load
	// the apiserver that the manager is being measured against.
	watched cache.Cache
	remote  *fake.Server
	url     string
	results []result
	series  series
	mgr     *manager
	logDir  string
	binDir  string
	starts  int // manager processes started so far (names their logs and profiles)
}

// series are the bench's time series and curves, written to the results file for the charts.
type series struct {
	ColdPassRSS     []rssPoint `json:"coldPassRSS,omitempty"`
	FleetRestartRSS []rssPoint `json:"fleetRestartRSS,omitempty"`
	// BulkCreate is the accepted SIM calls per limit period during the bulk create, against Limit.
	BulkCreate       []int           `json:"bulkCreate,omitempty"`
	Limit            int             `json:"limit"`
	PeriodSeconds    float64         `json:"periodSeconds"`
	CallsPerInterval []callsPoint    `json:"callsPerInterval,omitempty"`
	FirstLists       []int           `json:"fleetFirstListsPerSecond,omitempty"`
	ListCost         []listCostPoint `json:"listCost,omitempty"`
}

// rssPoint is one sample of the manager's resident set.
type rssPoint struct {
	T          float64 `json:"t"`
	RSS        float64 `json:"rssMiB"`
	Reconciles float64 `json:"reconciles"`
}

// callsPoint is the SIM calls per tenant per poll interval in a steady state with N objects per tenant.
type callsPoint struct {
	N       int     `json:"n"`
	Tenants int     `json:"tenants"`
	Mean    float64 `json:"mean"`
	Max     float64 `json:"max"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: infrastructure failure:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		n        = flag.Int("n", 1000, "SimIntegrations for the bulk create, steady state, edit and restart phases")
		steadyN  = flag.Int("steady-n", 10000, "SimIntegrations on a second tenant for the throughput phase and the large steady state (0: skip)")
		quick    = flag.Bool("quick", false, "smoke run: n=100, steady-n=200, poll 10s")
		limit    = flag.Int("limit", 100, "fake (and Tenant) rate limit: requests per --period")
		period   = flag.Duration("period", 2*time.Second, "rate limit period (ISC documents 10s; scaled down)")
		poll     = flag.Duration("poll", 20*time.Second, "Tenant pollInterval (scaled down from the 1m default)")
		creators = flag.Int("creators", 8, "goroutines creating objects in the apiserver")
		workers  = flag.Int("workers", 4, "the manager's --max-concurrent-reconciles (4 is the default)")
		mgrEnv   = flag.String("manager-env", "", "comma-separated NAME=value pairs added to the manager's environment (e.g. GOMEMLIMIT=144MiB)")
		coldPass = flag.Bool("cold-pass", true, "finish by restarting the manager with every object in place: full-pass throughput, heap and peak RSS")
		fleetT   = flag.Int("fleet-tenants", 1000, "tenants in the fleet phase, each with its own client id and fake (0 skips the phase)")
		fleetS   = flag.Int("fleet-sims", 10, "SimIntegrations per tenant in the fleet phase")
		fleetTTL = flag.Duration("fleet-token-ttl", 60*time.Second, "token lifetime (expires_in) on the fleet's fakes (749s documented; scaled down)")
		only     = flag.String("only", "", "run only these phases, comma-separated: single (the one- and two-tenant phases and the cold pass), listcost, fleet")
		costN    = flag.String("list-cost-n", "10,100,1000,10000", "tenant sizes for the list-cost phase")
		charts   = flag.String("charts", filepath.Join("docs", "images", "bench"), "write PNG charts here with test/bench/plots (empty: none; --quick draws none unless set)")
		out      = flag.String("out", "bench-results.json", "JSON results file")
		prof     = flag.String("profile-dir", "", "write the bench's CPU profile, the manager's heap profiles and logs here (default: a temp dir, printed)")
	)
	flag.Parse()
	if *quick {
		*n, *steadyN, *poll, *fleetT = 100, 200, 10*time.Second, 100
		explicit := false
		flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "charts" })
		if !explicit {
			*charts = "" // a smoke run does not replace the charts of docs/benchmarks.md
		}
	}
	want, err := phasesToRun(*only, *fleetT)
	if err != nil {
		return err
	}
	sizes, err := listCostSizes(*costN)
	if err != nil {
		return err
	}
	b := &bench{s: settings{
		N: *n, SteadyN: *steadyN, Limit: *limit, Period: *period, Poll: *poll, Concurrency: *workers,
		Creators: *creators, Edits: 50, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Started: time.Now(),
		FleetTenants: *fleetT, FleetSims: *fleetS, FleetTokenTTL: *fleetTTL,
	}}
	b.series.Limit, b.series.PeriodSeconds = *limit, period.Seconds()
	for p := range want {
		b.s.Phases = append(b.s.Phases, p)
	}
	slices.Sort(b.s.Phases)
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.s.LoadAvg = strings.Join(strings.Fields(string(raw))[:3], " ")
	}
	tiers := []time.Duration{12 * time.Second, 60 * time.Second, 120 * time.Second, 240 * time.Second} // ISC's 60/300/600/1200 s ÷ 5
	// The per-request escalation (every request while blocked escalates) is the fake's stress mode,
	// stricter than SailPoint's documented backoff; the published figures were measured with it.
	b.limit = fake.RateLimit{Requests: *limit, Period: *period, Tiers: tiers, Escalation: fake.EscalationPerRequest}
	b.s.Escalation = string(b.limit.Escalation)
	for _, t := range tiers {
		b.s.Tiers = append(b.s.Tiers, t.String())
	}

	dir := *prof
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "sim-bench-"); err != nil {
			return err
		}
	}
	b.logDir = dir
	logFile, err := os.Create(filepath.Join(dir, "bench.log"))
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	logf.SetLogger(zap.New(zap.WriteTo(logFile)))
	cpuF, err := os.Create(filepath.Join(dir, "bench-cpu.pprof"))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(cpuF); err != nil {
		return err
	}
	defer func() { pprof.StopCPUProfile(); _ = cpuF.Close() }()
	fmt.Printf("profiles and manager logs: %s\n", dir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ctx = ctx

	// Infrastructure.
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		home, _ := os.UserHomeDir()
		_ = os.Setenv("KUBEBUILDER_ASSETS", filepath.Join(home, ".local/share/kubebuilder-envtest/k8s/1.37.2-linux-amd64"))
	}
	if b.s.ManagerEnv = nil; *mgrEnv != "" {
		b.s.ManagerEnv = strings.Split(*mgrEnv, ",")
	}
	binDir, err := os.MkdirTemp("", "sim-operator-bench-bin-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(binDir) }()
	b.binDir = binDir
	fmt.Printf("settings: N=%d steady-n=%d L=%d/%s tiers=%v poll=%s MaxConcurrentReconciles=%d cpus=%d manager env %v phases %v fleet %d×%d\n",
		b.s.N, b.s.SteadyN, b.s.Limit, b.s.Period, b.s.Tiers, b.s.Poll, b.s.Concurrency, b.s.CPUs, b.s.ManagerEnv, b.s.Phases, b.s.FleetTenants, b.s.FleetSims)

	if want["single"] {
		b.remote = fake.NewServer(fake.Options{
			Clients:   map[string]string{"bench-a": clientSecret, "bench-b": clientSecret},
			RateLimit: b.limit,
		})
		b.url = b.remote.Start()
		err := b.inCluster(func() error {
			if err := b.phases(); err != nil {
				return err
			}
			if *coldPass {
				return b.coldPass(b.s.N + max(b.s.SteadyN, 0))
			}
			return nil
		})
		b.remote.Close()
		if err != nil {
			return err
		}
	}
	if want["listcost"] {
		if err := b.listCost(sizes, 7); err != nil {
			return err
		}
		b.budgetShare()
	}
	if want["fleet"] && *fleetT > 0 {
		f := newFleet(*fleetT, *fleetS, *fleetTTL, b.limit)
		err := b.inCluster(func() error { return b.fleetPhase(f) })
		f.close()
		if err != nil {
			return err
		}
	}
	if err := b.write(*out); err != nil {
		return err
	}
	b.print()
	if *charts != "" {
		b.charts(*out, *charts)
	}
	return nil
}

// phasesToRun reads --only: the groups of phases to run (all by default; the fleet if it has tenants).
func phasesToRun(only string, fleetTenants int) (map[string]bool, error) {
	if only == "" {
		return map[string]bool{"single": true, "listcost": true, "fleet": fleetTenants > 0}, nil
	}
	want := map[string]bool{}
	for p := range strings.SplitSeq(only, ",") {
		switch p = strings.TrimSpace(p); p {
		case "single", "listcost", "fleet":
			want[p] = true
		default:
			return nil, fmt.Errorf("--only: unknown phase %q (single, listcost, fleet)", p)
		}
	}
	return want, nil
}

// listCostSizes reads --list-cost-n.
func listCostSizes(list string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(list, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("--list-cost-n: %q is not a positive number", f)
		}
		sizes = append(sizes, v)
	}
	return sizes, nil
}

// inCluster runs phases against a fresh envtest (kube-apiserver and etcd) and a fresh manager
// process, so that one group of phases does not carry the objects of another.
func (b *bench) inCluster(phases func() error) error {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start envtest (run from the repository root; KUBEBUILDER_ASSETS=%s): %w", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	cfg.QPS = -1 // as ctrl.GetConfig does for the binary: no client-side rate limit (server-side APF only)
	b.cfg = cfg
	b.scheme = kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(b.scheme); err != nil {
		return err
	}
	if err := simv1alpha1.AddToScheme(b.scheme); err != nil {
		return err
	}
	if b.k8s, err = client.New(cfg, client.Options{Scheme: b.scheme}); err != nil {
		return err
	}
	if b.watched, err = cache.New(cfg, cache.Options{Scheme: b.scheme, DefaultTransform: controller.CacheTransform()}); err != nil {
		return err
	}
	if _, err := b.watched.GetInformer(ctx, &simv1alpha1.SimIntegration{}); err != nil {
		return err
	}
	go func() { _ = b.watched.Start(ctx) }()
	if !b.watched.WaitForCacheSync(ctx) {
		return errors.New("the bench's SimIntegration watch did not sync")
	}
	if b.mgr, err = buildManager(env, b.binDir, b.logDir, b.s.Concurrency); err != nil {
		return err
	}
	b.mgr.env = b.s.ManagerEnv
	b.mgr.starts = b.starts
	if err := b.mgr.start(b.ctx); err != nil {
		return err
	}
	defer func() { b.mgr.stop(); b.starts = b.mgr.starts }()
	return phases()
}

func (b *bench) phases() error {
	// Phase 1: bulk create on tenant A under the rate limit.
	a, err := b.tenant("bench-a", "bench-a", int32(b.s.Limit), b.s.Period)
	if err != nil {
		return err
	}
	if err := b.bulkCreate(a); err != nil {
		return err
	}
	// Phase 2: steady state, nothing changed.
	if err := b.steady(a, b.s.N); err != nil {
		return err
	}
	// Phase 3: edit latency while the periodic pass runs.
	if err := b.editLatency(a); err != nil {
		return err
	}
	if err := b.memory(b.s.N, "tenant A synced"); err != nil {
		return err
	}
	// Phase 4: restart.
	if err := b.restart(a); err != nil {
		return err
	}
	if b.s.SteadyN <= 0 {
		return nil
	}
	// Phase 5: throughput with the limit lifted, on tenant B (its own client id), then its steady state.
	bt, err := b.tenant("bench-b", "bench-b", 100000, time.Second)
	if err != nil {
		return err
	}
	if err := b.throughput(bt); err != nil {
		return err
	}
	if err := b.steady(bt, b.s.SteadyN); err != nil {
		return err
	}
	return b.memory(b.s.N+b.s.SteadyN, fmt.Sprintf("tenants A (%d) + B (%d) synced; the process has run since the restart phase", b.s.N, b.s.SteadyN))
}

type tenantEnv struct{ ns, name, clientID string }

func (b *bench) tenant(ns, clientID string, req int32, period time.Duration) (tenantEnv, error) {
	t := tenantEnv{ns: ns, name: "acme", clientID: clientID}
	if err := b.k8s.Create(b.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return t, err
	}
	if err := b.k8s.Create(b.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: credentialsSecret},
		StringData: map[string]string{"clientId": clientID, "clientSecret": clientSecret},
	}); err != nil {
		return t, err
	}
	if err := b.k8s.Create(b.ctx, &simv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: t.name},
		Spec: simv1alpha1.TenantSpec{
			BaseURL:        b.url,
			CredentialsRef: simv1alpha1.CredentialsReference{Name: credentialsSecret},
			PollInterval:   metav1.Duration{Duration: b.s.Poll},
			RateLimit:      simv1alpha1.RateLimit{Requests: req, Period: metav1.Duration{Duration: period}},
		},
	}); err != nil {
		return t, err
	}
	return t, b.waitFor(60*time.Second, func() (bool, error) {
		cur := &simv1alpha1.Tenant{}
		if err := b.k8s.Get(b.ctx, client.ObjectKey{Namespace: ns, Name: t.name}, cur); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(cur.Status.Conditions, simv1alpha1.ConditionReady), nil
	})
}

func (b *bench) sim(t tenantEnv, i int) *simv1alpha1.SimIntegration {
	name := fmt.Sprintf("sim-%05d", i)
	desc := "Tickets for " + name
	return &simv1alpha1.SimIntegration{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: name},
		Spec: simv1alpha1.SimIntegrationSpec{
			TenantRef:   simv1alpha1.TenantReference{Name: t.name},
			Name:        t.ns + "-" + name,
			Description: &desc,
			Cluster:     new("xyzzy999"),
			Sources:     []string{"2c9180835d191a86015d28455b4a2329"},
			StatusMap:   map[string]string{"closed_complete": "Committed", "closed_cancelled": "Failed", "requested": "Queued"},
			Attributes:  &apiextensionsv1.JSON{Raw: []byte(`{"uid":"svc-sailpoint","url":"https://acme.service-now.com"}`)},
		},
	}
}

// createAll creates count objects from index from, with b.s.Creators goroutines.
func (b *bench) createAll(t tenantEnv, from, count int) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	errs := make(chan error, b.s.Creators)
	for range b.s.Creators {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= from+count {
					return
				}
				if err := b.k8s.Create(b.ctx, b.sim(t, i)); err != nil {
					errs <- fmt.Errorf("create %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// readyCount counts SimIntegrations in ns that are Ready for their generation, as the bench's watch
// has seen them.
func (b *bench) readyCount(ns string) (ready, total int, err error) {
	list := &simv1alpha1.SimIntegrationList{}
	if err := b.watched.List(b.ctx, list, client.InNamespace(ns)); err != nil {
		return 0, 0, err
	}
	for _, s := range list.Items {
		c := meta.FindStatusCondition(s.Status.Conditions, simv1alpha1.ConditionReady)
		if c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == s.Generation {
			ready++
		}
	}
	return ready, len(list.Items), nil
}

func (b *bench) waitAllReady(ns string, want int, timeout time.Duration) (time.Time, error) {
	var at time.Time
	last := -1
	lastChange := time.Now()
	err := b.waitForEvery(timeout, 100*time.Millisecond, func() (bool, error) {
		r, _, err := b.readyCount(ns)
		if err != nil {
			return false, err
		}
		if r != last {
			last, lastChange = r, time.Now()
		}
		if time.Since(lastChange) > 5*time.Second {
			fmt.Printf("  … %d/%d Ready\n", r, want)
			lastChange = time.Now()
		}
		at = time.Now()
		return r >= want, nil
	})
	return at, err
}

func (b *bench) waitFor(timeout time.Duration, cond func() (bool, error)) error {
	return b.waitForEvery(timeout, 250*time.Millisecond, cond)
}

func (b *bench) waitForEvery(timeout, every time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(every)
	}
}

// sims returns the SIM requests (not token calls) of clientID in [from, to).
func (b *bench) sims(clientID string, from, to time.Time) []fake.LoggedRequest {
	return b.remote.Requests(fake.SIMOnly(), func(r fake.LoggedRequest) bool {
		return r.ClientID == clientID && !r.Time.Before(from) && r.Time.Before(to)
	})
}

func (b *bench) tokens(from, to time.Time) int {
	return len(b.remote.Requests(fake.ByPathPrefix("/oauth/token"), func(r fake.LoggedRequest) bool {
		return !r.Time.Before(from) && r.Time.Before(to)
	}))
}

func count(rs []fake.LoggedRequest, f func(fake.LoggedRequest) bool) int {
	n := 0
	for _, r := range rs {
		if f(r) {
			n++
		}
	}
	return n
}

func isWrite(r fake.LoggedRequest) bool { return r.Method != "GET" }
func isList(r fake.LoggedRequest) bool {
	return r.Method == "GET" && strings.HasSuffix(r.Path, "/sim-integrations")
}

func (b *bench) add(r result) {
	b.results = append(b.results, r)
	mark := "ok"
	if !r.Met {
		mark = "MISSED"
	}
	fmt.Printf("  %-58s %10.2f %-10s goal %-28s %-6s %s\n", r.Measure, r.Value, r.Unit, r.Goal, mark, r.Detail)
}

func (b *bench) bulkCreate(t tenantEnv) error {
	n := b.s.N
	fmt.Printf("phase bulk create: %d SimIntegrations, L=%d/%s\n", n, b.s.Limit, b.s.Period)
	recBefore := b.reconciles()
	start := time.Now()
	if err := b.createAll(t, 0, n); err != nil {
		return err
	}
	created := time.Since(start)
	end, err := b.waitAllReady(t.ns, n, 10*time.Minute+time.Duration(n)*b.s.Period/time.Duration(b.s.Limit)*3)
	if err != nil {
		return fmt.Errorf("bulk create: waiting for Ready: %w", err)
	}
	elapsed := end.Sub(start).Seconds()
	rs := b.sims(t.clientID, start, end.Add(time.Second))
	accepted := count(rs, func(r fake.LoggedRequest) bool { return r.Status != 429 })
	tooMany := count(rs, func(r fake.LoggedRequest) bool { return r.Status == 429 })
	posts := count(rs, func(r fake.LoggedRequest) bool { return r.Method == "POST" })
	lists := count(rs, isList)
	rate := float64(b.s.Limit) / b.s.Period.Seconds()
	recs := b.reconciles() - recBefore
	// Accepted SIM calls per period-long bucket: shows whether the budget or the local work was the bottleneck.
	var buckets []int
	for _, r := range rs {
		if r.Status == 429 {
			continue
		}
		i := int(r.Time.Sub(start) / b.s.Period)
		for len(buckets) <= i {
			buckets = append(buckets, 0)
		}
		buckets[i]++
	}
	b.series.BulkCreate = buckets
	fmt.Printf("  accepted SIM calls per %s from the first create: %v; %.0f reconciles (%.2f per object)\n", b.s.Period, buckets, recs, recs/float64(n))
	needed := n + 1 // one POST per object and at least one list
	ideal := float64(needed) / rate
	util := float64(accepted) / (elapsed * rate)
	settingsStr := fmt.Sprintf("L=%d/%s, tiers %v, MaxConcurrentReconciles=%d", b.s.Limit, b.s.Period, b.s.Tiers, b.s.Concurrency)
	b.add(result{Measure: "bulk create: rate-limit utilisation", N: n, Value: util * 100, Unit: "% of L",
		Goal: "≥ 90 %", Met: util >= 0.9,
		Detail: fmt.Sprintf("%d accepted SIM calls (%d POST, %d list, %d other) in %.1fs; calls per %s: %v; %.2f reconciles per object; %s", accepted, posts, lists, accepted-posts-lists, elapsed, b.s.Period, buckets, recs/float64(n), settingsStr)})
	b.add(result{Measure: "bulk create: time until all Ready", N: n, Value: elapsed, Unit: "s",
		Goal: fmt.Sprintf("≤ %.1f s (1.1 × %d calls ÷ L)", 1.1*ideal, needed), Met: elapsed <= 1.1*ideal,
		Detail: fmt.Sprintf("ideal %.1fs; apiserver creates took %.1fs with %d goroutines; %s", ideal, created.Seconds(), b.s.Creators, settingsStr)})
	b.add(result{Measure: "bulk create: 429 responses", N: n, Value: float64(tooMany), Unit: "",
		Goal: "0", Met: tooMany == 0, Detail: settingsStr})
	return nil
}

func (b *bench) steady(t tenantEnv, n int) error {
	fmt.Printf("phase steady state: tenant %s with %d objects, poll %s\n", t.ns, n, b.s.Poll)
	// Settle: let the post-create reconciles and their requeues finish.
	time.Sleep(b.s.Poll + b.s.Poll/5)
	b.remote.ResetLog()
	intervals := 3
	window := time.Duration(intervals) * b.s.Poll
	start := time.Now()
	time.Sleep(window)
	end := time.Now()
	rs := b.sims(t.clientID, start, end)
	lists := count(rs, isList)
	writes := count(rs, isWrite)
	toks := len(b.remote.Requests(fake.ByPathPrefix("/oauth/token"), func(r fake.LoggedRequest) bool {
		return r.ClientID == t.clientID || r.ClientID == ""
	}))
	perInterval := float64(len(rs)+toks) / float64(intervals)
	simPer := float64(len(rs)) / float64(intervals)
	b.series.CallsPerInterval = append(b.series.CallsPerInterval, callsPoint{N: n, Tenants: 1, Mean: simPer, Max: simPer})
	b.add(result{Measure: "steady state: remote calls per poll interval per tenant", N: n, Value: perInterval, Unit: unitCalls,
		Goal: "≤ 2, independent of N", Met: perInterval <= 2,
		Detail: fmt.Sprintf("%d SIM calls (%d list) + %d token calls in %d × %s window", len(rs), lists, toks, intervals, b.s.Poll)})
	b.add(result{Measure: "steady state: remote writes while nothing changed", N: n, Value: float64(writes), Unit: "writes",
		Goal: "0", Met: writes == 0, Detail: fmt.Sprintf("window %s", window)})
	return nil
}

func (b *bench) editLatency(t tenantEnv) error {
	fmt.Printf("phase edit latency: %d spec edits, one every 100ms, during polling\n", b.s.Edits)
	b.remote.ResetLog()
	type edit struct {
		id string
		at time.Time
	}
	var edits []edit
	step := max(1, b.s.N/b.s.Edits)
	for k := range b.s.Edits {
		i := (k * step) % b.s.N
		key := client.ObjectKey{Namespace: t.ns, Name: fmt.Sprintf("sim-%05d", i)}
		cur := &simv1alpha1.SimIntegration{}
		if err := b.k8s.Get(b.ctx, key, cur); err != nil {
			return err
		}
		if cur.Status.ID == "" {
			return fmt.Errorf("%s has no status.id", key)
		}
		d := fmt.Sprintf("edited %d at %s", k, time.Now().Format(time.RFC3339Nano))
		cur.Spec.Description = &d
		at := time.Now()
		if err := b.k8s.Update(b.ctx, cur); err != nil {
			return err
		}
		edits = append(edits, edit{cur.Status.ID, at})
		time.Sleep(100 * time.Millisecond)
	}
	var lat []time.Duration
	deadline := time.Now().Add(60 * time.Second)
	for {
		lat = lat[:0]
		patches := b.remote.Requests(fake.SIMOnly(), fake.ByMethod("PATCH"))
		for _, e := range edits {
			for _, p := range patches {
				if strings.Contains(p.Path, e.id) && !p.Time.Before(e.at) {
					lat = append(lat, p.Time.Sub(e.at))
					break
				}
			}
		}
		if len(lat) == len(edits) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(lat) < len(edits) {
		b.add(result{Measure: "edit latency: edits that produced a PATCH within 60s", N: b.s.N, Value: float64(len(lat)),
			Unit: "edits", Goal: fmt.Sprintf("%d", len(edits)), Met: false})
	}
	if len(lat) == 0 {
		return nil
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))+0.5)-1)] }
	p50, p99 := pct(0.50), pct(0.99)
	b.add(result{Measure: "edit latency: spec edit → PATCH arrives, p50", N: b.s.N, Value: p50.Seconds() * 1000, Unit: "ms",
		Goal: "(p99 ≤ 2 s)", Met: true, Detail: fmt.Sprintf("%d edits every 100ms, poll %s", len(lat), b.s.Poll)})
	b.add(result{Measure: "edit latency: spec edit → PATCH arrives, p99", N: b.s.N, Value: p99.Seconds() * 1000, Unit: "ms",
		Goal: "≤ 2000 ms", Met: p99 <= 2*time.Second, Detail: fmt.Sprintf("max %s", lat[len(lat)-1].Round(time.Millisecond))})
	return nil
}

// memory measures the manager process: Go heap in use after a forced GC and peak RSS.
func (b *bench) memory(n int, what string) error {
	u, err := b.mgr.memory(b.ctx, fmt.Sprintf("manager-%d-heap-%d.pprof", b.mgr.starts, n))
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("%s; HeapAlloc %.1f MiB, free heap not yet returned to the OS %.1f MiB, runtime Sys %.0f MiB, VmRSS %.0f MiB now; heap profile %s",
		what, u.heapAlloc, u.idle, u.sys, u.rss, filepath.Base(u.profile))
	b.add(result{Measure: "manager memory: Go heap in use after GC", N: n, Value: u.heapInuse, Unit: unitMiB, Goal: info, Met: true, Detail: detail})
	b.add(result{Measure: "manager memory: peak RSS (VmHWM) since start", N: n, Value: u.peakRSS, Unit: unitMiB, Goal: "≤ 150 MiB", Met: u.peakRSS <= 150, Detail: detail})
	return nil
}

func (b *bench) restart(t tenantEnv) error {
	fmt.Printf("phase restart: stop the manager, start a new one, count remote calls\n")
	// Let edits settle first.
	time.Sleep(b.s.Poll / 2)
	b.mgr.stop()
	b.remote.ResetLog()
	start := time.Now()
	if err := b.mgr.start(b.ctx); err != nil {
		return err
	}
	// "First minutes" of a 10m poll interval, scaled: 0.9 × poll; also report 2 full intervals.
	first := start.Add(b.s.Poll * 9 / 10)
	time.Sleep(time.Until(first))
	rs := b.sims(t.clientID, start, first)
	toks := b.tokens(start, first)
	writes := count(rs, isWrite)
	b.add(result{Measure: "restart: remote calls in the first 0.9 × poll interval", N: b.s.N, Value: float64(len(rs) + toks), Unit: unitCalls,
		Goal: "≤ 2", Met: len(rs)+toks <= 2,
		Detail: fmt.Sprintf("%d SIM (%d list, %d writes) + %d token; window %s", len(rs), count(rs, isList), writes, toks, (b.s.Poll * 9 / 10).Round(time.Second))})
	end := start.Add(2 * b.s.Poll)
	time.Sleep(time.Until(end))
	rs = b.sims(t.clientID, start, end)
	toks = b.tokens(start, end)
	b.add(result{Measure: "restart: remote calls in 2 poll intervals (info)", N: b.s.N, Value: float64(len(rs) + toks), Unit: unitCalls,
		Goal: "(2 lists + 1 token expected)", Met: count(rs, isWrite) == 0,
		Detail: fmt.Sprintf("%d SIM (%d list, %d writes) + %d token", len(rs), count(rs, isList), count(rs, isWrite), toks)})
	// All objects must still be Ready.
	r, total, err := b.readyCount(t.ns)
	if err != nil {
		return err
	}
	if r != total {
		fmt.Printf("  note: after restart %d/%d Ready\n", r, total)
	}
	return nil
}

// managerCPU is the manager process's CPU time so far (0 if its metrics do not answer).
func (b *bench) managerCPU() float64 {
	m, _ := b.mgr.metrics(b.ctx)
	return m["process_cpu_seconds_total"]
}

// reconciles is the manager's SimIntegration reconcile count (0 if its metrics do not answer).
func (b *bench) reconciles() float64 {
	n, err := b.mgr.reconciles(b.ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scrape the manager's metrics:", err)
	}
	return n
}

func (b *bench) throughput(t tenantEnv) error {
	n := b.s.SteadyN
	fmt.Printf("phase throughput: %d SimIntegrations on tenant %s, fake limit lifted, Tenant limit 100000/1s\n", n, t.ns)
	b.remote.SetRateLimit(fake.RateLimit{})
	defer b.remote.SetRateLimit(b.limit)
	before := b.reconciles()
	loadBefore, err := readAPIServerLoad(b.ctx, b.cfg)
	if err != nil {
		return err
	}
	cpuBefore := b.managerCPU()
	start := time.Now()
	b.mgr.cpuProfile(b.ctx, 30*time.Second, "manager-cpu-throughput.pprof")
	var createdAt time.Duration
	createErr := make(chan error, 1)
	go func() {
		err := b.createAll(t, 0, n)
		createdAt = time.Since(start)
		createErr <- err
	}()
	end, err := b.waitAllReady(t.ns, n, 30*time.Minute)
	if err != nil {
		return fmt.Errorf("throughput: waiting for Ready: %w", err)
	}
	if err := <-createErr; err != nil {
		return err
	}
	elapsed := end.Sub(start).Seconds()
	rec := b.reconciles() - before
	rs := b.sims(t.clientID, start, end.Add(time.Second))
	load, err := readAPIServerLoad(b.ctx, b.cfg)
	if err != nil {
		return err
	}
	cpu := fmt.Sprintf("%s; manager: %.0f CPU-seconds", load.since(loadBefore, n), b.managerCPU()-cpuBefore)
	fmt.Println("  " + cpu)
	b.add(result{Measure: "throughput (limit lifted): reconciles per second", N: n, Value: rec / elapsed, Unit: "/s",
		Goal: "≥ 100 /s", Met: rec/elapsed >= 100,
		Detail: fmt.Sprintf("%.0f reconciles, %d objects Ready (%.1f/s), %d SIM calls in %.1fs; apiserver creates took %.1fs (%d goroutines); %s",
			rec, n, float64(n)/elapsed, len(rs), elapsed, createdAt.Seconds(), b.s.Creators, cpu)})
	return nil
}

func (b *bench) write(path string) error {
	raw, err := json.MarshalIndent(map[string]any{"settings": b.s, "results": b.results, "series": b.series}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

func (b *bench) print() {
	fmt.Printf("\nsim-operator bench — %s, %d CPUs, load average at start %s, %s; L=%d/%s (tiers %v), poll %s, MaxConcurrentReconciles=%d, manager environment %v\n\n",
		b.s.Started.Format(time.RFC3339), b.s.CPUs, b.s.LoadAvg, b.s.GoVersion, b.s.Limit, b.s.Period, b.s.Tiers, b.s.Poll, b.s.Concurrency, b.s.ManagerEnv)
	fmt.Println("| measure | N | measured | goal | result | settings / detail |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range b.results {
		mark := "met"
		if !r.Met {
			mark = "**MISSED**"
		}
		fmt.Printf("| %s | %d | %.2f %s | %s | %s | %s |\n", r.Measure, r.N, r.Value, r.Unit, r.Goal, mark, r.Detail)
	}
}
