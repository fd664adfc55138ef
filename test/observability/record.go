package observability

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sim-operator/sim-operator/test/harness"
)

// RecordOptions configure Record.
type RecordOptions struct {
	// Assets holds kube-apiserver, etcd and kubectl (KUBEBUILDER_ASSETS).
	Assets string
	// WorkDir receives the binaries, logs and kubeconfig.
	WorkDir string
	// Every is the scrape interval.
	Every time.Duration
	// Progress reports each step.
	Progress func(format string, args ...any)
}

// Record runs the real manager binary against a local kube-apiserver and the fake IdentityNow API
// (test/harness, as the e2e suite does), drives a small fleet through the states the dashboard
// shows (creates, a name conflict, a missing Secret, changes made in IdentityNow, 429s, suspension,
// a remote delete, a fix) and scrapes /metrics every opts.Every meanwhile.
func Record(ctx context.Context, opts RecordOptions) ([]Scrape, error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	metricsAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	env, err := harness.Start(ctx, harness.Config{
		Assets: opts.Assets, WorkDir: opts.WorkDir, Progress: progress,
		ManagerArgs: []string{"--metrics-bind-address=" + metricsAddr, "--metrics-secure=false"},
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Stop() }()
	if err := env.ApplySamples(ctx); err != nil {
		return nil, err
	}
	if _, err := env.PointTenantsAtFake(ctx); err != nil {
		return nil, err
	}
	d := &driver{ctx: ctx, env: env, progress: progress}
	// A short poll interval, so that the snapshots' age rises and falls within the run.
	d.kubectl("", "patch", "tenant", "acme", "--type", "merge", "-p", `{"spec":{"pollInterval":"40s"}}`)
	d.kubectl("", "patch", "clustertenant", "acme-shared", "--type", "merge", "-p", `{"spec":{"pollInterval":"40s"}}`)
	if d.err != nil {
		return nil, d.err
	}
	if err := env.WaitReady(ctx, 90*time.Second); err != nil {
		return nil, err
	}

	stop := scrapeEvery(ctx, "http://"+metricsAddr+"/metrics", opts.Every)
	d.run(scenario)
	got, serr := stop()
	if d.err != nil {
		return got, d.err
	}
	return got, serr
}

// step is one action of the scenario, at an offset from the first scrape.
type step struct {
	at   time.Duration
	what string
	do   func(d *driver)
}

var teams = []string{"team-a", "team-b", "team-c"}

// scenario is what Record does to the fleet, in order.
var scenario = []step{
	{10 * time.Second, "create 12 SimIntegrations on the ClusterTenant in three namespaces", func(d *driver) {
		for _, ns := range teams {
			d.kubectl("", "create", "namespace", ns)
			d.kubectl("", "label", "namespace", ns, "sim.identitynow.io/tenant=acme-shared")
			for i := range 4 {
				d.apply(ns, simYAML(fmt.Sprintf("%s-%d", ns, i), "ClusterTenant", "acme-shared", ""))
			}
		}
	}},
	{30 * time.Second, "a remote object named like a new SimIntegration; a missing Secret", func(d *driver) {
		foreign := map[string]any{"name": "taken", "type": "ServiceNow Service Desk"}
		if _, err := d.env.Fake.InsertObject(d.ctx, foreign); err != nil {
			d.fail(err)
		}
		d.apply("team-a", simYAML("taken", "ClusterTenant", "acme-shared", ""))
		d.apply("team-b", simYAML("needs-secret", "ClusterTenant", "acme-shared", "missing-secret"))
	}},
	{50 * time.Second, "three changes made in IdentityNow, seen at the next poll", func(d *driver) {
		for _, name := range []string{"team-a-0", "team-b-1", "team-c-2"} {
			d.editRemote(name, map[string]any{"description": "edited in the UI"})
		}
	}},
	{80 * time.Second, "IdentityNow answers 429 with Retry-After 30s, twice", func(d *driver) {
		if err := d.env.Fake.InjectFault(d.ctx, map[string]any{"count": 2, "status": 429, "retryAfter": "30s"}); err != nil {
			d.fail(err)
		}
		for _, ns := range teams {
			now := time.Now().UTC().Format(time.RFC3339Nano)
			d.kubectl("", "annotate", "sim", "--all", "-n", ns, "--overwrite", "sim.identitynow.io/requested-at="+now)
		}
	}},
	{130 * time.Second, "suspend two SimIntegrations", func(d *driver) {
		for _, name := range []string{"team-c-0", "team-c-1"} {
			d.kubectl("", "patch", "sim", name, "-n", "team-c", "--type", "merge", "-p", `{"spec":{"suspend":true}}`)
		}
	}},
	{150 * time.Second, "delete a remote object in IdentityNow (recreated) and change two more", func(d *driver) {
		d.deleteRemote("team-b-2")
		d.editRemote("team-a-0", map[string]any{"description": "edited in the UI again"})
		d.editRemote("team-a-1", map[string]any{"description": "edited in the UI"})
	}},
	{180 * time.Second, "create the missing Secret; rename the conflicting SimIntegration", func(d *driver) {
		d.kubectl("", "create", "secret", "generic", "missing-secret", "-n", "team-b",
			"--from-literal=password=s3cret-for-the-run")
		d.kubectl("", "patch", "sim", "taken", "-n", "team-a", "--type", "merge", "-p", `{"spec":{"name":"taken-2"}}`)
	}},
	{240 * time.Second, "end", func(*driver) {}},
}

func simYAML(name, kind, tenantName, secret string) string {
	y := fmt.Sprintf(`apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata:
  name: %s
spec:
  tenantRef: {kind: %s, name: %s}
  description: Tickets for %s
  attributes: {url: "https://acme.service-now.com"}
`, name, kind, tenantName, name)
	if secret != "" {
		y += fmt.Sprintf("  secretAttributes:\n  - name: password\n    secretKeyRef: {name: %s, key: password}\n", secret)
	}
	return y
}

// driver runs the steps; the first error stops the scenario.
type driver struct {
	ctx      context.Context
	env      *harness.Env
	progress func(string, ...any)
	err      error
}

func (d *driver) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *driver) kubectl(stdin string, args ...string) {
	if d.err != nil {
		return
	}
	if _, err := d.env.Cluster.Kubectl(d.ctx, stdin, args...); err != nil {
		d.fail(err)
	}
}

func (d *driver) apply(ns, manifest string) { d.kubectl(manifest, "apply", "-n", ns, "-f", "-") }

// remoteID finds the remote object called name.
func (d *driver) remoteID(name string) string {
	objs, err := d.env.Fake.ObjectsNamed(d.ctx, name)
	if err != nil || len(objs) != 1 {
		d.fail(fmt.Errorf("remote object %q: %d found: %w", name, len(objs), err))
		return ""
	}
	return objs[0].ID
}

func (d *driver) editRemote(name string, patch map[string]any) {
	if id := d.remoteID(name); id != "" {
		if err := d.env.Fake.EditObject(d.ctx, id, patch); err != nil {
			d.fail(err)
		}
	}
}

func (d *driver) deleteRemote(name string) {
	id := d.remoteID(name)
	if id == "" {
		return
	}
	req, err := http.NewRequestWithContext(d.ctx, http.MethodDelete, d.env.Fake.URL+"/_admin/objects/"+id, nil)
	if err != nil {
		d.fail(err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.fail(err)
		return
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		d.fail(fmt.Errorf("delete remote %s: %s", id, resp.Status))
	}
}

func (d *driver) run(steps []step) {
	start := time.Now()
	for _, s := range steps {
		if wait := time.Until(start.Add(s.at)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-d.ctx.Done():
				d.fail(d.ctx.Err())
				return
			}
		}
		d.progress("%3.0fs: %s", time.Since(start).Seconds(), s.what)
		s.do(d)
		if d.err != nil {
			return
		}
	}
}

// scrapeEvery scrapes url every interval until stop is called, which returns the scrapes.
func scrapeEvery(ctx context.Context, url string, every time.Duration) (stop func() ([]Scrape, error)) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu      sync.Mutex
		scrapes []Scrape
		firstEr error
		wg      sync.WaitGroup
	)
	client := &http.Client{Timeout: every}
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s, err := scrapeOnce(ctx, client, url)
			mu.Lock()
			if err != nil && firstEr == nil && ctx.Err() == nil {
				firstEr = err
			} else if err == nil {
				scrapes = append(scrapes, s)
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() ([]Scrape, error) {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return scrapes, firstEr
	}
}

func scrapeOnce(ctx context.Context, client *http.Client, url string) (Scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Scrape{}, err
	}
	at := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Scrape{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return Scrape{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return Scrape{}, fmt.Errorf("GET %s: content type %q", url, ct)
	}
	return ParseScrape(at, resp.Body)
}
