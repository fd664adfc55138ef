package reliability

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/test/harness"
)

// Credentials and secret values the suite hands the operator; none may ever show up in a log, an
// Event, a status or the metrics.
const (
	ns             = "rel"
	relClientID    = "rel-client"
	relSecret      = "rel-client-secret-8c1f0f4e2b"
	rlClientID     = "rl-client"
	rlSecret       = "rl-client-secret-5d7a9e3c11"
	wrongSecret    = "wrong-client-secret-77aa0d2c"
	attrSecret     = "servicenow-password-3b9e41f7"
	attrSecretName = "snow"
	pollInterval   = 2 * time.Second
)

var allSecrets = []string{relSecret, rlSecret, wrongSecret, attrSecret, harness.SampleClientSecret}

// tokenRE matches the access tokens the fake issues ("fake." + 64 hex digits).
var tokenRE = regexp.MustCompile(`fake\.[0-9a-f]{64}`)

// suite is one running environment: apiserver, fake, manager, a typed client.
type suite struct {
	*harness.Env
	c           client.Client
	workDir     string
	metricsAddr string
	// replicaLogs are the logs of extra manager processes (leader election), checked for secrets too.
	replicaLogs []string
	figures     map[string]any
}

func (s *suite) figure(k string, v any) {
	s.figures[k] = v
}

// start brings the environment up. It fails (never skips) without KUBEBUILDER_ASSETS.
func start(t *testing.T, fakeArgs ...string) *suite {
	t.Helper()
	assets, err := harness.AssetsFromEnv()
	if err != nil {
		t.Fatalf("the reliability suite needs kube-apiserver, etcd and kubectl: %v", err)
	}
	workDir, err := os.MkdirTemp("", "sim-operator-reliability-")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	env, err := harness.Start(ctx, harness.Config{
		Assets:  assets,
		WorkDir: workDir,
		ManagerArgs: []string{"--zap-log-level=10", "--metrics-bind-address=" + metricsAddr,
			"--metrics-secure=false"},
		FakeArgs: append([]string{"--client", relClientID + ":" + relSecret, "--client", rlClientID + ":" + rlSecret,
			"--rate-limit=0"}, fakeArgs...),
		Progress: func(format string, args ...any) { t.Logf(format, args...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{Env: env, workDir: workDir, metricsAddr: metricsAddr, figures: map[string]any{}}
	stopAtCleanup(t, env, workDir)
	s.c = typedClient(t, env.Cluster.Kubeconfig)
	s.must(t, s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	s.must(t, s.c.Create(ctx, secret(ns, "rel-api-client", map[string]string{"clientId": relClientID, "clientSecret": relSecret})))
	s.must(t, s.c.Create(ctx, secret(ns, "rl-api-client", map[string]string{"clientId": rlClientID, "clientSecret": rlSecret})))
	s.must(t, s.c.Create(ctx, secret(ns, attrSecretName, map[string]string{"password": attrSecret})))
	s.must(t, s.c.Create(ctx, s.tenant("acme", "rel-api-client", simv1alpha1.APIRelease("v2024"))))
	s.must(t, s.c.Create(ctx, s.tenant("limited", "rl-api-client", simv1alpha1.APIRelease("v2025"))))
	s.waitTenantReady(t, "acme")
	s.waitTenantReady(t, "limited")
	return s
}

// stopAtCleanup stops the environment when the test ends, and removes its work directory unless the
// test failed or RELIABILITY_KEEP is set (the logs are kept for reading).
func stopAtCleanup(t *testing.T, env *harness.Env, workDir string) {
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping: %v", err)
		}
		if t.Failed() || os.Getenv("RELIABILITY_KEEP") != "" {
			t.Logf("keeping %s (logs)", workDir)
			return
		}
		_ = os.RemoveAll(workDir)
	})
}

// typedClient returns a client of the test's own for the kubeconfig, with the operator's kinds.
func typedClient(t *testing.T, kubeconfig string) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = simv1alpha1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *suite) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func secret(namespace, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, StringData: data}
}

func (s *suite) tenant(name, credentials string, release simv1alpha1.APIRelease) *simv1alpha1.Tenant {
	return &simv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: simv1alpha1.TenantSpec{
			BaseURL: s.Fake.URL, APIRelease: release,
			CredentialsRef: simv1alpha1.CredentialsReference{Name: credentials},
			PollInterval:   metav1.Duration{Duration: pollInterval},
		},
	}
}

func (s *suite) waitTenantReady(t *testing.T, name string) {
	t.Helper()
	err := poll(60*time.Second, func() error {
		var tn simv1alpha1.Tenant
		if err := s.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &tn); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(tn.Status.Conditions, "Ready") {
			return fmt.Errorf("tenant %s not Ready: %+v", name, tn.Status.Conditions)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// simSpec is what the test wants a SimIntegration (and so its remote object) to be.
type simSpec struct {
	exists      bool
	tenant      string
	description string
	attrs       map[string]any
	secretAttr  bool
}

func newSim(name string, w simSpec) *simv1alpha1.SimIntegration {
	o := &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	setSpec(o, w)
	return o
}

func setSpec(o *simv1alpha1.SimIntegration, w simSpec) {
	o.Spec.TenantRef = simv1alpha1.TenantReference{Name: w.tenant}
	d := w.description
	o.Spec.Description = &d
	b, _ := json.Marshal(w.attrs)
	o.Spec.Attributes = &apiextensionsv1.JSON{Raw: b}
	o.Spec.SecretAttributes = nil
	if w.secretAttr {
		o.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{{Name: "password",
			SecretKeyRef: simv1alpha1.SecretKeySelector{Name: attrSecretName, Key: "password"}}}
	}
}

// update sets the spec of an existing SimIntegration, retrying on conflicts.
func (s *suite) update(ctx context.Context, name string, w simSpec) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var o simv1alpha1.SimIntegration
		if err := s.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &o); err != nil {
			return err
		}
		if !o.DeletionTimestamp.IsZero() {
			return errDeleting
		}
		setSpec(&o, w)
		return s.c.Update(ctx, &o)
	})
}

var errDeleting = errors.New("being deleted")

// divergence returns nil when every wanted SimIntegration is Ready for its generation and its one
// remote object equals its spec, and every unwanted one is gone in Kubernetes and remotely.
// It also returns the number of duplicates, leaks and stale (lost-update) objects it saw.
type tally struct{ duplicates, leaks, stale, notReady, notGone int }

func (t tally) String() string {
	return fmt.Sprintf("duplicates=%d leaks=%d stale=%d notReady=%d notGone=%d",
		t.duplicates, t.leaks, t.stale, t.notReady, t.notGone)
}

func (s *suite) divergence(ctx context.Context, want map[string]simSpec) (tally, error) {
	var tl tally
	objs, err := s.Fake.Objects(ctx)
	if err != nil {
		return tl, err
	}
	byName := map[string][]harness.RemoteObject{}
	for _, o := range objs {
		byName[o.Name()] = append(byName[o.Name()], o)
	}
	var list simv1alpha1.SimIntegrationList
	if err := s.c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return tl, err
	}
	inKube := map[string]*simv1alpha1.SimIntegration{}
	for i := range list.Items {
		inKube[list.Items[i].Name] = &list.Items[i]
	}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		w := want[name]
		remote := byName[name]
		if len(remote) > 1 {
			tl.duplicates++
			problems = append(problems, fmt.Sprintf("%s: %d remote objects", name, len(remote)))
		}
		if !w.exists {
			if _, ok := inKube[name]; ok {
				tl.notGone++
				problems = append(problems, name+": still in Kubernetes")
			}
			if len(remote) > 0 {
				tl.leaks++
				problems = append(problems, fmt.Sprintf("%s: deleted but %d remote object(s) left", name, len(remote)))
			}
			continue
		}
		o := inKube[name]
		if o == nil {
			tl.notReady++
			problems = append(problems, name+": missing in Kubernetes")
			continue
		}
		ready := meta.FindStatusCondition(o.Status.Conditions, "Ready")
		if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != o.Generation {
			tl.notReady++
			problems = append(problems, fmt.Sprintf("%s: not Ready for generation %d: %v", name, o.Generation, ready))
		}
		if len(remote) == 0 {
			tl.stale++
			problems = append(problems, name+": no remote object")
			continue
		}
		r := remote[0]
		if o.Status.ID != "" && o.Status.ID != r.ID && len(remote) == 1 {
			problems = append(problems, fmt.Sprintf("%s: status.id %s but remote id %s", name, o.Status.ID, r.ID))
			tl.stale++
			continue
		}
		gotAttrs, _ := r.Doc["attributes"].(map[string]any)
		gotAttrs = maps.Clone(gotAttrs)
		delete(gotAttrs, "password") // masked by the fake
		wantAttrs := w.attrs
		if len(wantAttrs) == 0 {
			wantAttrs = nil
		}
		if len(gotAttrs) == 0 {
			gotAttrs = nil
		}
		if r.Description() != w.description || !reflect.DeepEqual(normalize(gotAttrs), normalize(wantAttrs)) {
			tl.stale++
			problems = append(problems, fmt.Sprintf("%s: remote description %q attributes %v, spec %q %v",
				name, r.Description(), gotAttrs, w.description, wantAttrs))
		}
	}
	if len(problems) > 0 {
		if len(problems) > 8 {
			problems = append(problems[:8], fmt.Sprintf("... and %d more", len(problems)-8))
		}
		return tl, errors.New(strings.Join(problems, "\n"))
	}
	return tl, nil
}

func normalize(m map[string]any) any {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// converge waits until divergence reports nothing and returns how long it took.
func (s *suite) converge(t *testing.T, want map[string]simSpec, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	var tl tally
	for time.Since(start) < timeout {
		tl, last = s.divergence(context.Background(), want)
		if last == nil {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("not converged after %s (%s):\n%v\n%s", timeout, tl, last, harness.TailFile(s.ManagerLog, 15))
	return 0
}

// stillConverged checks for d that nothing diverges (no late duplicate, no resurrected object).
func (s *suite) stillConverged(t *testing.T, want map[string]simSpec, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if tl, err := s.divergence(context.Background(), want); err != nil {
			t.Fatalf("diverged after converging (%s):\n%v", tl, err)
		}
	}
}

// deleteAll deletes the named SimIntegrations and waits until they and their remote objects are gone.
func (s *suite) deleteAll(t *testing.T, want map[string]simSpec) {
	t.Helper()
	ctx := context.Background()
	for name, w := range want {
		if w.exists {
			err := s.c.Delete(ctx, &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			w.exists = false
			want[name] = w
		}
	}
	s.converge(t, want, 90*time.Second)
}

func poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// condition returns the condition of a SimIntegration or Tenant (kind "sim" or "tenant").
func (s *suite) condition(kind, name, typ string) (*metav1.Condition, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	var conds []metav1.Condition
	switch kind {
	case "tenant":
		var o simv1alpha1.Tenant
		if err := s.c.Get(context.Background(), key, &o); err != nil {
			return nil, err
		}
		conds = o.Status.Conditions
	default:
		var o simv1alpha1.SimIntegration
		if err := s.c.Get(context.Background(), key, &o); err != nil {
			return nil, err
		}
		conds = o.Status.Conditions
	}
	return meta.FindStatusCondition(conds, typ), nil
}

// leakCheck returns where a secret or a token shows up in text (empty if nowhere).
func leakCheck(what, text string) []string {
	var found []string
	for _, sec := range allSecrets {
		for _, form := range []string{sec, base64.StdEncoding.EncodeToString([]byte(sec))} {
			if strings.Contains(text, form) {
				found = append(found, fmt.Sprintf("%s contains the secret %q (as %q)", what, sec, form))
			}
		}
	}
	if m := tokenRE.FindString(text); m != "" {
		found = append(found, fmt.Sprintf("%s contains an access token %s...", what, m[:12]))
	}
	if strings.Contains(text, "Bearer fake.") {
		found = append(found, what+" contains an Authorization header value")
	}
	return found
}

func (s *suite) metrics() (string, error) {
	resp, err := http.Get("http://" + s.metricsAddr + "/metrics")
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	return string(b), err
}

func (s *suite) logPath(name string) string { return filepath.Join(s.workDir, name) }

// restartManager kill -9s the manager and starts it again.
func (s *suite) killAndRestart(t *testing.T) {
	t.Helper()
	if err := s.KillManager(); err != nil {
		t.Fatal(err)
	}
	if err := s.StartManager(context.Background()); err != nil {
		t.Fatal(err)
	}
}
