package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

// fleet is the many-tenants shape: T tenants, each in its own namespace with its own API client, its
// own fake IdentityNow (its own store, client id, token lifetime and rate limit) and S SimIntegrations.
// The fakes share one loopback listener: tenant i's baseURL is <listener>/t/<i>, and the router strips
// the prefix, so each tenant lists only its own objects and counts on its own budget.
type fleet struct {
	tenants, sims int
	ttl           time.Duration
	fakes         []*fake.Server
	envs          []tenantEnv
	srv           *httptest.Server
}

const fleetPrefix = "fleet-"

func newFleet(tenants, sims int, ttl time.Duration, limit fake.RateLimit) *fleet {
	f := &fleet{tenants: tenants, sims: sims, ttl: ttl}
	for i := range tenants {
		id := fmt.Sprintf("fleet-client-%04d", i)
		f.fakes = append(f.fakes, fake.NewServer(fake.Options{
			Clients: map[string]string{id: clientSecret}, RateLimit: limit, TokenTTL: ttl,
		}))
		f.envs = append(f.envs, tenantEnv{ns: fmt.Sprintf("%s%04d", fleetPrefix, i), name: "acme", clientID: id})
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.route))
	return f
}

// route sends /t/<i>/rest to fake i as /rest.
func (f *fleet) route(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/t/")
	if ok {
		idx, path, _ := strings.Cut(rest, "/")
		if i, err := strconv.Atoi(idx); err == nil && i >= 0 && i < len(f.fakes) {
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = "/"+path, ""
			f.fakes[i].ServeHTTP(w, r2)
			return
		}
	}
	http.NotFound(w, r)
}

func (f *fleet) baseURL(i int) string { return fmt.Sprintf("%s/t/%04d", f.srv.URL, i) }

func (f *fleet) close() { f.srv.Close() }

func (f *fleet) resetLogs() {
	for _, s := range f.fakes {
		s.ResetLog()
	}
}

// requests returns each tenant's logged requests in [from, to) that pass keep.
func (f *fleet) requests(from, to time.Time, keep fake.Filter) [][]fake.LoggedRequest {
	out := make([][]fake.LoggedRequest, len(f.fakes))
	for i, s := range f.fakes {
		out[i] = s.Requests(keep, func(r fake.LoggedRequest) bool { return !r.Time.Before(from) && r.Time.Before(to) })
	}
	return out
}

func isToken(r fake.LoggedRequest) bool { return r.Path == "/oauth/token" }

// parallel runs do(0..n-1) on b.s.Creators goroutines and returns the first error.
func (b *bench) parallel(n int, do func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, b.s.Creators)
	for range b.s.Creators {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// fleetReady counts the fleet's SimIntegrations that are Ready for their generation, as the bench's
// watch has seen them.
func (b *bench) fleetReady() (int, error) {
	list := &simv1alpha1.SimIntegrationList{}
	if err := b.watched.List(b.ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return 0, err
	}
	ready := 0
	for i := range list.Items {
		s := &list.Items[i]
		c := meta.FindStatusCondition(s.Status.Conditions, simv1alpha1.ConditionReady)
		if strings.HasPrefix(s.Namespace, fleetPrefix) && c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == s.Generation {
			ready++
		}
	}
	return ready, nil
}

// snapshotUse is the manager's memory and goroutines at one moment (heap after a forced GC).
type snapshotUse struct {
	memoryUse
	goroutines float64
}

func (b *bench) use(name string) (snapshotUse, error) {
	u, err := b.mgr.memory(b.ctx, name)
	if err != nil {
		return snapshotUse{}, err
	}
	m, err := b.mgr.metrics(b.ctx)
	if err != nil {
		return snapshotUse{}, err
	}
	return snapshotUse{memoryUse: u, goroutines: m["go_goroutines"]}, nil
}

// fleetPhase measures T tenants × S SimIntegrations on a fresh manager: what each tenant costs at rest,
// creating them all, the calls per tenant and the tokens in the steady state, and a restart.
func (b *bench) fleetPhase(f *fleet) error {
	T, S := f.tenants, f.sims
	n := T * S
	settings := fmt.Sprintf("%d tenants × %d, each its own client id and fake; L=%d/%s per tenant, poll %s, expires_in %s, MaxConcurrentReconciles=%d",
		T, S, b.s.Limit, b.s.Period, b.s.Poll, f.ttl, b.s.Concurrency)
	fmt.Printf("phase fleet: %s\n", settings)
	u0, err := b.use("manager-fleet-heap-empty.pprof")
	if err != nil {
		return err
	}

	// 1. The tenants, without SimIntegrations: what a tenant costs at rest.
	start := time.Now()
	phaseStart := start
	if err := b.parallel(T, func(i int) error { return b.fleetTenant(f, i) }); err != nil {
		return fmt.Errorf("fleet: create tenants: %w", err)
	}
	var ready int
	if err := b.waitForEvery(10*time.Minute, time.Second, func() (bool, error) {
		list := &simv1alpha1.TenantList{}
		if err := b.k8s.List(b.ctx, list); err != nil {
			return false, err
		}
		ready = 0
		for _, t := range list.Items {
			if meta.IsStatusConditionTrue(t.Status.Conditions, simv1alpha1.ConditionReady) {
				ready++
			}
		}
		return ready >= T, nil
	}); err != nil {
		return fmt.Errorf("fleet: %d of %d tenants Ready: %w", ready, T, err)
	}
	tenantsReady := time.Since(start)
	time.Sleep(20 * time.Second) // at rest: past the clients' idle-connection timeout (15 s)
	u1, err := b.use("manager-fleet-heap-tenants.pprof")
	if err != nil {
		return err
	}
	perTenant := (u1.heapInuse - u0.heapInuse) * 1024 / float64(T)
	b.add(result{Measure: "fleet: tenants Ready (a token each), from the first create", N: T, Value: tenantsReady.Seconds(), Unit: "s",
		Goal: info, Met: true, Detail: settings})
	b.add(result{Measure: "fleet: manager heap per tenant at rest (no SimIntegrations)", N: T, Value: perTenant, Unit: "KiB",
		Goal: info, Met: true, Detail: fmt.Sprintf("heap in use after GC %.1f → %.1f MiB; goroutines %.0f → %.0f (%.2f per tenant); RSS %.0f → %.0f MiB",
			u0.heapInuse, u1.heapInuse, u0.goroutines, u1.goroutines, (u1.goroutines-u0.goroutines)/float64(T), u0.rss, u1.rss)})

	// 2. S SimIntegrations per tenant, created in the apiserver tenant by tenant.
	recBefore := b.reconciles()
	start = time.Now()
	if err := b.parallel(n, func(k int) error {
		if err := b.k8s.Create(b.ctx, b.sim(f.envs[k/S], k%S)); err != nil {
			return fmt.Errorf("create %s/%d: %w", f.envs[k/S].ns, k%S, err)
		}
		return nil
	}); err != nil {
		return err
	}
	created := time.Since(start)
	last, lastChange := -1, time.Now()
	if err := b.waitForEvery(30*time.Minute, 500*time.Millisecond, func() (bool, error) {
		r, err := b.fleetReady()
		if r != last {
			last, lastChange = r, time.Now()
		}
		if time.Since(lastChange) > 10*time.Second {
			fmt.Printf("  … %d/%d Ready\n", r, n)
			lastChange = time.Now()
		}
		return r >= n, err
	}); err != nil {
		return fmt.Errorf("fleet: %d of %d Ready: %w", last, n, err)
	}
	allReady := time.Since(start)
	recs := b.reconciles() - recBefore
	tooMany := 0
	for _, rs := range f.requests(start, time.Now(), fake.SIMOnly()) {
		tooMany += count(rs, func(r fake.LoggedRequest) bool { return r.Status == 429 })
	}
	b.add(result{Measure: "fleet: create, time until all Ready", N: n, Value: allReady.Seconds(), Unit: "s",
		Goal: info, Met: true, Detail: fmt.Sprintf("%.1f objects Ready/s, %.2f reconciles per object, %d × 429; the bench's apiserver creates took %.1fs with %d goroutines; %s",
			float64(n)/allReady.Seconds(), recs/float64(n), tooMany, created.Seconds(), b.s.Creators, settings)})

	// 3. Steady state: calls per tenant per poll interval, tokens per tenant per hour, apiserver writes.
	time.Sleep(b.s.Poll + b.s.Poll/5)
	intervals := 4
	window := time.Duration(intervals) * b.s.Poll
	loadBefore, err := readAPIServerLoad(b.ctx, b.cfg)
	if err != nil {
		return err
	}
	cpuBefore := b.managerCPU()
	wStart := time.Now()
	time.Sleep(window)
	wEnd := time.Now()
	load, err := readAPIServerLoad(b.ctx, b.cfg)
	if err != nil {
		return err
	}
	cpu := b.managerCPU() - cpuBefore
	var calls, lists, gets, writes []float64
	for _, rs := range f.requests(wStart, wEnd, func(fake.LoggedRequest) bool { return true }) {
		sim := 0
		var l, g, w int
		for _, r := range rs {
			switch {
			case r.API != fake.APISIM:
				continue
			case isList(r):
				l++
			case r.Method == http.MethodGet:
				g++
			default:
				w++
			}
			sim++
		}
		per := float64(intervals)
		calls = append(calls, float64(sim)/per)
		lists, gets, writes = append(lists, float64(l)/per), append(gets, float64(g)), append(writes, float64(w))
	}
	// Tokens over the whole phase (several lifetimes): the rate per tenant, and the shortest time a
	// tenant used a token before asking for the next one (the goal holds per token when that is at
	// least 0.8 × expires_in).
	var tokens []float64
	minGap := time.Duration(-1)
	for _, rs := range f.requests(phaseStart, wEnd, isToken) {
		if len(rs) >= 2 { // the rate between the first and the last token request
			tokens = append(tokens, float64(len(rs)-1)*3600/rs[len(rs)-1].Time.Sub(rs[0].Time).Seconds())
		}
		for i := 1; i < len(rs); i++ {
			if g := rs[i].Time.Sub(rs[i-1].Time); minGap < 0 || g < minGap {
				minGap = g
			}
		}
	}
	meanCalls, maxCalls := meanMax(calls)
	meanLists, maxLists := meanMax(lists)
	_, maxGets := meanMax(gets)
	_, maxWrites := meanMax(writes)
	meanTok, maxTok := meanMax(tokens)
	tokGoal := 3600 / (0.8 * f.ttl.Seconds())
	statusWrites := load.writes["simintegrations/status PUT"] + load.writes["simintegrations/status PATCH"] -
		loadBefore.writes["simintegrations/status PUT"] - loadBefore.writes["simintegrations/status PATCH"]
	b.series.CallsPerInterval = append(b.series.CallsPerInterval, callsPoint{N: S, Tenants: T, Mean: meanCalls, Max: maxCalls})
	wDetail := fmt.Sprintf("window %d × %s, %d tenants × %d", intervals, b.s.Poll, T, S)
	b.add(result{Measure: "fleet steady: SIM calls per tenant per poll interval (mean)", N: n, Value: meanCalls, Unit: unitCalls,
		Goal: "≤ 1 list, no GET per object", Met: maxLists <= 1.25 && maxGets == 0,
		Detail: fmt.Sprintf("max %.2f; lists per tenant per interval mean %.2f, max %.2f; GETs %v at most per tenant, writes %v; %s", maxCalls, meanLists, maxLists, maxGets, maxWrites, wDetail)})
	b.add(result{Measure: "fleet steady: token requests per tenant per hour (mean)", N: n, Value: meanTok, Unit: "/h",
		Goal: fmt.Sprintf("≤ %.0f (3600 ÷ (0.8 × %.0f s))", tokGoal, f.ttl.Seconds()), Met: meanTok <= tokGoal && (minGap < 0 || minGap.Seconds() >= 0.8*f.ttl.Seconds()),
		Detail: fmt.Sprintf("busiest tenant %.0f /h; shortest time between two token requests of one tenant %s (0.8 × expires_in = %.0f s); over %s from the first tenant's creation to the end of the steady window; expires_in %s",
			maxTok, minGap.Round(100*time.Millisecond), 0.8*f.ttl.Seconds(), wEnd.Sub(phaseStart).Round(time.Second), f.ttl)})
	b.add(result{Measure: "fleet steady: kube-apiserver status writes per object per poll interval", N: n, Value: statusWrites / float64(n) / float64(intervals), Unit: "writes",
		Goal: info, Met: true, Detail: fmt.Sprintf("%.0f status writes in %s (%.1f/s); %s; manager %.1f CPU-seconds (%.0f %% of a core)",
			statusWrites, window, statusWrites/window.Seconds(), load.since(loadBefore, n), cpu, 100*cpu/window.Seconds())})

	u2, err := b.use("manager-fleet-heap-steady.pprof")
	if err != nil {
		return err
	}
	b.add(result{Measure: "fleet: manager peak RSS (VmHWM) since start", N: n, Value: u2.peakRSS, Unit: unitMiB, Goal: "≤ 150 MiB", Met: u2.peakRSS <= 150,
		Detail: fmt.Sprintf("the process that created them; heap in use after GC %.1f MiB (HeapAlloc %.1f), VmRSS %.0f MiB now, goroutines %.0f; %s", u2.heapInuse, u2.heapAlloc, u2.rss, u2.goroutines, settings)})
	b.add(result{Measure: "fleet: manager heap per SimIntegration", N: n, Value: (u2.heapInuse - u1.heapInuse) * 1024 / float64(n), Unit: "KiB",
		Goal: info, Met: true, Detail: fmt.Sprintf("heap in use after GC %.1f MiB with the tenants alone, %.1f MiB with the %d SimIntegrations", u1.heapInuse, u2.heapInuse, n)})

	return b.fleetRestart(f, settings)
}

// specEdit is a change of one SimIntegration's description: in tenant t, of remote object id, at at.
type specEdit struct {
	t  int
	id string
	at time.Time
}

// fleetRestart restarts the manager with every object in place: the spread of each tenant's first
// list, spec edits during the first pass, the time of the first full pass, RSS over time.
func (b *bench) fleetRestart(f *fleet, settings string) error {
	T, S := f.tenants, f.sims
	n := T * S
	fmt.Printf("phase fleet restart: %d tenants × %d\n", T, S)
	time.Sleep(b.s.Poll / 2)
	type target struct {
		t   int
		key client.ObjectKey
	}
	edits := min(b.s.Edits, T)
	var targets, awayTargets []target
	for k := range edits {
		t := k * T / edits
		targets = append(targets, target{t, client.ObjectKey{Namespace: f.envs[t].ns, Name: fmt.Sprintf("sim-%05d", (k*7)%S)}})
		if k%5 == 0 && T > 1 { // and a fifth as many in the neighbouring tenants, while no manager runs
			ta := (t + 1) % T
			awayTargets = append(awayTargets, target{ta, client.ObjectKey{Namespace: f.envs[ta].ns, Name: fmt.Sprintf("sim-%05d", (k*3+S-1)%S)}})
		}
	}
	editSpec := func(tg target, what string) (specEdit, error) {
		cur := &simv1alpha1.SimIntegration{}
		if err := b.k8s.Get(b.ctx, tg.key, cur); err != nil {
			return specEdit{}, err
		}
		d := fmt.Sprintf("edited %s at %s", what, time.Now().Format(time.RFC3339Nano))
		cur.Spec.Description = &d
		at := time.Now()
		return specEdit{tg.t, cur.Status.ID, at}, b.k8s.Update(b.ctx, cur)
	}
	b.mgr.stop()
	f.resetLogs()
	var away []specEdit
	for _, tg := range awayTargets {
		e, err := editSpec(tg, "while the manager was stopped")
		if err != nil {
			return err
		}
		away = append(away, e)
	}
	start := time.Now()
	if err := b.mgr.start(b.ctx); err != nil {
		return err
	}
	up := time.Since(start)
	// RSS and reconciles every 200 ms, as in the cold pass.
	var samples []rssPoint
	var sampleMu sync.Mutex
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	pid := b.mgr.cmd.Process.Pid
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(200 * time.Millisecond):
			}
			rec, _ := b.mgr.reconciles(b.ctx)
			if _, rss, err := procMemory(pid); err == nil {
				sampleMu.Lock()
				samples = append(samples, rssPoint{T: time.Since(start).Seconds(), RSS: rss, Reconciles: rec})
				sampleMu.Unlock()
			}
		}
	}()
	// Spec edits, one every 100 ms, from the moment the process answers.
	var done []specEdit
	for _, tg := range targets {
		e, err := editSpec(tg, "during the restart")
		if err != nil {
			return err
		}
		done = append(done, e)
		time.Sleep(100 * time.Millisecond)
	}
	// The first full pass: one reconcile per object (the edits made during it add theirs).
	var passEnd time.Duration
	if err := b.waitForEvery(20*time.Minute, 200*time.Millisecond, func() (bool, error) {
		rec, err := b.mgr.reconciles(b.ctx)
		passEnd = time.Since(start)
		return err == nil && rec >= float64(n+len(done)), nil
	}); err != nil {
		return fmt.Errorf("fleet restart: the first full pass did not end: %w", err)
	}
	// Every tenant's first list falls within the first pass, unless it is slower than a poll interval.
	time.Sleep(time.Until(start.Add(b.s.Poll)))
	var lat []time.Duration
	var slow []string // the edits over 2 s: when they were made, and how long they took
	deadline := time.Now().Add(2 * time.Minute)
	for {
		lat, slow = lat[:0], slow[:0]
		for _, e := range done {
			for _, p := range f.fakes[e.t].Requests(fake.SIMOnly(), fake.ByMethod(http.MethodPatch)) {
				if strings.Contains(p.Path, e.id) && !p.Time.Before(e.at) {
					lat = append(lat, p.Time.Sub(e.at))
					if d := p.Time.Sub(e.at); d > 2*time.Second {
						slow = append(slow, fmt.Sprintf("%.1fs→%.1fs", e.at.Sub(start).Seconds(), d.Seconds()))
					}
					break
				}
			}
		}
		if len(lat) == len(done) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	close(stopSampling)
	<-sampled

	peak, peakAt, firstListAt := b.firstLists(f, start, samples, settings, up)
	b.add(result{Measure: "fleet restart: first full pass (one reconcile per object), from process start", N: n, Value: passEnd.Seconds(), Unit: "s",
		Goal: info, Met: true, Detail: fmt.Sprintf("%.0f reconciles/s; sampled RSS peaked at %.0f MiB at %.1f s (fleet-restart-rss.csv)", float64(n)/passEnd.Seconds(), peak, peakAt)})
	if len(lat) < len(done) {
		b.add(result{Measure: "fleet restart: edits that produced a PATCH within 2m", N: n, Value: float64(len(lat)), Unit: "edits",
			Goal: fmt.Sprintf("%d", len(done)), Met: false})
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))+0.5)-1)] }
		b.add(result{Measure: "fleet restart: spec edit → PATCH during the first pass, p99", N: n, Value: pct(0.99).Seconds() * 1000, Unit: "ms",
			Goal: "≤ 2000 ms", Met: pct(0.99) <= 2*time.Second,
			Detail: fmt.Sprintf("%d edits one every 100 ms from %.1f s after the start, across %d tenants; p50 %s, max %s; over 2 s (made at → took): %v; the first list of a tenant began at %.1f s",
				len(lat), up.Seconds(), len(done), pct(0.5).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), slow, firstListAt)})
	}
	b.awayEdits(f, away, start, passEnd)
	u, err := b.use("manager-fleet-heap-restart.pprof")
	if err != nil {
		return err
	}
	b.add(result{Measure: "fleet restart: manager peak RSS (VmHWM) of the new process", N: n, Value: u.peakRSS, Unit: unitMiB, Goal: "≤ 150 MiB", Met: u.peakRSS <= 150,
		Detail: fmt.Sprintf("heap in use after GC %.1f MiB (HeapAlloc %.1f), VmRSS %.0f MiB now, runtime Sys %.0f MiB, goroutines %.0f; %s", u.heapInuse, u.heapAlloc, u.rss, u.sys, u.goroutines, settings)})
	return nil
}

// firstLists reports when each tenant listed first after the restart at start, and keeps the RSS
// samples; it returns the sampled peak and when it came.
func (b *bench) firstLists(f *fleet, start time.Time, samples []rssPoint, settings string, up time.Duration) (peak, peakAt, first float64) {
	T := f.tenants
	// First lists and first token requests per tenant after the start.
	var firsts []float64
	tokens, lists, writes, gets := 0, 0, 0, 0
	for _, rs := range f.requests(start, time.Now(), func(fake.LoggedRequest) bool { return true }) {
		first := -1.0
		for _, r := range rs {
			switch {
			case isToken(r):
				tokens++
			case r.API != fake.APISIM:
			case isList(r):
				lists++
				if first < 0 {
					first = r.Time.Sub(start).Seconds()
				}
			case r.Method == http.MethodGet:
				gets++
			default:
				writes++
			}
		}
		if first >= 0 {
			firsts = append(firsts, first)
		}
	}
	slices.Sort(firsts)
	perSecond := map[int]int{}
	busiest := 0
	for _, s := range firsts {
		perSecond[int(s)]++
		busiest = max(busiest, perSecond[int(s)])
	}
	hist := make([]int, int(max(b.s.Poll.Seconds(), slices.Max(append(firsts, 0))))+1)
	for s, c := range perSecond {
		if s < len(hist) {
			hist[s] = c
		}
	}
	b.series.FirstLists = hist
	b.series.FleetRestartRSS = samples
	csv := []string{"seconds,rss_mib,reconciles"}
	for _, p := range samples {
		csv = append(csv, fmt.Sprintf("%.1f,%.1f,%.0f", p.T, p.RSS, p.Reconciles))
		if p.RSS > peak {
			peak, peakAt = p.RSS, p.T
		}
	}
	_ = os.WriteFile(filepath.Join(b.logDir, "fleet-restart-rss.csv"), []byte(strings.Join(csv, "\n")+"\n"), 0o644)
	q := func(p float64) float64 {
		if len(firsts) == 0 {
			return 0
		}
		return firsts[min(len(firsts)-1, int(p*float64(len(firsts))))]
	}
	within := 0
	for _, s := range firsts {
		if s < b.s.Poll.Seconds() {
			within++
		}
	}
	b.add(result{Measure: "fleet restart: tenants listed within the first poll interval", N: T, Value: float64(within), Unit: "tenants",
		Goal: info, Met: true,
		Detail: fmt.Sprintf("all %d listed by %.1f s; until the first pass and the edits were done: %d lists, %d token requests, %d GETs, %d writes (the edits' PATCHes)", len(firsts), slices.Max(append(firsts, 0)), lists, tokens, gets, writes)})
	b.add(result{Measure: "fleet restart: most first lists in one second", N: T, Value: float64(busiest), Unit: "lists",
		Goal: fmt.Sprintf("< %d (no burst of all in one second)", T), Met: busiest < T,
		Detail: fmt.Sprintf("first lists at %.1f s (first), %.1f s (p50), %.1f s (p90), %.1f s (last) after the process started (metrics answered after %.1f s); poll %s; %s",
			q(0), q(0.5), q(0.9), q(1), up.Seconds(), b.s.Poll, settings)})
	return peak, peakAt, q(0)
}

// fleetTenant creates tenant i's namespace, credentials Secret and Tenant.
func (b *bench) fleetTenant(f *fleet, i int) error {
	t := f.envs[i]
	if err := b.k8s.Create(b.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.ns}}); err != nil {
		return err
	}
	if err := b.k8s.Create(b.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: credentialsSecret},
		StringData: map[string]string{"clientId": t.clientID, "clientSecret": clientSecret},
	}); err != nil {
		return err
	}
	return b.k8s.Create(b.ctx, &simv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: t.name},
		Spec: simv1alpha1.TenantSpec{
			BaseURL:        f.baseURL(i),
			CredentialsRef: simv1alpha1.CredentialsReference{Name: credentialsSecret},
			PollInterval:   metav1.Duration{Duration: b.s.Poll},
			RateLimit:      simv1alpha1.RateLimit{Requests: int32(b.s.Limit), Period: metav1.Duration{Duration: b.s.Period}},
		},
	})
}

func meanMax(xs []float64) (mean, most float64) {
	for _, x := range xs {
		mean += x
		most = max(most, x)
	}
	if len(xs) > 0 {
		mean /= float64(len(xs))
	}
	return mean, most
}

// awayEdits reports the edits made while no manager ran. They come back in the new process's initial
// list, with every unchanged object; measured from the first list of their tenant (before it the
// operator cannot compare), they must not wait for the rest of the first pass.
func (b *bench) awayEdits(f *fleet, away []specEdit, start time.Time, passEnd time.Duration) {
	if len(away) == 0 {
		return
	}
	var lat []time.Duration
	var fromStart []float64
	for _, e := range away {
		listed, patched := time.Time{}, time.Time{}
		for _, r := range f.fakes[e.t].Requests(fake.SIMOnly(), func(r fake.LoggedRequest) bool { return !r.Time.Before(start) }) {
			switch {
			case listed.IsZero() && isList(r):
				listed = r.Time
			case r.Method == http.MethodPatch && strings.Contains(r.Path, e.id):
				patched = r.Time
			}
			if !patched.IsZero() {
				break
			}
		}
		if listed.IsZero() || patched.IsZero() {
			continue
		}
		lat = append(lat, patched.Sub(listed))
		fromStart = append(fromStart, patched.Sub(start).Seconds())
	}
	n := f.tenants * f.sims
	if len(lat) < len(away) {
		b.add(result{Measure: "fleet restart: edits made while the manager was stopped that produced a PATCH", N: n,
			Value: float64(len(lat)), Unit: "edits", Goal: fmt.Sprintf("%d", len(away)), Met: false})
		if len(lat) == 0 {
			return
		}
	}
	slices.Sort(lat)
	worst := lat[len(lat)-1]
	b.add(result{Measure: "fleet restart: edit made while the manager was stopped → PATCH, after its tenant's first list, max", N: n,
		Value: worst.Seconds() * 1000, Unit: "ms", Goal: "≤ 2000 ms", Met: worst <= 2*time.Second,
		Detail: fmt.Sprintf("%d edits across %d tenants; median %s; the PATCHes at %.1f–%.1f s after the process started, the first full pass ended at %.1f s",
			len(lat), len(away), lat[len(lat)/2].Round(time.Millisecond), slices.Min(fromStart), slices.Max(fromStart), passEnd.Seconds())})
}
