package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/test/harness"
)

// TestHostileNeighbour is the namespace-isolation suite (issue 11, contract "Additions in v0.2",
// Namespace isolation). Namespace team-a has its own Tenant and five SimIntegrations, and a
// background editor changes one of them every 500 ms for the whole run, timing each change from the
// Kubernetes update until the fake holds it. Namespace team-b runs six attacks in turn, each against
// the real manager binary: starvation, joining A's budget and snapshot, secret echo, the confused
// deputy, memory exhaustion and SSRF. Across every attack A's p99 must stay within 2 s and its
// objects Ready; B must see nothing of A's, and no secret may show up anywhere.
//
// The manager runs with --tenant-host-allowlist=127.0.0.1:<the fake's port>,localhost:* instead of
// the harness's 127.0.0.1:*: the glob entry admits a name that resolves to a loopback address no
// entry names for that port, so the SSRF attack reaches the dial-time address check, not only the
// allowlist's string check.
func TestHostileNeighbour(t *testing.T) {
	h := startHostile(t)
	h.setUpA(t)
	h.startEditor(t)
	h.attack(t, "starvation", 10*time.Second, h.starvation)
	h.attack(t, "join A's budget and snapshot", 10*time.Second, h.joinBudget)
	h.attack(t, "secret echo", 8*time.Second, h.secretEcho)
	h.attack(t, "confused deputy", 8*time.Second, h.confusedDeputy)
	h.attack(t, "memory", 8*time.Second, h.memory)
	h.attack(t, "ssrf", 8*time.Second, h.ssrf)
	h.stopEditor(t)
	t.Run("nothing of A's in B", h.nothingOfA)
	t.Run("no secrets anywhere", h.noSecretsAnywhere)
	h.figure("hostile.wallTime", time.Since(h.began).Round(time.Second).String())
	report(t, h.suite)
}

const (
	nsA             = "team-a"
	nsB             = "team-b"
	aTenant         = "a"
	aClientID       = "team-a-client"
	bClientID       = "team-b-client"
	bStarveClientID = "team-b-starve-client"
	ctClientID      = "shared-ct-client"
	ctName          = "shared-ct"
	hostilePoll     = 2 * time.Second
	// aBound is the contract's bound on A's edit-to-remote p99 during any attack.
	aBound = 2 * time.Second
)

// hostile is the suite's environment plus what the attacks share.
type hostile struct {
	*suite
	began     time.Time
	pprofAddr string
	fakePort  string

	// secret values, by label: every one is looked for in logs, Events, statuses and metrics.
	secretValues map[string]string
	needles      *needles

	aSecret, aAttrSecret, bSecret, bStarveSecret, ctSecret, wrongSecret string

	aObjs []aObject
	// aExtra are A's objects beyond the edited ones, checked Ready too once they were Ready.
	aMu        sync.Mutex
	aExtra     []string
	aIDs       []string
	lat        *latencies
	ed         *editor
	ready      *readyWatch
	stopWatch  chan struct{}
	watchDone  chan struct{}
	bOwnExists bool
}

func startHostile(t *testing.T) *hostile {
	t.Helper()
	assets, err := harness.AssetsFromEnv()
	if err != nil {
		t.Fatalf("the hostile-neighbour suite needs kube-apiserver, etcd and kubectl: %v", err)
	}
	workDir, err := os.MkdirTemp("", "sim-operator-hostile-")
	if err != nil {
		t.Fatal(err)
	}
	var addrs [3]string
	for i := range addrs {
		if addrs[i], err = harness.FreeAddr(); err != nil {
			t.Fatal(err)
		}
	}
	metricsAddr, pprofAddr, fakeAddr := addrs[0], addrs[1], addrs[2]
	_, fakePort, _ := net.SplitHostPort(fakeAddr)
	h := &hostile{began: time.Now(), pprofAddr: pprofAddr, fakePort: fakePort, secretValues: map[string]string{},
		needles: newNeedles(), lat: &latencies{byName: map[string][]time.Duration{}}}
	// Random values only: a readable part ("team-a-...") would match names in the texts scanned.
	h.aSecret = h.secret("A's client secret", randText(32))
	h.aAttrSecret = h.secret("A's secret attribute", randText(32))
	h.bSecret = h.secret("B's client secret", randText(32))
	h.bStarveSecret = h.secret("B's rate-limited client secret", randText(32))
	h.ctSecret = h.secret("the ClusterTenant's client secret", randText(32))
	h.wrongSecret = h.secret("B's guess at A's secret", randText(32))

	ctx := context.Background()
	env, err := harness.Start(ctx, harness.Config{
		Assets:  assets,
		WorkDir: workDir,
		ManagerArgs: []string{"--zap-log-level=10", "--metrics-bind-address=" + metricsAddr, "--metrics-secure=false",
			"--pprof-bind-address=" + pprofAddr,
			"--tenant-host-allowlist=127.0.0.1:" + fakePort + ",localhost:*"},
		FakeArgs: []string{"--listen", fakeAddr,
			"--client", aClientID + ":" + h.aSecret, "--client", bClientID + ":" + h.bSecret,
			"--client", bStarveClientID + ":" + h.bStarveSecret, "--client", ctClientID + ":" + h.ctSecret,
			"--rate-limit=0"},
		Progress: func(format string, args ...any) { t.Logf(format, args...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{Env: env, workDir: workDir, metricsAddr: metricsAddr, figures: map[string]any{}}
	h.suite = s
	stopAtCleanup(t, env, workDir)
	if env.Fake.URL != "http://"+fakeAddr {
		t.Fatalf("the fake listens on %s, not on %s", env.Fake.URL, fakeAddr)
	}
	s.c = typedClient(t, env.Cluster.Kubeconfig)
	for _, n := range []string{nsA, nsB, harness.OperatorNamespace} {
		s.must(t, s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}))
	}
	return h
}

// secret registers a secret value for the scans and returns it.
func (h *hostile) secret(label, value string) string {
	h.secretValues[label] = value
	h.needles.add(label, value)
	return value
}

func secretIn(namespace, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, StringData: data}
}

func (h *hostile) tenantSpec(credentials string) simv1alpha1.TenantSpec {
	return simv1alpha1.TenantSpec{BaseURL: h.Fake.URL, CredentialsRef: simv1alpha1.CredentialsReference{Name: credentials},
		PollInterval: metav1.Duration{Duration: hostilePoll}}
}

func (h *hostile) createTenant(t *testing.T, namespace, name string, spec simv1alpha1.TenantSpec) {
	t.Helper()
	h.must(t, h.c.Create(context.Background(), &simv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: spec}))
}

// newSimIn is a SimIntegration of namespace on a Tenant (or, kind ClusterTenant, on a ClusterTenant).
func newSimIn(namespace, name string, ref simv1alpha1.TenantReference, desc string, attrs map[string]any) *simv1alpha1.SimIntegration {
	o := &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	o.Spec.TenantRef = ref
	o.Spec.Description = &desc
	if attrs != nil {
		b, _ := json.Marshal(attrs)
		o.Spec.Attributes = &apiextensionsv1.JSON{Raw: b}
	}
	return o
}

func secretAttr(name, secretName, key string) simv1alpha1.SecretAttribute {
	return simv1alpha1.SecretAttribute{Name: name, SecretKeyRef: simv1alpha1.SecretKeySelector{Name: secretName, Key: key}}
}

// setUpA creates A's Tenant and SimIntegrations and waits until all are Ready.
func (h *hostile) setUpA(t *testing.T) {
	ctx := context.Background()
	h.must(t, h.c.Create(ctx, secretIn(nsA, "a-api-client", map[string]string{"clientId": aClientID, "clientSecret": h.aSecret})))
	h.must(t, h.c.Create(ctx, secretIn(nsA, "a-snow", map[string]string{"password": h.aAttrSecret})))
	h.createTenant(t, nsA, aTenant, h.tenantSpec("a-api-client"))
	h.waitCondition(t, "tenant", nsA, aTenant, "Ready", 60*time.Second)
	for i := range 5 {
		name := fmt.Sprintf("team-a-sim-%d", i)
		o := newSimIn(nsA, name, simv1alpha1.TenantReference{Name: aTenant}, fmt.Sprintf("team-a-desc-%s-0", name),
			map[string]any{"owner": fmt.Sprintf("team-a-field-%d", i)})
		if i < 2 {
			o.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{secretAttr("password", "a-snow", "password")}
		}
		h.must(t, h.c.Create(ctx, o))
		h.aObjs = append(h.aObjs, aObject{name: name})
	}
	for i := range h.aObjs {
		h.waitCondition(t, "sim", nsA, h.aObjs[i].name, "Ready", 60*time.Second)
		var o simv1alpha1.SimIntegration
		h.must(t, h.c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: h.aObjs[i].name}, &o))
		if o.Status.ID == "" {
			t.Fatalf("%s is Ready without a remote id", o.Name)
		}
		h.aObjs[i].id = o.Status.ID
		h.aIDs = append(h.aIDs, o.Status.ID)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func (h *hostile) startEditor(t *testing.T) {
	h.lat.setPhase("baseline")
	h.ed = &editor{h: h, objs: h.aObjs, lat: h.lat, want: map[string]string{}, stop: make(chan struct{}),
		done: make(chan struct{}), timeout: 60 * time.Second}
	go h.ed.run()
	h.ready = &readyWatch{}
	h.stopWatch, h.watchDone = make(chan struct{}), make(chan struct{})
	go h.ready.run(h, h.stopWatch, h.watchDone)
	t.Cleanup(func() { h.stopEditor(t) })
	// A few undisturbed edits first: the reference figures.
	time.Sleep(5 * time.Second)
	st := h.lat.stats("baseline")
	t.Logf("A before any attack: %s", st)
	h.latencyFigures("baseline", st)
}

func (h *hostile) stopEditor(t *testing.T) {
	if h.ed == nil {
		return
	}
	close(h.ed.stop)
	<-h.ed.done
	close(h.stopWatch)
	<-h.watchDone
	h.ed.failMu.Lock()
	for _, f := range h.ed.failed {
		t.Errorf("A's editor: %s", f)
	}
	h.ed.failMu.Unlock()
	h.ready.mu.Lock()
	h.figure("hostile.a.readySamples", h.ready.samples)
	h.figure("hostile.a.notReadySamples", len(h.ready.notReady))
	for i, s := range h.ready.notReady {
		if i == 10 {
			t.Errorf("... and %d more", len(h.ready.notReady)-10)
			break
		}
		t.Errorf("one of A's objects was not Ready: %s", s)
	}
	h.ready.mu.Unlock()
	h.figure("hostile.a.edits", h.ed.edits.Load())
	h.ed = nil
}

func (h *hostile) latencyFigures(phase string, st latencyStats) {
	key := "hostile." + strings.ReplaceAll(phase, " ", "-") + ".a"
	h.figure(key, fmt.Sprintf("p50 %s p99 %s max %s (%d edits)", st.p50.Round(time.Millisecond),
		st.p99.Round(time.Millisecond), st.max.Round(time.Millisecond), st.n))
}

// attack runs one attack from team-b for at least minDur while A keeps editing, then checks A.
func (h *hostile) attack(t *testing.T, name string, minDur time.Duration, run func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		h.lat.setPhase(name)
		begin := time.Now()
		run(t)
		if rest := minDur - time.Since(begin); rest > 0 {
			time.Sleep(rest)
		}
		h.checkA(t)
		h.lat.setPhase(name + " (after)")
		st := h.lat.stats(name)
		t.Logf("A during %q (%s): %s", name, time.Since(begin).Round(100*time.Millisecond), st)
		h.latencyFigures(name, st)
		h.figure("hostile."+strings.ReplaceAll(name, " ", "-")+".duration", time.Since(begin).Round(100*time.Millisecond).String())
		if st.n < 5 {
			t.Errorf("only %d of A's edits were measured during the attack", st.n)
		}
		if st.p99 > aBound {
			t.Errorf("A's edits reached the remote with p99 %s during %q (bound %s): %s", st.p99, name, aBound, st)
		}
	})
}

// checkA waits (briefly) until every one of A's objects is Ready for its generation and its remote
// object holds the description last written. The editor is paused meanwhile.
func (h *hostile) checkA(t *testing.T) {
	t.Helper()
	h.ed.mu.Lock()
	defer h.ed.mu.Unlock()
	ctx := context.Background()
	names := h.aNames()
	err := poll(20*time.Second, func() error {
		for _, name := range names {
			var o simv1alpha1.SimIntegration
			if err := h.c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: name}, &o); err != nil {
				return err
			}
			c := meta.FindStatusCondition(o.Status.Conditions, "Ready")
			if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != o.Generation {
				return fmt.Errorf("%s not Ready for generation %d: %s", name, o.Generation, condSummary(o.Status.Conditions))
			}
			r, ok, err := h.Fake.Object(ctx, o.Status.ID)
			if err != nil || !ok {
				return fmt.Errorf("%s: remote object %s: %v %w", name, o.Status.ID, ok, err)
			}
			if want := *o.Spec.Description; r.Description() != want {
				return fmt.Errorf("%s: remote description %q, spec %q", name, r.Description(), want)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("A's objects after the attack: %v", err)
	}
}

// aNames are A's objects that must stay Ready.
func (h *hostile) aNames() []string {
	h.aMu.Lock()
	defer h.aMu.Unlock()
	names := slices.Clone(h.aExtra)
	for _, o := range h.aObjs {
		names = append(names, o.name)
	}
	return names
}

// labelled marks B's objects by attack, to list them.
func labelled(o client.Object, attack string) {
	o.SetLabels(map[string]string{"attack": attack})
}

func (h *hostile) listB(t *testing.T, attack string) []simv1alpha1.SimIntegration {
	t.Helper()
	var list simv1alpha1.SimIntegrationList
	h.must(t, h.c.List(context.Background(), &list, client.InNamespace(nsB), client.MatchingLabels{"attack": attack}))
	return list.Items
}

// 1. Starvation: a Tenant with valid credentials of its own and a budget of one request an hour, 8
// SimIntegrations, then a flood of 100 more. None may hold a worker: each ends Reconciling,
// RateLimited. A budget period of a year is refused at admission.
func (h *hostile) starvation(t *testing.T) {
	ctx := context.Background()
	year := h.tenantSpec("b-starve-client")
	year.RateLimit = simv1alpha1.RateLimit{Requests: 1, Period: metav1.Duration{Duration: 8760 * time.Hour}}
	err := h.c.Create(ctx, &simv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "b-year"}, Spec: year})
	switch {
	case err == nil:
		t.Errorf("a Tenant with rateLimit.period 8760h was admitted")
	case !strings.Contains(err.Error(), "rateLimit.period must be between 1s and 1h"):
		t.Errorf("rateLimit.period 8760h refused with %q, want the CEL message naming the bounds", err)
	default:
		t.Logf("rateLimit.period 8760h refused at admission: %s", lastLine(err.Error()))
	}

	h.must(t, h.c.Create(ctx, secretIn(nsB, "b-starve-client", map[string]string{"clientId": bStarveClientID, "clientSecret": h.bStarveSecret})))
	spec := h.tenantSpec("b-starve-client")
	spec.RateLimit = simv1alpha1.RateLimit{Requests: 1, Period: metav1.Duration{Duration: time.Hour}}
	h.createTenant(t, nsB, "b-starve", spec)
	h.waitCondition(t, "tenant", nsB, "b-starve", "Ready", 30*time.Second)
	begin := time.Now()
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprintf("b-starve-%d", i))
	}
	for i := range 100 {
		names = append(names, fmt.Sprintf("b-flood-%03d", i))
	}
	for i, name := range names {
		o := newSimIn(nsB, name, simv1alpha1.TenantReference{Name: "b-starve"}, "team-b starving", map[string]any{"k": "v"})
		labelled(o, "starvation")
		h.must(t, h.c.Create(ctx, o))
		if i == 7 {
			time.Sleep(3 * time.Second) // the 8 first, then the flood
		}
	}
	var counts map[string]int
	err = poll(60*time.Second, func() error {
		counts = map[string]int{}
		var waiting []string
		for _, o := range h.listB(t, "starvation") {
			c := meta.FindStatusCondition(o.Status.Conditions, "Reconciling")
			r := meta.FindStatusCondition(o.Status.Conditions, "Ready")
			switch {
			case c != nil && c.Status == metav1.ConditionTrue && c.Reason == simv1alpha1.ReasonRateLimited:
				counts["RateLimited"]++
			case r != nil && r.Status == metav1.ConditionTrue:
				counts["Ready"]++ // the one request of the hour may have been a create
			default:
				counts["other"]++
				waiting = append(waiting, o.Name+" "+condSummary(o.Status.Conditions))
			}
		}
		if counts["RateLimited"]+counts["Ready"] < len(names) || counts["Ready"] > 1 {
			if len(waiting) > 3 {
				waiting = waiting[:3]
			}
			return fmt.Errorf("%v; e.g. %v", counts, waiting)
		}
		return nil
	})
	if err != nil {
		t.Errorf("B's rate-limited objects: want every one Reconciling=True, RateLimited (at most one Ready): %v", err)
	}
	var sample string
	if c := meta.FindStatusCondition(h.listB(t, "starvation")[0].Status.Conditions, "Reconciling"); c != nil {
		sample = c.Message
	}
	t.Logf("starvation: %d objects on a budget of 1/h: %v after %s; e.g. %q", len(names), counts,
		time.Since(begin).Round(100*time.Millisecond), sample)
	h.figure("hostile.starvation.b", fmt.Sprintf("%v of %d after %s", counts, len(names), time.Since(begin).Round(100*time.Millisecond)))
}

// 2. A Tenant with A's token URL and client id but a wrong secret (and a budget of one request an
// hour, to lower A's if it could), whose token endpoint first fails transiently; an ObserveOnly
// SimIntegration naming one of A's remote objects and an AdoptByName one naming another. B's Tenant
// must end Stalled, Unauthorized; B's objects are never Ready and learn nothing of A's.
func (h *hostile) joinBudget(t *testing.T) {
	ctx := context.Background()
	seq := lastSeq(t, h.suite)
	h.must(t, h.c.Create(ctx, secretIn(nsB, "b-join-client", map[string]string{"clientId": aClientID, "clientSecret": h.wrongSecret})))
	h.must(t, h.Fake.InjectFault(ctx, map[string]any{"match": map[string]any{"pathContains": "/oauth/token"}, "count": 10, "status": 503}))
	spec := h.tenantSpec("b-join-client")
	spec.TokenURL = h.Fake.URL + "/oauth/token"
	spec.RateLimit = simv1alpha1.RateLimit{Requests: 1, Period: metav1.Duration{Duration: time.Hour}}
	h.createTenant(t, nsB, "b-join", spec)
	observe := newSimIn(nsB, "b-join-observe", simv1alpha1.TenantReference{Name: "b-join"}, "what does A have?", nil)
	observe.Spec.Name = h.aObjs[1].name
	observe.Spec.ManagementPolicy = simv1alpha1.ManagementPolicyObserveOnly
	adopt := newSimIn(nsB, "b-join-adopt", simv1alpha1.TenantReference{Name: "b-join"}, "taken over by team-b", map[string]any{"k": "team-b"})
	adopt.Spec.Name = h.aObjs[2].name
	adopt.Spec.AdoptionPolicy = simv1alpha1.AdoptionPolicyAdoptByName
	for _, o := range []*simv1alpha1.SimIntegration{observe, adopt} {
		labelled(o, "join")
		h.must(t, h.c.Create(ctx, o))
	}
	// B's objects are never Ready, while the token endpoint fails and after.
	transient, stalledAt := false, time.Duration(0)
	begin := time.Now()
	for time.Since(begin) < 12*time.Second {
		conds, _, err := h.conditionsOf("tenant", nsB, "b-join")
		if err == nil {
			r, st := meta.FindStatusCondition(conds, "Ready"), meta.FindStatusCondition(conds, "Stalled")
			if r != nil && r.Status != metav1.ConditionTrue && (st == nil || st.Status != metav1.ConditionTrue) {
				transient = true
			}
			if st != nil && st.Status == metav1.ConditionTrue && stalledAt == 0 {
				stalledAt = time.Since(begin)
			}
		}
		for _, o := range h.listB(t, "join") {
			if c := meta.FindStatusCondition(o.Status.Conditions, "Ready"); c != nil && c.Status == metav1.ConditionTrue {
				t.Errorf("%s is Ready through a Tenant whose credentials never produced a token: %s", o.Name, condSummary(o.Status.Conditions))
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	h.must(t, h.Fake.ClearFaults(ctx))
	c := h.waitCondition(t, "tenant", nsB, "b-join", "Stalled", 30*time.Second, simv1alpha1.ReasonUnauthorized)
	for _, o := range h.listB(t, "join") {
		st := meta.FindStatusCondition(o.Status.Conditions, "Stalled")
		rc := meta.FindStatusCondition(o.Status.Conditions, "Reconciling")
		stalled := st != nil && st.Status == metav1.ConditionTrue
		waiting := rc != nil && rc.Status == metav1.ConditionTrue
		if !stalled && !waiting {
			t.Errorf("%s: want Stalled or Reconciling for its not-Ready Tenant: %s", o.Name, condSummary(o.Status.Conditions))
		}
		for _, cd := range o.Status.Conditions {
			if cd.Status == metav1.ConditionTrue && cd.Reason != simv1alpha1.ReasonTenantNotReady {
				t.Errorf("%s: %s=True with reason %s, want TenantNotReady", o.Name, cd.Type, cd.Reason)
			}
		}
		if o.Status.ID != "" || len(o.Status.Drift) > 0 || o.Status.RemoteCreated != nil || o.Status.RemoteModified != nil {
			t.Errorf("%s learnt about a remote object: id %q drift %v created %v modified %v", o.Name, o.Status.ID,
				o.Status.Drift, o.Status.RemoteCreated, o.Status.RemoteModified)
		}
		h.noneOfA(t, "status of "+o.Name, rawJSON(o.Status))
	}
	events, _, err := h.namespaceEvents(ctx, nsB)
	h.must(t, err)
	h.noneOfA(t, "team-b's Events", events)
	// Nothing was sent on B's behalf: no SIM request without a valid token, no write carrying B's values.
	reqs, err := h.Fake.Requests(ctx, "", "")
	h.must(t, err)
	tokenTries, token503 := 0, 0
	for _, r := range reqs {
		if r.Seq <= seq {
			continue
		}
		switch {
		case r.Path == "/oauth/token" && r.Status == 503:
			token503++
		case r.Path == "/oauth/token" && r.Status == 401:
			tokenTries++
		case r.Path != "/oauth/token" && (r.Status == 401 || r.ClientID == ""):
			t.Errorf("a SIM request without a valid token reached the fake: %s", harness.FormatRequest(r))
		case strings.Contains(r.Body, "taken over by team-b") || strings.Contains(r.Body, "team-b\""):
			t.Errorf("a request carried B's values: %s", harness.FormatRequest(r))
		}
	}
	msg := ""
	if c != nil {
		msg = c.Message
	}
	if token503 == 0 {
		t.Errorf("B's token requests never met the transient failures")
	}
	t.Logf("join: B's token requests met %d transient 503s (not Ready, not Stalled seen: %v), then %d refusals; Stalled after %s (%q)",
		token503, transient, tokenTries, stalledAt.Round(100*time.Millisecond), msg)
	h.figure("hostile.join.b", fmt.Sprintf("token 503s=%d (transient seen: %v), then 401s=%d; Stalled after %s", token503, transient,
		tokenTries, stalledAt.Round(100*time.Millisecond)))
}

// noneOfA reports A's ids, names, descriptions and field values in a text of B's.
func (h *hostile) noneOfA(t *testing.T, what, text string) {
	t.Helper()
	for _, id := range h.aIDs {
		if strings.Contains(text, id) {
			t.Errorf("%s contains A's remote id %s", what, id)
		}
	}
	for _, p := range []string{"team-a-sim-", "team-a-desc-", "team-a-field-"} {
		if i := strings.Index(text, p); i >= 0 {
			t.Errorf("%s contains A's %q: …%s…", what, p, text[max(0, i-60):min(len(text), i+60)])
		}
	}
}

// bOwn creates B's own, valid Tenant once.
func (h *hostile) bOwn(t *testing.T) {
	if h.bOwnExists {
		return
	}
	h.must(t, h.c.Create(context.Background(), secretIn(nsB, "b-own-client", map[string]string{"clientId": bClientID, "clientSecret": h.bSecret})))
	h.createTenant(t, nsB, "b-own", h.tenantSpec("b-own-client"))
	h.waitCondition(t, "tenant", nsB, "b-own", "Ready", 30*time.Second)
	h.bOwnExists = true
}

type echoCase struct {
	name, value string
	// form is the fake's echoForm; stored echoes the stored object on a PATCH; status 500 makes
	// the rejection a server fault.
	form   string
	stored bool
	status int
}

// 3. Secret echo: the fake refuses B's writes with a text that quotes B's secret attribute value,
// in several shapes. Each object is Stalled, InvalidSpec (a 5xx: Reconciling, Retrying) with a
// message holding no 8-byte run of the value, and neither the log nor the Events hold one.
func (h *hostile) secretEcho(t *testing.T) {
	ctx := context.Background()
	h.bOwn(t)
	pem, pemCore := pemKey()
	cases := []echoCase{
		{name: "pem", value: pem},
		{name: "spaces", value: randText(6) + "  " + randText(6) + "  " + randText(12)},
		{name: "long", value: randText(320)},
		{name: "quotes", value: `q"` + randText(10) + `<b>'&` + randText(10) + `"</script>`},
		{name: "url", value: "p@ss w/rd+?&=" + randText(16), form: "url"},
		{name: "json", value: "j\"s\\o\n" + randText(16) + "\t<>", form: "json"},
		{name: "short", value: "q#Z"},
		{name: "stored", value: randText(40), stored: true},
		{name: "5xx", value: randText(40), status: 500},
	}
	seq := lastSeq(t, h.suite)
	caseNeedles := map[string]*needles{}
	for _, c := range cases {
		label := "B's echoed secret (" + c.name + ")"
		if c.name == "pem" {
			// The armor lines are not secret; the scans of logs and Events look for the key itself.
			h.secretValues[label] = c.value
			h.needles.add(label, pemCore)
		} else {
			h.secret(label, c.value)
		}
		n := newNeedles()
		n.add(c.name, c.value)
		caseNeedles[c.name] = n
		name := "b-echo-" + c.name
		h.must(t, h.c.Create(ctx, secretIn(nsB, name, map[string]string{"value": c.value})))
		trigger := name + "-trigger"
		rule := map[string]any{"pointer": "/description", "value": trigger, "echo": "/attributes/password",
			"message": "The password {echo} is not valid for this integration."}
		switch {
		case c.form != "":
			rule["echoForm"] = c.form
		case c.stored:
			rule["echo"] = "/attributes"
			rule["message"] = "Cannot update the integration with attributes {echo}."
		case c.status != 0:
			rule["status"] = c.status
			rule["message"] = "Internal error while saving {echo}"
		}
		h.must(t, h.Fake.Reject(ctx, rule))
		desc := trigger
		if c.stored {
			desc = "stored first"
		}
		o := newSimIn(nsB, name, simv1alpha1.TenantReference{Name: "b-own"}, desc, map[string]any{"k": "team-b"})
		o.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{secretAttr("password", name, "value")}
		labelled(o, "echo")
		h.must(t, h.c.Create(ctx, o))
	}
	// The stored case: created as it is, then changed so that the PATCH, which carries only the
	// description, is refused with the stored attributes (password included) quoted.
	h.waitCondition(t, "sim", nsB, "b-echo-stored", "Ready", 30*time.Second)
	h.must(t, h.c.Patch(ctx, &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "b-echo-stored"}},
		client.RawPatch(types.MergePatchType, []byte(`{"spec":{"description":"b-echo-stored-trigger"}}`))))

	var rows []string
	for _, c := range cases {
		name := "b-echo-" + c.name
		var cond *metav1.Condition
		if c.status >= 500 {
			cond = h.waitCondition(t, "sim", nsB, name, "Reconciling", 30*time.Second, simv1alpha1.ReasonRetrying)
		} else {
			cond = h.waitCondition(t, "sim", nsB, name, "Stalled", 30*time.Second, simv1alpha1.ReasonInvalidSpec)
		}
		if cond == nil {
			continue
		}
		conds, _, _ := h.conditionsOf("sim", nsB, name)
		for _, cd := range conds {
			if found := caseNeedles[c.name].find(cd.Message); len(found) > 0 {
				t.Errorf("%s: the %s message holds part of the secret (%q): %q", name, cd.Type, found[c.name], cd.Message)
			}
		}
		rows = append(rows, fmt.Sprintf("%s: %s %q", c.name, cond.Reason, trim(cond.Message)))
	}
	// Each rejection was really answered (so each message above is the operator's rendering of an echo).
	reqs, err := h.Fake.Requests(ctx, "", "")
	h.must(t, err)
	answered := map[string]bool{}
	for _, r := range reqs {
		if r.Seq <= seq || r.Status < 400 || r.Status == 401 {
			continue
		}
		for _, c := range cases {
			if strings.Contains(r.Body, `"b-echo-`+c.name+`-trigger"`) {
				answered[c.name] = true
			}
		}
	}
	for _, c := range cases {
		if !answered[c.name] {
			t.Errorf("the fake never answered an echoing rejection for %s", c.name)
		}
	}
	// Deleting: the remote refuses the DELETE with a 500 quoting the stored object. The delete sends
	// no attribute, so only the delete path's own declaration of the secret attributes redacts it.
	delValue := randText(40)
	h.secret("B's echoed secret (delete)", delValue)
	delName := "b-echo-delete"
	h.must(t, h.c.Create(ctx, secretIn(nsB, delName, map[string]string{"value": delValue})))
	od := newSimIn(nsB, delName, simv1alpha1.TenantReference{Name: "b-own"}, delName, map[string]any{"k": "team-b"})
	od.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{secretAttr("password", delName, "value")}
	labelled(od, "echo")
	h.must(t, h.c.Create(ctx, od))
	h.waitCondition(t, "sim", nsB, delName, "Ready", 30*time.Second)
	h.must(t, h.Fake.Reject(ctx, map[string]any{"pointer": "/description", "value": delName, "status": 500,
		"echo": "/attributes", "message": "Cannot delete the integration with attributes {echo}"}))
	h.must(t, h.c.Delete(ctx, od))
	if cond := h.waitCondition(t, "sim", nsB, delName, "Reconciling", 30*time.Second, simv1alpha1.ReasonRetrying); cond != nil {
		dn := newNeedles()
		dn.add("delete", delValue)
		if found := dn.find(cond.Message); len(found) > 0 {
			t.Errorf("%s: the Reconciling message holds part of the secret (%q): %q", delName, found["delete"], cond.Message)
		}
		rows = append(rows, fmt.Sprintf("delete: %s %q", cond.Reason, trim(cond.Message)))
	}
	h.must(t, h.Fake.ClearFaults(ctx)) // every echo case is checked: let the delete through
	cases = append(cases, echoCase{name: "delete", value: delValue})

	// The manager's log and B's Events hold no run of any of them either.
	all := newNeedles()
	for _, c := range cases {
		v := c.value
		if c.name == "pem" {
			v = pemCore
		}
		all.add(c.name, v)
	}
	found, size, err := all.findInFile(h.ManagerLog)
	h.must(t, err)
	reportLogFindings(t, "the manager log", found)
	if err := logHas(h.ManagerLog, "Reconciler error"); err != nil {
		t.Errorf("the 5xx case left no Reconciler error in the log (was the error path taken?): %v", err)
	}
	events, nEvents, err := h.namespaceEvents(ctx, nsB)
	h.must(t, err)
	for label, run := range all.find(events) {
		t.Errorf("team-b's Events hold part of the %s secret: %q", label, run)
	}
	t.Logf("secret echo (log %d bytes, %d Events scanned):\n%s", size, nEvents, strings.Join(rows, "\n"))
	h.figure("hostile.echo.cases", len(cases))
}

// 4. Confused deputy: a ClusterTenant that allows team-a only; B's AdoptByName and external-id
// objects naming an integration made in the UI are Stalled, TenantNotAllowed, and nothing is sent
// for them, not even when they are deleted. B's secret attributes naming a service-account token or
// a Helm release Secret are Stalled, InvalidSpec, before anything is sent.
func (h *hostile) confusedDeputy(t *testing.T) {
	ctx := context.Background()
	h.bOwn(t)
	h.must(t, h.c.Create(ctx, secretIn(harness.OperatorNamespace, "shared-ct-client", map[string]string{"clientId": ctClientID, "clientSecret": h.ctSecret})))
	ct := &simv1alpha1.ClusterTenant{ObjectMeta: metav1.ObjectMeta{Name: ctName}}
	ct.Spec.TenantSpec = h.tenantSpec("shared-ct-client")
	ct.Spec.Namespaces = []string{nsA}
	h.must(t, h.c.Create(ctx, ct))
	h.waitCondition(t, "clustertenant", "", ctName, "Ready", 30*time.Second)
	// A's own use of the ClusterTenant works (the scope is what stops B).
	aCT := newSimIn(nsA, "team-a-sim-ct", simv1alpha1.TenantReference{Kind: simv1alpha1.TenantKindClusterTenant, Name: ctName},
		"team-a-desc-ct", map[string]any{"owner": "team-a-field-ct"})
	h.must(t, h.c.Create(ctx, aCT))
	h.waitCondition(t, "sim", nsA, aCT.Name, "Ready", 30*time.Second)
	h.must(t, h.c.Get(ctx, client.ObjectKeyFromObject(aCT), aCT))
	h.aIDs = append(h.aIDs, aCT.Status.ID)
	h.aMu.Lock()
	h.aExtra = append(h.aExtra, aCT.Name)
	h.aMu.Unlock()

	uiID, err := h.Fake.InsertObject(ctx, map[string]any{"name": "ui-made-integration", "description": "made in the UI",
		"type": "ServiceNow Service Desk", "attributes": map[string]any{"url": "https://ui.example", "uid": "ui-user"}})
	h.must(t, err)
	before, _, err := h.Fake.Object(ctx, uiID)
	h.must(t, err)
	saToken := h.secret("a service-account token of team-b", randText(40))
	helmValue := h.secret("a Helm release of team-b", randText(40))
	seq := lastSeq(t, h.suite)

	ref := simv1alpha1.TenantReference{Kind: simv1alpha1.TenantKindClusterTenant, Name: ctName}
	adopt := newSimIn(nsB, "b-deputy-adopt", ref, "taken over by team-b", map[string]any{"url": "https://team-b.example"})
	adopt.Spec.Name = "ui-made-integration"
	adopt.Spec.AdoptionPolicy = simv1alpha1.AdoptionPolicyAdoptByName
	extID := newSimIn(nsB, "b-deputy-extid", ref, "taken over by team-b", map[string]any{"url": "https://team-b.example"})
	extID.Annotations = map[string]string{simv1alpha1.AnnotationExternalID: uiID}
	fresh := newSimIn(nsB, "b-deputy-new", ref, "made by team-b through A's ClusterTenant", nil)
	for _, o := range []*simv1alpha1.SimIntegration{adopt, extID, fresh} {
		labelled(o, "deputy")
		h.must(t, h.c.Create(ctx, o))
	}
	sa := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "b-sa-token",
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type: corev1.SecretTypeServiceAccountToken, StringData: map[string]string{"token": saToken}}
	helm := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "sh.helm.release.v1.b.v1"},
		Type: "helm.sh/release.v1", StringData: map[string]string{"release": helmValue}}
	h.must(t, h.c.Create(ctx, sa))
	h.must(t, h.c.Create(ctx, helm))
	for _, c := range []struct{ name, secret, key string }{{"b-sa-token", sa.Name, "token"}, {"b-helm-release", helm.Name, "release"}} {
		o := newSimIn(nsB, c.name, simv1alpha1.TenantReference{Name: "b-own"}, "sends a cluster credential", nil)
		o.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{secretAttr("password", c.secret, c.key)}
		labelled(o, "deputy")
		h.must(t, h.c.Create(ctx, o))
	}

	var rows []string
	for _, name := range []string{adopt.Name, extID.Name, fresh.Name} {
		if c := h.waitCondition(t, "sim", nsB, name, "Stalled", 30*time.Second, simv1alpha1.ReasonTenantNotAllowed); c != nil {
			rows = append(rows, fmt.Sprintf("%s: %s %q", name, c.Reason, trim(c.Message)))
		}
	}
	for name, typ := range map[string]string{"b-sa-token": "kubernetes.io/service-account-token", "b-helm-release": "helm.sh/release.v1"} {
		if c := h.waitCondition(t, "sim", nsB, name, "Stalled", 30*time.Second, simv1alpha1.ReasonInvalidSpec); c != nil {
			if !strings.Contains(c.Message, typ) {
				t.Errorf("%s: the Stalled message does not name the Secret type %s: %q", name, typ, c.Message)
			}
			rows = append(rows, fmt.Sprintf("%s: %s %q", name, c.Reason, trim(c.Message)))
		}
	}
	time.Sleep(2 * hostilePoll) // time for anything that would still act
	// Deleting B's deputies must not delete the UI's object through the ClusterTenant either.
	for _, o := range []*simv1alpha1.SimIntegration{adopt, extID} {
		h.must(t, client.IgnoreNotFound(h.c.Delete(ctx, o)))
	}
	h.must(t, poll(30*time.Second, func() error {
		for _, o := range []*simv1alpha1.SimIntegration{adopt, extID} {
			if err := h.c.Get(ctx, client.ObjectKeyFromObject(o), &simv1alpha1.SimIntegration{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s not gone yet (%w)", o.Name, err)
			}
		}
		return nil
	}))
	time.Sleep(time.Second)
	after, ok, err := h.Fake.Object(ctx, uiID)
	h.must(t, err)
	if !ok {
		t.Errorf("the integration made in the UI was deleted through a ClusterTenant that does not allow team-b")
	} else if !after.Modified.Equal(before.Modified) || rawJSON(after.Doc) != rawJSON(before.Doc) {
		t.Errorf("the integration made in the UI was changed on B's behalf:\nbefore %s\nafter  %s", rawJSON(before.Doc), rawJSON(after.Doc))
	}
	reqs, err := h.Fake.Requests(ctx, "", "")
	h.must(t, err)
	for _, r := range reqs {
		if r.Seq <= seq {
			continue
		}
		if strings.Contains(r.Path, uiID) || strings.Contains(r.Body, "by team-b") || strings.Contains(r.Body, "b-deputy") ||
			strings.Contains(r.Body, saToken) || strings.Contains(r.Body, helmValue) || strings.Contains(r.Body, "cluster credential") {
			t.Errorf("a request was sent on B's behalf: %s", harness.FormatRequest(r))
		}
	}
	if objs, _ := h.Fake.ObjectsNamed(ctx, fresh.Name); len(objs) != 0 {
		t.Errorf("%s was created through a ClusterTenant that does not allow team-b", fresh.Name)
	}
	t.Logf("confused deputy:\n%s", strings.Join(rows, "\n"))
	h.figure("hostile.deputy.stalled", len(rows))
}

// 5. Memory, in two parts. Secrets: 8 SimIntegrations with 32 secret attributes each, over 32
// Secrets of 32 keys of 30 KiB (object i reads key i of every Secret, so the whole Secrets are 4
// times what is referenced), then B deletes the objects and the Secrets. Churn: 500 updates of a
// Tenant's credentials with 250-character client ids (each a new client, then Unauthorized), then B
// deletes the Tenant. The heap after forced collections may grow by at most memPeakBound with the
// secret attributes and churnBound through the churn, and must come back within memAfterBound of
// the baseline after each part. Before the fixes (35a3350, 200 updates) it grew by 34 MiB with the
// Secrets (whole Secrets kept), 4.6 MiB more through the churn (23 KiB per credential version), and
// stayed 38.7 MiB up once everything was deleted.
func (h *hostile) memory(t *testing.T) {
	const (
		nSecrets, nKeys, valueLen, nSims, updates = 32, 32, 30 << 10, 8, 500
		memPeakBound                              = 24 * mib
		churnBound                                = 6 * mib
		memAfterBound                             = 6 * mib
	)
	ctx := context.Background()
	h.bOwn(t)
	base := h.settledHeap(t)
	t.Logf("memory: baseline %s", base)

	for j := range nSecrets {
		data := map[string][]byte{}
		for k := range nKeys {
			v := randText(valueLen)
			data[fmt.Sprintf("k%02d", k)] = []byte(v)
			if k < nSims {
				h.secret(fmt.Sprintf("B's memory Secret %d key %d", j, k), v[:64])
			}
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: fmt.Sprintf("b-mem-%02d", j)}, Data: data}
		labelled(s, "memory")
		h.must(t, h.c.Create(ctx, s))
	}
	for i := range nSims {
		o := newSimIn(nsB, fmt.Sprintf("b-mem-%d", i), simv1alpha1.TenantReference{Name: "b-own"}, "memory", nil)
		o.Spec.Name = fmt.Sprintf("b-mem-absent-%d", i)
		o.Spec.ManagementPolicy = simv1alpha1.ManagementPolicyObserveOnly // reads its Secrets, writes nothing
		for j := range nSecrets {
			o.Spec.SecretAttributes = append(o.Spec.SecretAttributes,
				secretAttr(fmt.Sprintf("mem%02d", j), fmt.Sprintf("b-mem-%02d", j), fmt.Sprintf("k%02d", i)))
		}
		labelled(o, "memory")
		h.must(t, h.c.Create(ctx, o))
	}
	for i := range nSims { // each has read its 32 values, then found no remote object to observe
		h.waitReason(t, "sim", nsB, fmt.Sprintf("b-mem-%d", i), "Ready", metav1.ConditionFalse, simv1alpha1.ReasonRemoteNotFound, 60*time.Second)
	}
	withSecrets := h.settledHeap(t)
	t.Logf("memory: with %d objects × %d secret attributes of %d KiB: %s", nSims, nSecrets, valueLen>>10, withSecrets)
	for i := range nSims {
		h.must(t, client.IgnoreNotFound(h.c.Delete(ctx, &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: fmt.Sprintf("b-mem-%d", i)}})))
	}
	h.must(t, poll(30*time.Second, func() error {
		if n := len(h.listB(t, "memory")); n > 0 {
			return fmt.Errorf("%d memory objects left", n)
		}
		return nil
	}))
	time.Sleep(3 * time.Second) // the reconciles of the deletions
	simsGone := h.settledHeap(t)
	for j := range nSecrets {
		h.must(t, client.IgnoreNotFound(h.c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: fmt.Sprintf("b-mem-%02d", j)}})))
	}
	time.Sleep(3 * time.Second)
	secretsGone := h.settledHeap(t)
	t.Logf("memory: B's objects deleted: %s; their Secrets too: %s", simsGone, secretsGone)

	// Churn: credential updates with long client ids.
	h.must(t, h.c.Create(ctx, secretIn(nsB, "b-churn-client", map[string]string{"clientId": bClientID, "clientSecret": h.bSecret})))
	h.createTenant(t, nsB, "b-churn", h.tenantSpec("b-churn-client"))
	h.waitCondition(t, "tenant", nsB, "b-churn", "Ready", 30*time.Second)
	beforeChurn := h.settledHeap(t)
	seq := lastSeq(t, h.suite)
	begin := time.Now()
	for range updates {
		patch := fmt.Appendf(nil, `{"stringData":{"clientId":%q}}`, "churn-"+randText(244))
		h.must(t, h.c.Patch(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "b-churn-client"}},
			client.RawPatch(types.MergePatchType, patch)))
		time.Sleep(15 * time.Millisecond)
	}
	churnTook := time.Since(begin)
	h.waitCondition(t, "tenant", nsB, "b-churn", "Stalled", 30*time.Second, simv1alpha1.ReasonUnauthorized)
	time.Sleep(2 * time.Second)
	tried := 0
	reqs, err := h.Fake.Requests(ctx, "POST", "/oauth/token")
	h.must(t, err)
	for _, r := range reqs {
		if r.Seq > seq && r.Status == 401 {
			tried++
		}
	}
	withChurn := h.settledHeap(t)
	t.Logf("memory: after %d credential updates in %s (%d reached the token endpoint): %s", updates,
		churnTook.Round(100*time.Millisecond), tried, withChurn)
	if tried < updates/2 {
		t.Errorf("only %d of %d credential versions were tried: the attack did not reach the registry", tried, updates)
	}
	h.must(t, client.IgnoreNotFound(h.c.Delete(ctx, &simv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "b-churn"}})))
	h.must(t, poll(30*time.Second, func() error {
		if err := h.c.Get(ctx, client.ObjectKey{Namespace: nsB, Name: "b-churn"}, &simv1alpha1.Tenant{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("tenant b-churn not gone (%w)", err)
		}
		return nil
	}))
	h.must(t, client.IgnoreNotFound(h.c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "b-churn-client"}})))
	time.Sleep(3 * time.Second)
	after := h.settledHeap(t)
	t.Logf("memory: B's churned Tenant deleted: %s", after)

	d := func(x heap) float64 { return (x.alloc - base.alloc) / mib }
	h.figure("hostile.memory.heapMiB", fmt.Sprintf("baseline %.1f; with secret attributes %+.1f, objects deleted %+.1f, Secrets deleted %+.1f; "+
		"churn: before %+.1f, after %d updates %+.1f, Tenant deleted %+.1f", base.alloc/mib, d(withSecrets), d(simsGone), d(secretsGone),
		d(beforeChurn), updates, d(withChurn), d(after)))
	h.figure("hostile.memory.churnTokenRequests", tried)
	for _, c := range []struct {
		what     string
		x, since heap
		bound    float64
	}{
		{"with B's secret attributes", withSecrets, base, memPeakBound},
		{"after B deleted its objects", simsGone, base, memAfterBound},
		{"after B deleted its Secrets", secretsGone, base, memAfterBound},
		{fmt.Sprintf("through %d credential versions of one Tenant", updates), withChurn, beforeChurn, churnBound},
		{"after B deleted the churned Tenant", after, base, memAfterBound},
	} {
		if grown := c.x.alloc - c.since.alloc; grown > c.bound {
			t.Errorf("the manager's heap grew %s by %.1f MiB (from %.1f MiB), more than %.0f MiB",
				c.what, grown/mib, c.since.alloc/mib, c.bound/mib)
		}
	}
}

// 6. SSRF: Tenants whose URLs name addresses the allowlist does not name (cloud metadata, another
// loopback address, the allowed IP on another port, an allowed name that resolves to loopback, a
// token URL on that name, user info in the URL). Each is Stalled, HostNotAllowed, no connection
// reaches a listener, and no message shows the user info.
func (h *hostile) ssrf(t *testing.T) {
	ctx := context.Background()
	loop1 := newConnCounter(t, "127.0.0.1")
	loop2 := newConnCounter(t, "127.0.0.2")
	userinfoSecret := h.secret("user info in a URL", randText(32))
	h.must(t, h.c.Create(ctx, secretIn(nsB, "b-ssrf-client", map[string]string{"clientId": bClientID, "clientSecret": h.bSecret})))
	cases := []struct{ name, baseURL, tokenURL, shows string }{
		{name: "b-ssrf-metadata", baseURL: "http://169.254.169.254:" + loop1.port, shows: "169.254.169.254"},
		{name: "b-ssrf-loopback", baseURL: "http://" + loop2.addr, shows: "127.0.0.2"},
		{name: "b-ssrf-port", baseURL: "http://" + loop1.addr},
		{name: "b-ssrf-dns", baseURL: "http://localhost:" + loop1.port},
		{name: "b-ssrf-token", baseURL: h.Fake.URL, tokenURL: "http://localhost:" + loop1.port + "/oauth/token"},
		{name: "b-ssrf-userinfo", baseURL: "http://team-b-user:" + userinfoSecret + "@" + loop2.addr, shows: "127.0.0.2"},
	}
	admitted := map[string]bool{}
	for _, c := range cases {
		spec := h.tenantSpec("b-ssrf-client")
		spec.BaseURL, spec.TokenURL = c.baseURL, c.tokenURL
		err := h.c.Create(ctx, &simv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: c.name}, Spec: spec})
		if err != nil {
			// The apiserver quotes an invalid value back to whoever sent it, as for any field; what
			// matters is that nothing the operator writes (status, Events, log) shows it.
			msg := strings.ReplaceAll(lastLine(err.Error()), userinfoSecret, "<user info>")
			t.Logf("%s: refused at admission: %s", c.name, msg)
			continue
		}
		admitted[c.name] = true
	}
	sim := newSimIn(nsB, "b-ssrf-sim", simv1alpha1.TenantReference{Name: "b-ssrf-dns"}, "through a refused address", nil)
	labelled(sim, "ssrf")
	h.must(t, h.c.Create(ctx, sim))
	var rows []string
	for _, c := range cases {
		if !admitted[c.name] {
			rows = append(rows, c.name+": refused at admission")
			continue
		}
		cond := h.waitCondition(t, "tenant", nsB, c.name, "Stalled", 30*time.Second, simv1alpha1.ReasonHostNotAllowed)
		if cond == nil {
			continue
		}
		if c.shows != "" && !strings.Contains(cond.Message, c.shows) {
			t.Errorf("%s: the message does not name %s: %q", c.name, c.shows, cond.Message)
		}
		if strings.Contains(cond.Message, userinfoSecret) || strings.Contains(cond.Message, "team-b-user") {
			t.Errorf("%s: the message shows the URL's user info: %q", c.name, cond.Message)
		}
		rows = append(rows, fmt.Sprintf("%s: %s %q", c.name, cond.Reason, trim(cond.Message)))
	}
	h.waitCondition(t, "sim", nsB, sim.Name, "Stalled", 30*time.Second, simv1alpha1.ReasonTenantNotReady)
	time.Sleep(2 * hostilePoll)
	if n := loop1.n.Load() + loop2.n.Load(); n != 0 {
		t.Errorf("%d connections reached addresses the allowlist does not name (127.0.0.1:%s: %d, %s: %d)",
			n, loop1.port, loop1.n.Load(), loop2.addr, loop2.n.Load())
	}
	t.Logf("ssrf (listeners on 127.0.0.1:%s and %s, %d connections):\n%s", loop1.port, loop2.addr,
		loop1.n.Load()+loop2.n.Load(), strings.Join(rows, "\n"))
	h.figure("hostile.ssrf.connections", loop1.n.Load()+loop2.n.Load())
}

// nothingOfA: no status and no Event of team-b holds A's ids, names, descriptions or field values.
func (h *hostile) nothingOfA(t *testing.T) {
	ctx := context.Background()
	var sims simv1alpha1.SimIntegrationList
	h.must(t, h.c.List(ctx, &sims, client.InNamespace(nsB)))
	for _, o := range sims.Items {
		h.noneOfA(t, "the status of SimIntegration "+o.Name, rawJSON(o.Status))
	}
	var tenants simv1alpha1.TenantList
	h.must(t, h.c.List(ctx, &tenants, client.InNamespace(nsB)))
	for _, o := range tenants.Items {
		h.noneOfA(t, "the status of Tenant "+o.Name, rawJSON(o.Status))
	}
	events, n, err := h.namespaceEvents(ctx, nsB)
	h.must(t, err)
	h.noneOfA(t, "team-b's Events", events)
	t.Logf("team-b: %d SimIntegrations, %d Tenants and %d Events hold nothing of A's", len(sims.Items), len(tenants.Items), n)
	h.figure("hostile.b.objects", fmt.Sprintf("%d SimIntegrations, %d Tenants, %d Events", len(sims.Items), len(tenants.Items), n))
}

// noSecretsAnywhere: no run of any secret of A or B (and no token) in the manager's log, any Event,
// any status or the metrics.
func (h *hostile) noSecretsAnywhere(t *testing.T) {
	ctx := context.Background()
	found, scanned, err := h.needles.findInFile(h.ManagerLog)
	h.must(t, err)
	reportLogFindings(t, "the manager log", found)
	texts := map[string]string{}
	for _, what := range [][]string{
		{"get", "events", "-A", "-o", "json"},
		{"get", "events.events.k8s.io", "-A", "-o", "json"},
	} {
		out, err := h.Kubectl(ctx, what...)
		h.must(t, err)
		texts["kubectl "+strings.Join(what, " ")] = out
	}
	// Statuses only: a spec holds what its author wrote (the SSRF case's URL carries user info).
	var statuses strings.Builder
	var sims simv1alpha1.SimIntegrationList
	h.must(t, h.c.List(ctx, &sims))
	for _, o := range sims.Items {
		statuses.WriteString(o.Namespace + "/" + o.Name + " " + rawJSON(o.Status))
	}
	var tenants simv1alpha1.TenantList
	h.must(t, h.c.List(ctx, &tenants))
	for _, o := range tenants.Items {
		statuses.WriteString(o.Namespace + "/" + o.Name + " " + rawJSON(o.Status))
	}
	var cts simv1alpha1.ClusterTenantList
	h.must(t, h.c.List(ctx, &cts))
	for _, o := range cts.Items {
		statuses.WriteString(o.Name + " " + rawJSON(o.Status))
	}
	texts["statuses"] = statuses.String()
	m, err := h.metrics()
	h.must(t, err)
	texts["/metrics"] = m
	for what, text := range texts {
		scanned += len(text)
		for label, run := range h.needles.find(text) {
			t.Errorf("%s holds part of %s: %q", what, label, run)
		}
		if tok := tokenRE.FindString(text); tok != "" {
			t.Errorf("%s holds an access token %s...", what, tok[:12])
		}
	}
	if b, err := os.ReadFile(h.ManagerLog); err == nil {
		if tok := tokenRE.FindString(string(b)); tok != "" {
			t.Errorf("the manager log holds an access token %s...", tok[:12])
		}
	}
	t.Logf("scanned %d bytes of log, Events, statuses and metrics for %d secrets", scanned, len(h.secretValues))
	h.figure("hostile.secrets.bytesScanned", scanned)
	h.figure("hostile.secrets.count", len(h.secretValues))
}
