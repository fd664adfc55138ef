// Package reliability is sim-operator's fault-injection suite: the real manager binary (./cmd, with
// the permissions of config/rbac/role.yaml and --zap-log-level=10), the standalone fake IdentityNow
// API (cmd/fake-identitynow, steered through its /_admin/ API) and a local kube-apiserver and etcd
// (envtest). TestReliability is the fast part and runs in `make test`; the long part (soak_test.go,
// build tag soak) runs with `make soak`. docs/reliability.md describes the method and the figures.
//
// It needs KUBEBUILDER_ASSETS and fails, rather than skips, without it. RELIABILITY_KEEP=1 keeps the
// work directory (logs).
package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/test/harness"
)

func TestReliability(t *testing.T) {
	s := start(t)
	t.Run("crash safety", func(t *testing.T) {
		crashSafety(t, s, crashParams{prefix: "crash", sims: 30, kills: 5, minGap: 1500 * time.Millisecond,
			maxGap: 4 * time.Second, workers: 3})
	})
	t.Run("remote faults", func(t *testing.T) { remoteFaults(t, s, 8*time.Second) })
	t.Run("retry-after", func(t *testing.T) { retryAfter(t, s, 8) })
	t.Run("delete while create pending", func(t *testing.T) { deleteWhilePending(t, s) })
	t.Run("bad input", func(t *testing.T) { badInput(t, s) })
	t.Run("leader election", func(t *testing.T) { leaderElection(t, s) })
	t.Run("no secrets anywhere", func(t *testing.T) { noSecrets(t, s) })
	report(t, s)
}

func report(t *testing.T, s *suite) {
	b, _ := json.MarshalIndent(s.figures, "", "  ")
	t.Logf("figures:\n%s", b)
	if p := os.Getenv("RELIABILITY_REPORT"); p != "" {
		_ = os.WriteFile(p, b, 0o644)
	}
}

// remoteFaults: a 5xx storm, connection resets, token revocation and a short token lifetime, each
// while every object changes; then convergence is timed from the end of the fault.
func remoteFaults(t *testing.T, s *suite, storm time.Duration) {
	ctx := context.Background()
	want := faultSet(t, s, "flt", "acme", 8)

	seq := lastSeq(t, s)
	took := remoteFault(t, s, "5xx-storm", want, storm, func() func() {
		s.must(t, s.Fake.SetConfig(ctx, map[string]any{"failureRate": map[string]any{"fraction": 0.5, "status": 503}}))
		return func() { s.must(t, s.Fake.SetConfig(ctx, map[string]any{"failureRate": map[string]any{"fraction": 0}})) }
	})
	st := statusCounts(t, s, seq)
	t.Logf("5xx storm: %d answered 503, %d answered 2xx", st[503], st[200]+st[204])
	s.figure("fault.5xx-storm.503s", st[503])
	checkBound(t, "5xx storm", took)

	seq = lastSeq(t, s)
	took = remoteFault(t, s, "connection-resets", want, 4*time.Second, func() func() {
		s.must(t, s.Fake.InjectFault(ctx, map[string]any{"match": map[string]any{"pathContains": "/sim-integrations"},
			"count": 20, "status": -1}))
		return func() { s.must(t, s.Fake.ClearFaults(ctx)) }
	})
	st = statusCounts(t, s, seq)
	s.figure("fault.connection-resets.count", st[0])
	checkBound(t, "connection resets", took)

	seq = lastSeq(t, s)
	took = remoteFault(t, s, "token-revocation", want, 3*time.Second, func() func() {
		s.must(t, s.Fake.RevokeTokens(ctx))
		return func() {}
	})
	st = statusCounts(t, s, seq)
	s.figure("fault.token-revocation.401s", st[401])
	checkBound(t, "token revocation", took)

	seq = lastSeq(t, s)
	took = remoteFault(t, s, "short-token-ttl", want, 8*time.Second, func() func() {
		s.must(t, s.Fake.SetConfig(ctx, map[string]any{"tokenTTL": "3s"}))
		s.must(t, s.Fake.RevokeTokens(ctx))
		return func() { s.must(t, s.Fake.SetConfig(ctx, map[string]any{"tokenTTL": "749s"})) }
	})
	tokens := 0
	reqs, _ := s.Fake.Requests(ctx, "POST", "/oauth/token")
	for _, r := range reqs {
		if r.Seq > seq {
			tokens++
		}
	}
	st = statusCounts(t, s, seq)
	t.Logf("short token TTL (3s) for 8s: %d token requests, %d answers 401", tokens, st[401])
	s.figure("fault.short-token-ttl.tokenRequests", tokens)
	s.figure("fault.short-token-ttl.401s", st[401])
	checkBound(t, "short token TTL", took)
	s.deleteAll(t, want)
}

// convergeBound is two poll intervals, their 10% jitter and the check's own polling.
const convergeBound = 2*pollInterval + 3*time.Second

func checkBound(t *testing.T, what string, took time.Duration) {
	t.Helper()
	bound := convergeBound
	if took > bound {
		t.Errorf("%s: converged only %s after the fault ended; the contract allows two poll intervals (%s with margin)",
			what, took.Round(100*time.Millisecond), bound)
	}
}

// retryAfter: the fake's per-request escalation (its stress mode, stricter than SailPoint's
// documented backoff: a sliding window of 5 requests a second, and every request while blocked
// escalates the Retry-After to 5 s, then 10 s) plus an injected 429 with Retry-After 10 s; the
// fake's request log must show no request of that client sent before a Retry-After ended.
func retryAfter(t *testing.T, s *suite, n int) {
	ctx := context.Background()
	seq := lastSeq(t, s)
	tiers := []time.Duration{5 * time.Second, 10 * time.Second}
	s.must(t, s.Fake.SetConfig(ctx, map[string]any{"rateLimit": map[string]any{"requests": 5, "period": "1s",
		"escalation": "per-request", "tiers": []string{"5s", "10s"}}}))
	want := map[string]simSpec{}
	for i := range n {
		name := fmt.Sprintf("lim-%02d", i)
		w := simSpec{exists: true, tenant: "limited", description: "start", attrs: map[string]any{"k": "v"}}
		s.must(t, s.c.Create(ctx, newSim(name, w)))
		want[name] = w
	}
	s.converge(t, want, 120*time.Second)
	touch(t, s, want, "limited-1")
	s.converge(t, want, 120*time.Second)

	// One long Retry-After, injected on the next SIM request of that release.
	injectAt := lastSeq(t, s)
	s.must(t, s.Fake.InjectFault(ctx, map[string]any{"match": map[string]any{"pathContains": "/v2025/"},
		"count": 1, "status": 429, "retryAfter": "10s"}))
	touch(t, s, want, "limited-2")
	s.converge(t, want, 120*time.Second)
	s.must(t, s.Fake.SetConfig(ctx, map[string]any{"rateLimit": map[string]any{"requests": 0, "escalation": "documented"}}))

	reqs, err := s.Fake.Requests(ctx, "", "")
	s.must(t, err)
	var mine []harness.Request
	injected := map[int64]time.Duration{}
	for _, r := range reqs {
		if r.Seq <= seq {
			continue
		}
		mine = append(mine, r)
		if r.Seq > injectAt && r.Status == 429 && r.Release == "v2025" && len(injected) == 0 {
			injected[r.Seq] = 10 * time.Second
		}
	}
	if len(injected) == 0 {
		t.Fatal("the injected 429 was not consumed")
	}
	const inFlight = 150 * time.Millisecond
	early, blocks, longest := earlyRequests(mine, rlClientID, "v2025", tiers, injected, inFlight)
	var injAt time.Time
	var firstAfter time.Time
	for _, r := range mine {
		if _, ok := injected[r.Seq]; ok {
			injAt = r.Time
		} else if !injAt.IsZero() && firstAfter.IsZero() && r.ClientID == rlClientID && r.Release == "v2025" && r.Time.Sub(injAt) > inFlight {
			firstAfter = r.Time
		}
	}
	t.Logf("retry-after: %d 429s for %s/v2025 (longest Retry-After %s); first request after the 10s one came %s later; %d early",
		blocks, rlClientID, longest, firstAfter.Sub(injAt).Round(10*time.Millisecond), len(early))
	s.figure("retryAfter.429s", blocks)
	s.figure("retryAfter.longest", longest.String())
	s.figure("retryAfter.gapAfter10s", firstAfter.Sub(injAt).Round(10*time.Millisecond).String())
	s.figure("retryAfter.early", len(early))
	for _, r := range early {
		t.Errorf("request sent before Retry-After ended: %s", harness.FormatRequest(r))
	}
	if firstAfter.Sub(injAt) < 10*time.Second {
		t.Errorf("the first request after a 429 with Retry-After: 10 came after only %s", firstAfter.Sub(injAt))
	}
	s.deleteAll(t, want)
}

// deleteWhilePending deletes a SimIntegration while the fake holds its create response (the
// object is committed remotely, the manager does not know its id yet).
func deleteWhilePending(t *testing.T, s *suite) {
	ctx := context.Background()
	s.must(t, s.Fake.SetConfig(ctx, map[string]any{"createResponseDelay": "4s"}))
	defer func() { s.must(t, s.Fake.SetConfig(ctx, map[string]any{"createResponseDelay": "0s"})) }()
	want := map[string]simSpec{}
	for _, name := range []string{"pending-a", "pending-b"} {
		w := simSpec{exists: true, tenant: "acme", description: "pending", attrs: map[string]any{"k": "v"}}
		s.must(t, s.c.Create(ctx, newSim(name, w)))
		want[name] = w
	}
	s.must(t, poll(30*time.Second, func() error {
		for name := range want {
			objs, err := s.Fake.ObjectsNamed(ctx, name)
			if err != nil || len(objs) == 0 {
				return fmt.Errorf("%s not created remotely yet (%w)", name, err)
			}
		}
		return nil
	}))
	// pending-a: deleted while its create response is held. pending-b: the same, plus kill -9.
	for name := range want {
		s.must(t, s.c.Delete(ctx, &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}))
		want[name] = simSpec{tenant: "acme"}
	}
	s.killAndRestart(t)
	s.must(t, s.Fake.SetConfig(ctx, map[string]any{"createResponseDelay": "0s"}))
	took := s.converge(t, want, 90*time.Second)
	s.stillConverged(t, want, 3*time.Second)
	s.figure("deleteWhilePending.converge", took.Round(100*time.Millisecond).String())
}

// countingListener is an HTTP server on another loopback address that counts requests: a host the
// manager must never contact.
type countingListener struct {
	URL string
	n   atomic.Int64
	srv *http.Server
}

func newCountingListener(t *testing.T, ip string) *countingListener {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	c := &countingListener{URL: "http://" + l.Addr().String()}
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.n.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = c.srv.Serve(l) }()
	t.Cleanup(func() { _ = c.srv.Close() })
	return c
}

type badCase struct {
	name     string
	manifest string
	// admission: the kubectl apply error must contain this. Empty: accepted, then kind/obj must
	// end Stalled with one of reasons.
	admission string
	kind, obj string
	reasons   []string
	// message must appear in the Stalled message.
	message string
	// ready: accepted and synced (the input is sanitised, not refused).
	ready bool
}

func simYAML(name, spec string) string {
	return fmt.Sprintf("apiVersion: sim.identitynow.io/v1alpha1\nkind: SimIntegration\nmetadata:\n  name: %s\nspec:\n%s", name, spec)
}

func tenantYAML(name, spec string) string {
	return fmt.Sprintf("apiVersion: sim.identitynow.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: %s\nspec:\n%s", name, spec)
}

func badInput(t *testing.T, s *suite) {
	ctx := context.Background()
	other := newCountingListener(t, "127.0.0.2")
	otherToken := newCountingListener(t, "127.0.0.3")
	_, err := s.Kubectl(ctx, "create", "namespace", "other")
	s.must(t, err)
	s.must(t, s.c.Create(ctx, secret("other", "elsewhere", map[string]string{"password": attrSecret})))
	s.must(t, s.c.Create(ctx, secret(ns, "bad-client", map[string]string{"clientId": relClientID, "clientSecret": wrongSecret})))
	s.must(t, s.Fake.RejectField(ctx, "/description", "refused-by-identitynow",
		"description: this value is not accepted by the tenant"))
	defer func() { s.must(t, s.Fake.ClearFaults(ctx)) }()
	foreignID, err := s.Fake.InsertObject(ctx, map[string]any{"name": "foreign-object", "description": "made in the UI",
		"type": "ServiceNow Service Desk"})
	s.must(t, err)

	neighbour := map[string]simSpec{"neighbour": {exists: true, tenant: "acme", description: "unaffected",
		attrs: map[string]any{"k": "v"}, secretAttr: true}}
	s.must(t, s.c.Create(ctx, newSim("neighbour", neighbour["neighbour"])))
	s.converge(t, neighbour, 60*time.Second)
	var nb simv1alpha1.SimIntegration
	s.must(t, s.c.Get(ctx, clientKey("neighbour"), &nb))
	neighbourID := nb.Status.ID
	seq := lastSeq(t, s)

	// The neighbour must stay Ready the whole time.
	stop := make(chan struct{})
	var watchErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			c, err := s.condition("sim", "neighbour", "Ready")
			if err == nil && (c == nil || c.Status != metav1.ConditionTrue) && watchErr == nil {
				watchErr = fmt.Errorf("neighbour not Ready: %+v", c)
			}
		}
	})

	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("    k%03d: v\n", i)
	}
	bigVal := strings.Repeat("x", 9000)
	var big strings.Builder
	for i := range 120 {
		fmt.Fprintf(&big, "    k%03d: %s\n", i, bigVal)
	}
	srcs := make([]string, 501)
	for i := range srcs {
		srcs[i] = fmt.Sprintf("  - s%d\n", i)
	}
	acme := "  tenantRef: {name: acme}\n"
	creds := "  credentialsRef: {name: rel-api-client}\n"
	cases := []badCase{
		{name: "invalid UTF-8 in metadata.name", manifest: simYAML("bad-\xff\xfe-name", acme), admission: "invalid"},
		{name: "invalid UTF-8 in spec.name (JSON)", manifest: `{"apiVersion":"sim.identitynow.io/v1alpha1","kind":"SimIntegration","metadata":{"name":"utf8-spec-name"},"spec":{"tenantRef":{"name":"acme"},"name":"bad-` + "\xff\xfe" + `"}}`,
			kind: "sim", obj: "utf8-spec-name", ready: true},
		{name: "upper case and _ in metadata.name", manifest: simYAML("Bad_Name", acme), admission: "RFC 1123"},
		{name: "200 attributes (max 128)", manifest: simYAML("many-attrs", acme+"  attributes:\n"+strings.Join(keys, "")), admission: "128"},
		{name: "1 MiB of attributes (120 × 9 kB, within the schema)", manifest: simYAML("huge-attrs", acme+"  attributes:\n"+big.String()),
			kind: "sim", obj: "huge-attrs", reasons: []string{"InvalidSpec"}},
		{name: "description is a number", manifest: simYAML("wrong-type-desc", acme+"  description: 123\n"), admission: "must be of type string"},
		{name: "sources is a string", manifest: simYAML("wrong-type-sources", acme+"  sources: not-a-list\n"), admission: "must be of type array"},
		{name: "attributes is a string", manifest: simYAML("wrong-type-attrs", acme+"  attributes: not-an-object\n"), admission: "must be of type object"},
		{name: "statusMap value is an object", manifest: simYAML("wrong-type-statusmap", acme+"  statusMap: {a: {b: c}}\n"), admission: "unknown field"},
		{name: "unknown tenant kind", manifest: simYAML("bogus-kind", "  tenantRef: {kind: BogusTenant, name: acme}\n"), admission: "Unsupported value"},
		{name: "no tenantRef", manifest: simYAML("no-tenant", "  description: x\n"), admission: "tenantRef: Required"},
		{name: "unknown deletionPolicy", manifest: simYAML("bad-policy", acme+"  deletionPolicy: Sometimes\n"), admission: "Unsupported value"},
		{name: "501 sources (max 500)", manifest: simYAML("many-sources", acme+"  sources:\n"+strings.Join(srcs, "")), admission: "must have at most 500 items"},
		{name: "description of 2049 characters", manifest: simYAML("long-desc", acme+"  description: "+strings.Repeat("d", 2049)+"\n"), admission: "Too long"},
		{name: "secretKeyRef naming a namespace", manifest: simYAML("secret-ns-field", acme+"  secretAttributes:\n  - name: password\n    secretKeyRef: {name: elsewhere, namespace: other, key: password}\n"), admission: "unknown field"},
		{name: "Tenant with unknown apiRelease", manifest: tenantYAML("bad-release", "  baseURL: "+s.Fake.URL+"\n"+creds+"  apiRelease: v1999\n"), admission: "Unsupported value"},
		{name: "Tenant with a negative rate limit", manifest: tenantYAML("bad-rate", "  baseURL: "+s.Fake.URL+"\n"+creds+"  rateLimit: {requests: -5, period: 10s}\n"), admission: "should be greater than or equal to 1"},
		{name: "Secret of the same name in another namespace", manifest: simYAML("secret-other-ns", acme+"  secretAttributes:\n  - name: password\n    secretKeyRef: {name: elsewhere, key: password}\n"),
			kind: "sim", obj: "secret-other-ns", reasons: []string{"SecretNotFound"}, message: "elsewhere"},
		{name: "missing key in a Secret", manifest: simYAML("secret-missing-key", acme+"  secretAttributes:\n  - name: password\n    secretKeyRef: {name: "+attrSecretName+", key: nope}\n"),
			kind: "sim", obj: "secret-missing-key", reasons: []string{"SecretNotFound"}},
		{name: "secret attribute also in attributes", manifest: simYAML("attr-collision", acme+"  attributes: {password: plain}\n  secretAttributes:\n  - name: password\n    secretKeyRef: {name: "+attrSecretName+", key: password}\n"),
			kind: "sim", obj: "attr-collision", reasons: []string{"InvalidSpec"}, message: "password"},
		{name: "Tenant that does not exist", manifest: simYAML("no-such-tenant", "  tenantRef: {name: nope}\n"),
			kind: "sim", obj: "no-such-tenant", reasons: []string{"TenantNotFound"}},
		{name: "ClusterTenant that does not exist", manifest: simYAML("no-such-clustertenant", "  tenantRef: {kind: ClusterTenant, name: nope}\n"),
			kind: "sim", obj: "no-such-clustertenant", reasons: []string{"TenantNotFound"}},
		{name: "baseURL https://kubernetes.default.svc", manifest: tenantYAML("t-kubernetes", "  baseURL: https://kubernetes.default.svc\n"+creds),
			kind: "tenant", obj: "t-kubernetes", reasons: []string{"HostNotAllowed"}, message: "kubernetes.default.svc"},
		{name: "SimIntegration on that Tenant", manifest: simYAML("on-t-kubernetes", "  tenantRef: {name: t-kubernetes}\n"),
			kind: "sim", obj: "on-t-kubernetes", reasons: []string{"TenantNotReady", "HostNotAllowed"}},
		{name: "baseURL http://169.254.169.254 (cloud metadata)", manifest: tenantYAML("t-metadata", "  baseURL: http://169.254.169.254\n"+creds),
			kind: "tenant", obj: "t-metadata", reasons: []string{"HostNotAllowed"}, message: "169.254.169.254"},
		{name: "baseURL https://10.0.0.1", manifest: tenantYAML("t-ten", "  baseURL: https://10.0.0.1\n"+creds),
			kind: "tenant", obj: "t-ten", reasons: []string{"HostNotAllowed"}, message: "10.0.0.1"},
		{name: "baseURL on another loopback address (listening)", manifest: tenantYAML("t-other-host", "  baseURL: "+other.URL+"\n"+creds),
			kind: "tenant", obj: "t-other-host", reasons: []string{"HostNotAllowed"}, message: "127.0.0.2"},
		{name: "allowed baseURL, tokenURL on another host (listening)", manifest: tenantYAML("t-token-host", "  baseURL: "+s.Fake.URL+"\n  tokenURL: "+otherToken.URL+"/oauth/token\n"+creds),
			kind: "tenant", obj: "t-token-host", reasons: []string{"HostNotAllowed"}, message: "127.0.0.3"},
		{name: "baseURL file:///etc/passwd", manifest: tenantYAML("t-file", "  baseURL: file:///etc/passwd\n"+creds),
			kind: "tenant", obj: "t-file", reasons: []string{"InvalidSpec", "HostNotAllowed"}, admission: ""},
		{name: "Tenant whose credentials Secret is missing", manifest: tenantYAML("t-no-secret", "  baseURL: "+s.Fake.URL+"\n  credentialsRef: {name: nope}\n"),
			kind: "tenant", obj: "t-no-secret", reasons: []string{"SecretNotFound"}},
		{name: "Tenant with a wrong client secret", manifest: tenantYAML("t-bad-client", "  baseURL: "+s.Fake.URL+"\n  credentialsRef: {name: bad-client}\n"),
			kind: "tenant", obj: "t-bad-client", reasons: []string{"Unauthorized"}},
		{name: "a value IdentityNow refuses (400)", manifest: simYAML("remote-refuses", acme+"  description: refused-by-identitynow\n"),
			kind: "sim", obj: "remote-refuses", reasons: []string{"InvalidSpec"}, message: "not accepted by the tenant"},
		{name: "a remote object of that name made outside Kubernetes", manifest: simYAML("foreign-object", acme),
			kind: "sim", obj: "foreign-object", reasons: []string{"NameConflict"}},
	}
	var rows []string
	admitted, stalled := 0, 0
	for _, c := range cases {
		out, err := s.Cluster.Kubectl(ctx, c.manifest, "apply", "-n", ns, "-f", "-")
		if c.admission != "" {
			if err == nil {
				t.Errorf("%s: accepted at admission (%s), want an error containing %q", c.name, strings.TrimSpace(out), c.admission)
				continue
			}
			msg := lastLine(err.Error())
			if !strings.Contains(err.Error(), c.admission) {
				t.Errorf("%s: error %q does not contain %q", c.name, msg, c.admission)
			}
			admitted++
			rows = append(rows, fmt.Sprintf("| %s | rejected at admission | %s |", c.name, trim(msg)))
			continue
		}
		if err != nil {
			// An accepted-or-stalled case that the schema refuses is fine too: record it.
			admitted++
			rows = append(rows, fmt.Sprintf("| %s | rejected at admission | %s |", c.name, trim(lastLine(err.Error()))))
			continue
		}
		if c.ready {
			err := poll(40*time.Second, func() error {
				cd, err := s.condition(c.kind, c.obj, "Ready")
				if err != nil || cd == nil || cd.Status != metav1.ConditionTrue {
					return fmt.Errorf("not Ready: %+v %w", cd, err)
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			var o simv1alpha1.SimIntegration
			s.must(t, s.c.Get(ctx, clientKey(c.obj), &o))
			r, _, _ := s.Fake.Object(ctx, o.Status.ID)
			if !utf8.ValidString(r.Name()) {
				t.Errorf("%s: the remote name %q is not valid UTF-8", c.name, r.Name())
			}
			rows = append(rows, fmt.Sprintf("| %s | accepted: the apiserver's JSON decoder replaced the bytes with U+FFFD; Ready, remote name %q | |", c.name, r.Name()))
			continue
		}
		var cond *metav1.Condition
		err = poll(40*time.Second, func() error {
			cd, err := s.condition(c.kind, c.obj, "Stalled")
			if err != nil {
				return err
			}
			if cd == nil || cd.Status != metav1.ConditionTrue || !slices.Contains(c.reasons, cd.Reason) {
				r, _ := s.condition(c.kind, c.obj, "Ready")
				return fmt.Errorf("Stalled=%+v Ready=%+v", cd, r)
			}
			cond = cd
			return nil
		})
		if err != nil {
			t.Errorf("%s: want Stalled with reason %v: %v", c.name, c.reasons, err)
			rows = append(rows, fmt.Sprintf("| %s | NOT stalled | %s |", c.name, trim(err.Error())))
			continue
		}
		if c.message != "" && !strings.Contains(cond.Message, c.message) {
			t.Errorf("%s: Stalled message %q does not mention %q", c.name, cond.Message, c.message)
		}
		stalled++
		rows = append(rows, fmt.Sprintf("| %s | Stalled, %s | %s |", c.name, cond.Reason, trim(cond.Message)))
	}
	// Nothing reached the hosts that are not allowed, and the foreign object was not touched.
	time.Sleep(2 * pollInterval)
	close(stop)
	wg.Wait()
	if n := other.n.Load() + otherToken.n.Load(); n != 0 {
		t.Errorf("hosts outside the allowlist received %d requests", n)
	}
	if watchErr != nil {
		t.Errorf("the neighbour was affected: %v", watchErr)
	}
	s.converge(t, neighbour, 10*time.Second)
	for _, m := range []string{"PATCH", "PUT", "DELETE"} {
		for _, id := range []string{neighbourID, foreignID} {
			reqs, err := s.Fake.Requests(ctx, m, "/"+id)
			s.must(t, err)
			for _, r := range reqs {
				if r.Seq > seq {
					t.Errorf("unexpected write to %s during the bad-input table: %s", id, harness.FormatRequest(r))
				}
			}
		}
	}
	if objs, _ := s.Fake.ObjectsNamed(ctx, "foreign-object"); len(objs) != 1 {
		t.Errorf("foreign-object: %d remote objects, want the 1 made outside Kubernetes", len(objs))
	}
	t.Logf("bad input: %d cases, %d rejected at admission, %d Stalled\n| case | outcome | message |\n|---|---|---|\n%s",
		len(cases), admitted, stalled, strings.Join(rows, "\n"))
	s.figure("badInput.cases", len(cases))
	s.figure("badInput.admission", admitted)
	s.figure("badInput.stalled", stalled)
}

func clientKey(name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// trim shortens a message for one row of the bad-input table.
func trim(s string) string {
	const n = 140
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
