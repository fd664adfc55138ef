package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// binaryMemory measures the real manager binary, as users run it: the in-process manager is stopped,
// ./cmd is built and started against the same kube-apiserver and fake with every object in place, and
// once it has reconciled them all (or after a timeout) its Go heap in use is read from its own /metrics
// and its peak RSS (VmHWM) from /proc.
func (b *bench) binaryMemory(env *envtest.Environment, n int) error {
	b.mgrStop()
	b.mgrStop = func() {}
	dir, err := os.MkdirTemp("", "sim-operator-bench-binary-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin := filepath.Join(dir, "manager")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd").CombinedOutput(); err != nil {
		return fmt.Errorf("build the manager: %v\n%s", err, out)
	}
	user, err := env.AddUser(envtest.User{Name: "bench-binary", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		return err
	}
	metricsAddr, probeAddr, pprofAddr := freeAddr(), freeAddr(), freeAddr()
	logf, err := os.Create(filepath.Join(filepath.Dir(b.logFile.Name()), "bench-binary-manager.log"))
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(bin, "--allow-insecure-http", "--tenant-host-allowlist=127.0.0.1",
		"--metrics-bind-address="+metricsAddr, "--metrics-secure=false", "--health-probe-bind-address="+probeAddr,
		"--pprof-bind-address="+pprofAddr, "--cluster-resource-namespace=sim-operator-system",
		fmt.Sprintf("--max-concurrent-reconciles=%d", b.s.Concurrency))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kcPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	start := time.Now()
	deadline := start.Add(8 * time.Minute)
	var reconciles float64
	for time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		m, err := scrape(b.ctx, metricsAddr)
		if err != nil {
			continue
		}
		if reconciles = m[`controller_runtime_reconcile_total{controller="simintegration"}`]; reconciles >= float64(n) {
			break
		}
	}
	time.Sleep(5 * time.Second) // let the last status writes and a GC cycle pass
	m, err := scrape(b.ctx, metricsAddr)
	if err != nil {
		return fmt.Errorf("scrape the manager's metrics: %w", err)
	}
	profile := filepath.Join(filepath.Dir(b.logFile.Name()), "bench-binary-heap.pprof")
	if err := download(b.ctx, "http://"+pprofAddr+"/debug/pprof/heap?gc=1", profile); err != nil {
		return fmt.Errorf("heap profile of the manager: %w", err)
	}
	fmt.Printf("heap profile of the manager binary: %s (go tool pprof -top %s)\n", profile, profile)
	hwm, rss, err := procMemory(cmd.Process.Pid)
	if err != nil {
		return err
	}
	heap := m["go_memstats_heap_inuse_bytes"] / (1 << 20)
	detail := fmt.Sprintf("real binary, %d objects in the cluster, %.0f reconciles in %s; heap from its /metrics (go_memstats_heap_inuse_bytes), RSS from /proc (VmRSS %.0f MiB)",
		n, reconciles, time.Since(start).Round(time.Second), rss)
	b.add(result{Measure: "manager binary: Go heap in use", N: n, Value: heap, Unit: "MiB", Goal: "(info)", Met: true, Detail: detail})
	b.add(result{Measure: "manager binary: peak RSS (VmHWM)", N: n, Value: hwm, Unit: "MiB", Goal: "≤ 150 MiB", Met: hwm <= 150, Detail: detail})
	return nil
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
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
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
