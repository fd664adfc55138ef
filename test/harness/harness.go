// Package harness runs sim-operator the way a user does, for `make demo` (hack/demo) and the e2e suite
// (test/e2e): a local kube-apiserver and etcd (envtest, built from source by hack/envtest-assets.sh),
// the fake IdentityNow API (cmd/fake-identitynow) and the real manager binary (./cmd) as separate
// processes, all driven with the real kubectl.
//
// Nothing here depends on a test framework, and nothing is downloaded: the binaries come from
// KUBEBUILDER_ASSETS and `go build`.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Values that config/samples and the harness agree on.
const (
	// OperatorNamespace is the manager's --cluster-resource-namespace: ClusterTenant Secrets live there.
	OperatorNamespace = "sim-operator-system"
	// SamplesNamespace is where `kubectl apply -f config/samples` puts the samples (they name none).
	SamplesNamespace = "default"
	// SampleClientID and SampleClientSecret are the API client in config/samples; the fake accepts them.
	SampleClientID     = "replace-with-the-client-id"
	SampleClientSecret = "replace-with-the-client-secret"
	// SampleServiceNowPassword is the secret attribute value in config/samples.
	SampleServiceNowPassword = "replace-with-the-servicenow-password"
	// SampleCredentialsSecret is the Secret holding the API client in config/samples.
	SampleCredentialsSecret = "acme-api-client"
)

// SampleSources and SampleClusters are the sources and managed clusters (name → id) that config/samples
// refer to by name (spec.sourceRefs, spec.clusterRef); StartFake seeds the fake with them.
var (
	SampleSources = map[string]string{
		"Active Directory": "2c9180835d191a86015d28455b4a2329",
		"Workday":          "2c9180835d191a86015d28455b4a2330",
		"SAP Finance":      "2c9180835d191a86015d28455b4a2331",
	}
	SampleClusters = map[string]string{"Production VA Cluster": "xyzzy999"}
)

// SampleReferenceArgs are the fake's flags that seed SampleSources and SampleClusters.
func SampleReferenceArgs() []string {
	var args []string
	for _, name := range slices.Sorted(maps.Keys(SampleSources)) {
		args = append(args, "--source", name+"="+SampleSources[name])
	}
	for _, name := range slices.Sorted(maps.Keys(SampleClusters)) {
		args = append(args, "--managed-cluster", name+"="+SampleClusters[name])
	}
	return args
}

// RepoRoot is the root of the repository this file was compiled from.
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("harness: runtime.Caller failed")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsFromEnv returns $KUBEBUILDER_ASSETS after checking that it holds kube-apiserver, etcd and kubectl.
func AssetsFromEnv() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		return "", errors.New("KUBEBUILDER_ASSETS is not set: run `make test`, which builds them from source " +
			"once (hack/envtest-assets.sh) and sets it, or set KUBEBUILDER_ASSETS=\"$(hack/envtest-assets.sh)\"")
	}
	return dir, CheckAssets(dir)
}

// CheckAssets reports a missing kube-apiserver, etcd or kubectl in dir.
func CheckAssets(dir string) error {
	var missing []string
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s has no %s: run `make envtest-assets` (`make test` and `make demo` do)",
			dir, strings.Join(missing, ", "))
	}
	return nil
}

// Config says what Start runs.
type Config struct {
	// Assets is the directory holding kube-apiserver, etcd and kubectl (KUBEBUILDER_ASSETS).
	Assets string
	// WorkDir receives the kubeconfig, logs and, unless BinDir is set, the binaries. It must exist.
	WorkDir string
	// BinDir is where the manager and fake binaries are built; default WorkDir/bin.
	BinDir string
	// Race builds the manager and the fake with -race.
	Race bool
	// FakeArgs are added to the fake's flags (after --client and --masked-attributes password).
	FakeArgs []string
	// ManagerArgs are added to the manager's flags (after those for a local run, see ManagerFlags).
	ManagerArgs []string
	// Progress reports long steps; nil is silent.
	Progress func(format string, args ...any)
	// Echo, if set, receives each kubectl command that Run runs and its output.
	Echo io.Writer
}

// Env is a running apiserver, fake IdentityNow and manager.
type Env struct {
	Config
	Cluster *Cluster
	Fake    *Fake
	Manager *Process

	ManagerBin, FakeBin string
	// ManagerLog and FakeLog are the files the processes write stdout and stderr to (appended to
	// across restarts).
	ManagerLog, FakeLog string
	// ProbeAddr is the manager's health probe address (host:port).
	ProbeAddr string
}

func (c *Config) progress(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(format, args...)
	}
}

// Start builds the binaries and starts the apiserver (installing the CRDs), the fake and the manager.
// On error it stops whatever it had started. Call Stop when done.
func Start(ctx context.Context, cfg Config) (env *Env, err error) {
	if err := CheckAssets(cfg.Assets); err != nil {
		return nil, err
	}
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Join(cfg.WorkDir, "bin")
	}
	e := &Env{
		Config:     cfg,
		ManagerLog: filepath.Join(cfg.WorkDir, "manager.log"),
		FakeLog:    filepath.Join(cfg.WorkDir, "fake-identitynow.log"),
	}
	defer func() {
		if err != nil {
			_ = e.Stop()
			env = nil
		}
	}()

	// Building and starting the control plane overlap: one mostly compiles, the other mostly waits.
	var buildErr error
	var buildTook time.Duration
	built := make(chan struct{})
	e.progress("Building the manager (./cmd) and the fake IdentityNow API (./cmd/fake-identitynow) into %s",
		cfg.BinDir)
	start := time.Now()
	go func() {
		defer close(built)
		e.ManagerBin, e.FakeBin, buildErr = Build(ctx, cfg.BinDir, cfg.Race)
		buildTook = time.Since(start)
	}()
	e.progress("Starting kube-apiserver and etcd from %s", cfg.Assets)
	e.Cluster, err = StartCluster(ctx, cfg.Assets, cfg.WorkDir)
	if err != nil {
		<-built
		return e, err
	}
	e.progress("kube-apiserver is up at %s (took %s); CRDs installed from config/crd/bases",
		e.Cluster.Host, time.Since(start).Round(100*time.Millisecond))
	waitBuild(built, start, e.progress)
	if buildErr != nil {
		return e, buildErr
	}
	e.progress("Built the manager and the fake (took %s)", buildTook.Round(100*time.Millisecond))

	e.Fake, err = StartFake(ctx, e.FakeBin, e.FakeLog, e.fakeArgs()...)
	if err != nil {
		return e, err
	}
	e.progress("Fake IdentityNow API listening on %s", e.Fake.URL)

	if err := e.StartManager(ctx); err != nil {
		return e, err
	}
	e.progress("Manager running (pid %d): %s %s", e.Manager.Pid(), filepath.Base(e.ManagerBin),
		strings.Join(append(ManagerFlags(e.ProbeAddr), e.ManagerArgs...), " "))
	return e, nil
}

// waitBuild waits for built to close, saying every 30 seconds that the build is still going (the first
// build compiles client-go and controller-runtime).
func waitBuild(built <-chan struct{}, start time.Time, progress func(string, ...any)) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-built:
			return
		case <-t.C:
			progress("Still building the manager (%s; the first build compiles client-go and controller-runtime, "+
				"a few minutes on 2 cores)", time.Since(start).Round(time.Second))
		}
	}
}

func (e *Env) fakeArgs() []string {
	return append([]string{
		"--client", SampleClientID + ":" + SampleClientSecret,
		"--masked-attributes", "password",
	}, e.FakeArgs...)
}

// ManagerFlags are the flags the harness always passes: local http fake, no metrics, probes on addr.
func ManagerFlags(probeAddr string) []string {
	return []string{
		"--allow-insecure-http",
		"--tenant-host-allowlist=127.0.0.1:*",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=" + probeAddr,
		"--cluster-resource-namespace=" + OperatorNamespace,
	}
}

// StartManager starts the manager binary (again, after StopManager or KillManager) with KUBECONFIG
// pointing at the local apiserver, and waits until its readiness probe answers.
func (e *Env) StartManager(ctx context.Context) error {
	if e.Manager != nil {
		if done, _ := e.Manager.Exited(); !done {
			return errors.New("the manager is already running")
		}
	}
	addr, err := FreeAddr()
	if err != nil {
		return err
	}
	e.ProbeAddr = addr
	args := append(ManagerFlags(addr), e.ManagerArgs...)
	env := append(os.Environ(), "KUBECONFIG="+e.Cluster.ManagerKubeconfig, "POD_NAMESPACE=")
	p, err := StartProcess("manager", e.ManagerLog, env, e.ManagerBin, args...)
	if err != nil {
		return err
	}
	e.Manager = p
	if err := waitHTTPOK(ctx, p, "http://"+addr+"/readyz", 60*time.Second); err != nil {
		return fmt.Errorf("manager: %w\n%s", err, TailFile(e.ManagerLog, 20))
	}
	return nil
}

// KillManager sends SIGKILL to the manager, as a crash or an OOM kill would, and waits for it to go.
func (e *Env) KillManager() error {
	if e.Manager == nil {
		return nil
	}
	return e.Manager.Kill()
}

// Stop stops the manager, the fake and the control plane, in that order, and returns every error.
// It is safe to call more than once and on a partly started Env.
func (e *Env) Stop() error {
	var errs []error
	if e.Manager != nil {
		e.progress("Stopping the manager")
		errs = append(errs, e.Manager.Stop(10*time.Second))
	}
	if e.Fake != nil {
		e.progress("Stopping the fake IdentityNow API")
		errs = append(errs, e.Fake.Stop(5*time.Second))
	}
	if e.Cluster != nil {
		e.progress("Stopping kube-apiserver and etcd")
		errs = append(errs, e.Cluster.Stop())
		e.Cluster = nil
	}
	return errors.Join(errs...)
}

// Kubectl runs the real kubectl against the local apiserver and returns its stdout.
func (e *Env) Kubectl(ctx context.Context, args ...string) (string, error) {
	return e.Cluster.Kubectl(ctx, "", args...)
}
