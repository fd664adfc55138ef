package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/test/harness"
)

// suite is the running environment every step shares.
type suite struct {
	env     *harness.Env
	plugin  string
	dir     string
	secrets []string

	mu      sync.Mutex
	outputs []string // every output of the plugin, checked for secrets at the end
}

// result is one run of the plugin.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the real kubectl-sim binary against the local apiserver with extra environment variables.
func (s *suite) run(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.plugin, args...)
	cmd.Dir = harness.RepoRoot()
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.env.Cluster.Kubeconfig, "KUBECACHEDIR="+s.env.Cluster.CacheDir,
		"SAIL_CLIENT_ID=", "SAIL_CLIENT_SECRET=")
	cmd.Env = append(cmd.Env, env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kubectl-sim %s: %v", harness.Quote(args), err)
	}
	s.mu.Lock()
	s.outputs = append(s.outputs, r.stdout, r.stderr)
	s.mu.Unlock()
	s.checkNoSecrets(t, "kubectl sim "+harness.Quote(args), r.stdout+r.stderr)
	t.Logf("$ kubectl sim %s  (exit %d)\n%s%s", harness.Quote(args), r.code, r.stdout, r.stderr)
	return r
}

// sim runs the plugin without extra environment and requires the exit code.
func (s *suite) sim(t *testing.T, code int, args ...string) result {
	t.Helper()
	r := s.run(t, nil, "", args...)
	if r.code != code {
		t.Fatalf("kubectl sim %s: exit %d, want %d\n%s%s", harness.Quote(args), r.code, code, r.stdout, r.stderr)
	}
	return r
}

func (s *suite) checkNoSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, secret := range s.secrets {
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(text, form) {
				t.Errorf("%s shows the secret %q (as %q)", what, secret, form)
			}
		}
	}
}

// kubectl runs the real kubectl and fails the test on error.
func (s *suite) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.env.Kubectl(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// apply applies a manifest given as text.
func (s *suite) apply(t *testing.T, manifest string) {
	t.Helper()
	if _, err := s.env.Cluster.Kubectl(context.Background(), manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// write writes a manifest file under the suite's directory and returns its path.
func (s *suite) write(t *testing.T, name, manifest string) string {
	t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonpath reads a field of an object.
func (s *suite) jsonpath(t *testing.T, nsKindName, expr string) string {
	t.Helper()
	ns, kindName, _ := strings.Cut(nsKindName, " ")
	out, err := s.env.Kubectl(context.Background(), "get", "-n", ns, kindName, "-o", "jsonpath="+expr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls cond every 100ms until it holds or 30s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s (%s)", what, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCondition waits until a SimIntegration's condition has the status and reason for its generation.
func (s *suite) waitCondition(t *testing.T, ns, name, cond, status, reason string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s/%s %s=%s %s", ns, name, cond, status, reason), func() (bool, string) {
		out, err := s.env.Kubectl(context.Background(), "get", "-n", ns, "sim/"+name, "-o", "jsonpath={.metadata.generation} "+
			fmt.Sprintf(`{.status.conditions[?(@.type=="%s")].observedGeneration} {.status.conditions[?(@.type=="%s")].status} `+
				`{.status.conditions[?(@.type=="%s")].reason} {.status.conditions[?(@.type=="Ready")].message}`, cond, cond, cond))
		if err != nil {
			return false, err.Error()
		}
		f := strings.Fields(out)
		return len(f) >= 4 && f[0] == f[1] && f[2] == status && f[3] == reason, out
	})
}

// The fake's names of the APIs in its log (fake.APISIM, APISources, APIManagedClusters).
const (
	apiSIM      = "sim-integrations"
	apiSources  = "sources"
	apiClusters = "managed-clusters"
)

// loggedRequest is one request of the fake's log (/_admin/requests).
type loggedRequest struct {
	Seq      int64       `json:"seq"`
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	Query    string      `json:"query"`
	Status   int         `json:"status"`
	Header   http.Header `json:"header"`
	Body     string      `json:"body"`
	ClientID string      `json:"clientID"`
	API      string      `json:"api"`
}

func (r loggedRequest) fromPlugin() bool {
	return strings.HasPrefix(r.Header.Get("User-Agent"), "kubectl-sim/")
}

// requests returns the fake's log after seq.
func (s *suite) requests(t *testing.T, after int64) []loggedRequest {
	t.Helper()
	raw, err := s.env.Fake.RawRequests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var all []loggedRequest
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	out := all[:0]
	for _, r := range all {
		if r.Seq > after {
			out = append(out, r)
		}
	}
	return out
}

// mark is the sequence number of the fake's last logged request.
func (s *suite) mark(t *testing.T) int64 {
	t.Helper()
	var last int64
	for _, r := range s.requests(t, 0) {
		last = max(last, r.Seq)
	}
	return last
}

// operatorWrites are the SIM writes the manager sent after seq.
func (s *suite) operatorWrites(t *testing.T, after int64) []loggedRequest {
	t.Helper()
	var out []loggedRequest
	for _, r := range s.requests(t, after) {
		if r.API == apiSIM && r.Method != http.MethodGet && !r.fromPlugin() {
			out = append(out, r)
		}
	}
	return out
}

// insertRemote stores an object in the fake as someone in the IdentityNow UI would, and returns its id.
func (s *suite) insertRemote(t *testing.T, doc map[string]any) string {
	t.Helper()
	body, _ := json.Marshal(doc)
	resp, err := http.Post(s.env.Fake.URL+"/_admin/objects", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct{ ID string }
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		t.Fatalf("insert: %s %s", resp.Status, b)
	}
	return out.ID
}

// build compiles the plugin into dir.
func build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "kubectl-sim")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kubectl-sim")
	cmd.Dir = harness.RepoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/kubectl-sim: %w\n%s", err, out)
	}
	return bin, nil
}
