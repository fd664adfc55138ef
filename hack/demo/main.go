// Command demo runs sim-operator locally with nothing but Go: a kube-apiserver and etcd built from
// source (KUBEBUILDER_ASSETS, see hack/envtest-assets.sh), the fake IdentityNow API and the real
// manager binary, then applies config/samples with kubectl, waits until every SimIntegration is
// Ready and shows what to try. Ctrl-C stops everything it started and removes its files.
//
//	make demo                    # keeps running until Ctrl-C
//	make demo DEMO_ARGS=--once   # checks and exits: 0 when every SimIntegration became Ready
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sim-operator/sim-operator/test/harness"
)

func main() {
	once := flag.Bool("once", false, "check that the samples become Ready, then stop everything and exit")
	keep := flag.Bool("keep", false, "keep the work directory (logs, kubeconfig) on exit")
	timeout := flag.Duration("timeout", 3*time.Minute, "how long to wait for the samples to become Ready")
	assets := flag.String("assets", os.Getenv("KUBEBUILDER_ASSETS"),
		"directory with kube-apiserver, etcd and kubectl (default $KUBEBUILDER_ASSETS; `make demo` sets it)")
	flag.Parse()
	if *assets == "" {
		fmt.Fprintln(os.Stderr, "demo: KUBEBUILDER_ASSETS is not set: run `make demo`, which builds kube-apiserver, "+
			"etcd and kubectl from source (once) and sets it")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	d := &demo{once: *once, keep: *keep, timeout: *timeout, assets: *assets, start: time.Now(), out: os.Stdout}
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		d.tty = true
	}
	err := d.run(ctx)
	interrupted := ctx.Err() != nil
	stop() // from here on a second Ctrl-C ends the demo at once
	d.cleanup()
	switch {
	case err == nil:
	case interrupted:
		fmt.Println("\nInterrupted.")
		os.Exit(130)
	default:
		fmt.Fprintf(os.Stderr, "\ndemo FAILED: %v\n", err)
		os.Exit(1)
	}
}

type demo struct {
	once, keep bool
	tty        bool // stdout is a terminal: headings in bold
	timeout    time.Duration
	assets     string
	start      time.Time
	out        io.Writer

	workDir string
	env     *harness.Env
	failed  bool
}

// step prints a progress line with the time since the start.
func (d *demo) step(format string, args ...any) {
	_, _ = fmt.Fprintf(d.out, "[%5.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// section prints a heading.
func (d *demo) section(title string) {
	d.printf("\n%s\n", d.bold("== "+title))
}

// bold renders s in bold on a terminal.
func (d *demo) bold(s string) string {
	if !d.tty {
		return s
	}
	return "\033[1m" + s + "\033[0m"
}

func (d *demo) printf(format string, args ...any) { _, _ = fmt.Fprintf(d.out, format, args...) }

func (d *demo) run(ctx context.Context) (err error) {
	defer func() { d.failed = err != nil }()
	root := harness.RepoRoot()
	d.printf("%s: a local kube-apiserver and etcd, a fake IdentityNow API and the operator, with the\n"+
		"resources of config/samples. Nothing is downloaded and nothing outside this machine is called.\n\n",
		d.bold("sim-operator demo"))

	d.workDir, err = os.MkdirTemp("", "sim-operator-demo-")
	if err != nil {
		return err
	}
	d.step("Work directory %s (logs, kubeconfig; removed on exit)", d.workDir)
	d.env, err = harness.Start(ctx, harness.Config{
		Assets:   d.assets,
		WorkDir:  d.workDir,
		BinDir:   filepath.Join(root, "bin"),
		Progress: d.step,
		Echo:     d.out,
	})
	if err != nil {
		return err
	}
	e := d.env
	d.step("Manager log:               %s", e.ManagerLog)
	d.step("Fake IdentityNow log:      %s", e.FakeLog)
	requestLog := filepath.Join(d.workDir, "identitynow-requests.log")
	if f, err := os.Create(requestLog); err == nil {
		go func() {
			defer func() { _ = f.Close() }()
			e.Fake.FollowRequests(ctx, f, 250*time.Millisecond)
		}()
		d.step("Requests the operator sent to IdentityNow: %s", requestLog)
	}
	if err := d.symlinkKubectl(); err != nil {
		return err
	}

	d.section("Apply config/samples (a Tenant, a ClusterTenant, three SimIntegrations and their Secrets)")
	if err := e.ApplySamples(ctx); err != nil {
		return err
	}

	d.section("Point the tenants at the fake IdentityNow (the samples name https://acme.api.identitynow.com)")
	if _, err := e.PointTenantsAtFake(ctx); err != nil {
		return err
	}

	d.section("Wait until every tenant and SimIntegration is Ready")
	waitStart := time.Now()
	if err := e.WaitReady(ctx, d.timeout); err != nil {
		d.showState(ctx)
		return fmt.Errorf("%w\n%s", err, harness.TailFile(e.ManagerLog, 15))
	}
	d.step("Everything is Ready (%s after the tenants were patched)", time.Since(waitStart).Round(100*time.Millisecond))

	ids, err := d.check(ctx)
	if err != nil {
		d.showState(ctx)
		return err
	}
	d.showState(ctx)

	if d.once {
		d.section("Checks passed")
		d.printf("Every tenant and SimIntegration is Ready, each SimIntegration has a remote id, and the fake\n" +
			"holds exactly those objects. Run `make demo` without DEMO_ARGS=--once to keep it running and try things.\n")
		return nil
	}
	d.tryIt(ids)
	select {
	case <-ctx.Done():
		return nil
	case <-e.Manager.Done():
		_, werr := e.Manager.Exited()
		return fmt.Errorf("the manager exited unexpectedly (%w)\n%s", werr, harness.TailFile(e.ManagerLog, 20))
	}
}

// symlinkKubectl puts the kubectl that was built with the apiserver into WORKDIR/bin, for the PATH
// shown in the instructions (a machine with only Go has no kubectl).
func (d *demo) symlinkKubectl() error {
	dir := filepath.Join(d.workDir, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Symlink(d.env.Cluster.KubectlPath, filepath.Join(dir, "kubectl"))
}

var remoteIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// check verifies that every SimIntegration has a remote id and that the fake holds exactly those
// objects. It returns SimIntegration name → remote id.
func (d *demo) check(ctx context.Context) (map[string]string, error) {
	out, err := d.env.Kubectl(ctx, "get", "sim", "-A", "-o",
		`jsonpath={range .items[*]}{.metadata.name}{" "}{.status.id}{"\n"}{end}`)
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	var problems []string
	for line := range strings.Lines(out) {
		name, id, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !remoteIDRE.MatchString(id) {
			problems = append(problems, fmt.Sprintf("SimIntegration %s has status.id %q, not a 32-hex remote id", name, id))
		}
		ids[name] = id
	}
	if len(ids) == 0 {
		problems = append(problems, "no SimIntegration found")
	}
	objs, err := d.env.Fake.Objects(ctx)
	if err != nil {
		return nil, err
	}
	remote := map[string]bool{}
	for _, o := range objs {
		remote[o.ID] = true
	}
	for name, id := range ids {
		if !remote[id] {
			problems = append(problems, fmt.Sprintf("the fake has no object %s (status.id of %s)", id, name))
		}
	}
	if len(objs) != len(ids) {
		problems = append(problems, fmt.Sprintf("the fake holds %d objects for %d SimIntegrations", len(objs), len(ids)))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return ids, nil
}

// showState prints the resources and the fake's objects.
func (d *demo) showState(ctx context.Context) {
	e := d.env
	d.section("The resources")
	_, _ = e.Run(ctx, "get", "sim")
	d.printf("\n")
	_, _ = e.Run(ctx, "get", "tenants,clustertenants")

	d.section("The fake IdentityNow's objects (GET " + e.Fake.URL + "/_admin/objects)")
	objs, err := e.Fake.Objects(ctx)
	if err != nil {
		d.printf("  %v\n", err)
		return
	}
	tw := tabwriter.NewWriter(d.out, 0, 4, 3, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  ID\tNAME\tDESCRIPTION")
	for _, o := range objs {
		_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\n", o.ID, o.Name(), o.Description())
	}
	_ = tw.Flush()
	reqs, err := e.Fake.Requests(ctx, "", "")
	if err == nil {
		counts := map[string]int{}
		for _, r := range reqs {
			if r.Path == "/oauth/token" {
				counts["token"]++
			} else {
				counts[r.Method]++
			}
		}
		d.printf("  The operator has sent %d requests: %d token, %d GET, %d POST, %d PATCH, %d PUT, %d DELETE.\n",
			len(reqs), counts["token"], counts["GET"], counts["POST"], counts["PATCH"], counts["PUT"], counts["DELETE"])
	}
}

// tryIt prints the commands to try.
func (d *demo) tryIt(ids map[string]string) {
	e := d.env
	hr := ids["hr-tickets"]
	if hr == "" {
		hr = "REMOTE-ID"
	}
	d.section("Try it, in another terminal")
	d.printf(`  export KUBECONFIG=%s PATH=%s:$PATH   # kubectl %s
  tail -f %s      # what the operator sends to IdentityNow

  # Change a spec: the operator sends one JSON Patch with just that change.
  kubectl patch sim hr-tickets --type merge -p '{"spec":{"description":"changed"}}'
  kubectl get sim -w

  # Change the remote object behind the operator's back, as someone in the IdentityNow UI would,
  # then ask for an immediate reconcile (otherwise it is corrected within the tenant's pollInterval, 10m):
  curl -s -X PATCH %s/_admin/objects/%s -d '{"description":"edited in the UI"}'
  kubectl annotate sim hr-tickets --overwrite sim.identitynow.io/requested-at="$(date -u +%%FT%%TZ)"

  # The samples name their sources and cluster (spec.sourceRefs, spec.clusterRef); see what they resolved to,
  # then re-point "Workday" at a new source, as a promotion between tenants would, and watch the new id go out:
  kubectl get sim finance-tickets -o jsonpath='{.status.resolvedSources}{"\n"}'
  curl -s -X PATCH %s/_admin/sources/%s -d '{"name":"Workday (retired)"}'
  curl -s -X POST %s/_admin/sources -d '{"name":"Workday"}'
  kubectl annotate sim finance-tickets --overwrite sim.identitynow.io/requested-at="$(date -u +%%FT%%TZ)"

  kubectl describe sim servicenow-sim     # conditions and events
  kubectl explain simintegration.spec     # every field, documented

  # Delete: hr-tickets' remote object is deleted; finance-tickets has deletionPolicy: Orphan, so its stays.
  kubectl delete sim hr-tickets finance-tickets
  curl -s %s/_admin/objects               # the fake's objects, as JSON

  Logs: %s
        %s
`, e.Cluster.Kubeconfig, filepath.Join(d.workDir, "bin"), "(built from source by make envtest-assets)",
		filepath.Join(d.workDir, "identitynow-requests.log"),
		e.Fake.URL, hr, e.Fake.URL, harness.SampleSources["Workday"], e.Fake.URL, e.Fake.URL, e.ManagerLog, e.FakeLog)
	d.printf("\n%s\n", d.bold("Running. Press Ctrl-C to stop the manager, the fake, kube-apiserver and etcd, "+
		"and to remove "+d.workDir+"."))
}

// cleanup stops every process and removes the work directory.
func (d *demo) cleanup() {
	if d.env != nil {
		d.printf("\n")
		if err := d.env.Stop(); err != nil {
			d.step("While stopping: %v", err)
		}
	}
	if d.workDir == "" {
		return
	}
	if d.keep || (d.failed && d.once) {
		d.step("Kept %s (logs and kubeconfig)", d.workDir)
		return
	}
	if err := os.RemoveAll(d.workDir); err != nil {
		d.step("Could not remove %s: %v", d.workDir, err)
		return
	}
	d.step("Removed %s", d.workDir)
}
