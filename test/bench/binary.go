package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

// manager is the real manager binary (./cmd), run as users run it: its own process, a kubeconfig,
// flags, plain-HTTP metrics and pprof on loopback.
type manager struct {
	bin, kubeconfig, logDir string
	workers                 int
	env                     []string // extra environment, e.g. GOMEMLIMIT
	starts                  int

	cmd                    *exec.Cmd
	metricsAddr, pprofBase string
	exited                 chan struct{}
}

// buildManager builds ./cmd into dir and writes a kubeconfig for a cluster-admin user of env.
func buildManager(env *envtest.Environment, dir, logDir string, workers int) (*manager, error) {
	bin := filepath.Join(dir, "manager")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the manager: %w\n%s", err, out)
	}
	user, err := env.AddUser(envtest.User{Name: "bench-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	return &manager{bin: bin, kubeconfig: kcPath, logDir: logDir, workers: workers}, nil
}

// start starts a new manager process and waits until its metrics endpoint answers.
func (m *manager) start(ctx context.Context) error {
	m.starts++
	m.metricsAddr = freeAddr()
	pprofAddr := freeAddr()
	m.pprofBase = "http://" + pprofAddr + "/debug/pprof/"
	logf, err := os.Create(filepath.Join(m.logDir, fmt.Sprintf("manager-%d.log", m.starts)))
	if err != nil {
		return err
	}
	cmd := exec.Command(m.bin, "--allow-insecure-http", "--tenant-host-allowlist=127.0.0.1:*",
		"--metrics-bind-address="+m.metricsAddr, "--metrics-secure=false", "--health-probe-bind-address="+freeAddr(),
		"--pprof-bind-address="+pprofAddr, "--cluster-resource-namespace=sim-operator-system",
		fmt.Sprintf("--max-concurrent-reconciles=%d", m.workers))
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+m.kubeconfig), m.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return err
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(m.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := m.metrics(ctx); err == nil {
			return nil
		}
		select {
		case <-m.exited:
			return fmt.Errorf("the manager exited at start; see %s", logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the manager's metrics endpoint did not answer within 30s")
}

// stop sends SIGTERM, as the kubelet does, and waits for the process to exit (SIGKILL after 30 s).
func (m *manager) stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "the manager did not stop within 30s; killing it")
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

// metrics scrapes the manager's /metrics.
func (m *manager) metrics(ctx context.Context) (map[string]float64, error) {
	return scrape(ctx, m.metricsAddr)
}

// reconciles is the manager's controller_runtime_reconcile_total for SimIntegrations.
func (m *manager) reconciles(ctx context.Context) (float64, error) {
	ms, err := m.metrics(ctx)
	if err != nil {
		return 0, err
	}
	return ms[`controller_runtime_reconcile_total{controller="simintegration"}`], nil
}

// memoryUse is what the manager process uses: Go heap in use (from its /metrics, after a forced GC)
// and its current and peak resident set size (from /proc).
type memoryUse struct {
	heapInuse, heapAlloc, rss, peakRSS float64 // MiB
	// sys is all memory the Go runtime obtained; idle is free heap it has not yet returned to the OS.
	sys, idle float64
	profile   string
}

// memory forces a GC by downloading a heap profile (pprof's gc=1), saves it as name, then reads the
// heap from /metrics and the RSS from /proc.
func (m *manager) memory(ctx context.Context, name string) (memoryUse, error) {
	u := memoryUse{profile: filepath.Join(m.logDir, name)}
	if err := download(ctx, m.pprofBase+"heap?gc=1", u.profile); err != nil {
		return u, fmt.Errorf("heap profile of the manager: %w", err)
	}
	ms, err := m.metrics(ctx)
	if err != nil {
		return u, err
	}
	u.heapInuse = ms["go_memstats_heap_inuse_bytes"] / (1 << 20)
	u.heapAlloc = ms["go_memstats_heap_alloc_bytes"] / (1 << 20)
	u.sys = ms["go_memstats_sys_bytes"] / (1 << 20)
	u.idle = (ms["go_memstats_heap_idle_bytes"] - ms["go_memstats_heap_released_bytes"]) / (1 << 20)
	u.peakRSS, u.rss, err = procMemory(m.cmd.Process.Pid)
	return u, err
}

// cpuProfile records the manager's CPU profile for d into name, in the background.
func (m *manager) cpuProfile(ctx context.Context, d time.Duration, name string) {
	url := fmt.Sprintf("%sprofile?seconds=%d", m.pprofBase, int(d.Seconds()))
	go func() {
		if err := download(ctx, url, filepath.Join(m.logDir, name)); err != nil {
			fmt.Fprintln(os.Stderr, "CPU profile of the manager:", err)
		}
	}()
}

// scrape reads a Prometheus text endpoint, summing samples per metric name and per controller label.
func scrape(ctx context.Context, addr string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format, summing samples per metric name and per controller
// label.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			if c := strings.Index(name, `controller="`); c >= 0 {
				end := strings.IndexByte(name[c+12:], '"')
				name = name[:j] + `{controller="` + name[c+12:c+12+end] + `"}`
			} else {
				name = name[:j]
			}
		}
		out[name] += v
	}
	return out, sc.Err()
}

// download saves a URL's body to path.
func download(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// procMemory returns a process's peak and current resident set size in MiB.
func procMemory(pid int) (hwm, rss float64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmHWM:":
			hwm = kb / 1024
		case "VmRSS:":
			rss = kb / 1024
		}
	}
	return hwm, rss, nil
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// coldPass restarts the manager with every object in place and the fake's limit lifted: the time of
// its first full pass gives reconciles per second over existing objects, and the memory it then uses
// (and peaked at while listing and caching everything) is measured.
func (b *bench) coldPass(n int) error {
	fmt.Printf("phase cold pass: restart the manager with %d objects in place, fake limit lifted\n", n)
	b.remote.SetRateLimit(fake.RateLimit{})
	defer b.remote.SetRateLimit(b.limit)
	b.mgr.stop()
	start := time.Now()
	if err := b.mgr.start(b.ctx); err != nil {
		return err
	}
	var reconciles float64
	// When the resident set peaks tells what caused it: start-up and cache sync, or the pass itself.
	timeline := []string{"seconds,rss_mib,reconciles"}
	var peak, peakAt, peakReconciles float64
	deadline := start.Add(15 * time.Minute)
	for reconciles < float64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("cold pass: %0.f of %d objects reconciled after 15m", reconciles, n)
		}
		time.Sleep(200 * time.Millisecond)
		reconciles = b.reconciles()
		if _, rss, err := procMemory(b.mgr.cmd.Process.Pid); err == nil {
			at := time.Since(start).Seconds()
			timeline = append(timeline, fmt.Sprintf("%.1f,%.1f,%.0f", at, rss, reconciles))
			b.series.ColdPassRSS = append(b.series.ColdPassRSS, rssPoint{T: at, RSS: rss, Reconciles: reconciles})
			if rss > peak {
				peak, peakAt, peakReconciles = rss, at, reconciles
			}
		}
	}
	elapsed := time.Since(start)
	_ = os.WriteFile(filepath.Join(b.logDir, "cold-pass-rss.csv"), []byte(strings.Join(timeline, "\n")+"\n"), 0o644)
	fmt.Printf("  sampled RSS peaked at %.0f MiB %.1fs after the start, with %.0f of %d objects reconciled (cold-pass-rss.csv)\n",
		peak, peakAt, peakReconciles, n)
	b.add(result{Measure: "throughput (limit lifted): full pass after a restart, reconciles per second", N: n,
		Value: reconciles / elapsed.Seconds(), Unit: "/s", Goal: "≥ 100 /s", Met: reconciles/elapsed.Seconds() >= 100,
		Detail: fmt.Sprintf("%.0f reconciles in %s from process start (includes start-up, cache sync and the first list), MaxConcurrentReconciles=%d",
			reconciles, elapsed.Round(100*time.Millisecond), b.s.Concurrency)})
	time.Sleep(5 * time.Second) // let the pass's last status writes land
	return b.memory(n, "fresh process after its first full pass over every object")
}

// charts draws the PNG charts from the results file with test/bench/plots, a module of its own (so the
// plotting library stays out of the operator's go.mod). A failure is reported, not fatal.
func (b *bench) charts(results, dir string) {
	in, err1 := filepath.Abs(results)
	out, err2 := filepath.Abs(dir)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, "charts:", err)
		return
	}
	cmd := exec.Command("go", "run", ".", "-in", in, "-out", out)
	cmd.Dir = filepath.Join("test", "bench", "plots")
	if raw, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "charts: %v\n%s", err, raw)
		return
	}
	fmt.Printf("charts: %s\n", out)
}
