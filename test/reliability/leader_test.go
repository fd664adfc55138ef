package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/test/harness"
)

const leaseAcquired = "Successfully acquired lease"

// leaderElection stops the suite's manager, runs two replicas with --leader-elect, checks that only
// the leader reconciles (and so writes), kill -9s the leader and times the failover.
func leaderElection(t *testing.T, s *suite) {
	ctx := context.Background()
	for _, args := range [][]string{
		{"create", "namespace", harness.OperatorNamespace},
		{"apply", "-n", harness.OperatorNamespace, "-f", filepath.Join("config", "rbac", "leader_election_role.yaml")},
		{"create", "rolebinding", "leader-election-rolebinding", "-n", harness.OperatorNamespace,
			"--role=leader-election-role", "--serviceaccount=" + harness.ManagerServiceAccount},
	} {
		if _, err := s.Kubectl(ctx, args...); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
			t.Fatal(err)
		}
	}
	if err := s.Manager.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			if err := s.StartManager(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}()

	logA, logB := s.logPath("replica-a.log"), s.logPath("replica-b.log")
	s.replicaLogs = append(s.replicaLogs, logA, logB)
	a, err := s.StartReplica(ctx, logA, nil, "--leader-elect", "--metrics-bind-address=0")
	s.must(t, err)
	defer func() { _ = a.Kill() }()
	s.must(t, poll(60*time.Second, func() error { return logHas(logA, leaseAcquired) }))
	b, err := s.StartReplica(ctx, logB, nil, "--leader-elect", "--metrics-bind-address=0")
	s.must(t, err)
	defer func() { _ = b.Kill() }()

	want := faultSet(t, s, "le", "acme", 6)
	touch(t, s, want, "under-leader-a")
	s.converge(t, want, 60*time.Second)
	time.Sleep(pollInterval)
	for _, marker := range []string{leaseAcquired, "Starting workers", `"msg":"Reconciling"`, `"msg":"identitynow request"`} {
		if err := logHas(logB, marker); err == nil {
			t.Errorf("the standby replica logged %q while the other one led", marker)
		}
		if err := logHas(logA, marker); err != nil {
			t.Errorf("the leader: %v", err)
		}
	}

	killed := time.Now()
	s.must(t, a.Kill())
	touch(t, s, want, "after-failover")
	took := s.converge(t, want, 90*time.Second)
	failover := time.Since(killed)
	s.must(t, logHas(logB, leaseAcquired))
	t.Logf("leader election: standby idle while the leader ran; after kill -9 of the leader, converged %s later "+
		"(lease duration 15s)", failover.Round(100*time.Millisecond))
	s.figure("leaderElection.failover", failover.Round(100*time.Millisecond).String())
	_ = took
	s.must(t, b.Stop(10*time.Second))
	s.must(t, s.StartManager(ctx)) // the suite's own manager handles the clean-up
	restarted = true
	s.deleteAll(t, want)
}

func logHas(path, s string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), s) {
		return fmt.Errorf("%s does not contain %q", filepath.Base(path), s)
	}
	return nil
}

// noSecrets: after everything above, at --zap-log-level=10, no secret and no token in the manager's
// logs (all processes), the Events, any status, or the metrics.
func noSecrets(t *testing.T, s *suite) {
	ctx := context.Background()
	var leaks []string
	scanned := 0
	for _, p := range append([]string{s.ManagerLog}, s.replicaLogs...) {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) && p != s.ManagerLog {
			continue // a replica that never started
		}
		s.must(t, err)
		scanned += len(b)
		leaks = append(leaks, leakCheck(filepath.Base(p), string(b))...)
	}
	for _, what := range [][]string{
		{"get", "events", "-A", "-o", "yaml"},
		{"get", "events.events.k8s.io", "-A", "-o", "yaml"},
		{"get", "simintegrations,tenants,clustertenants", "-A", "-o", "yaml"},
	} {
		out, err := s.Kubectl(ctx, what...)
		s.must(t, err)
		scanned += len(out)
		leaks = append(leaks, leakCheck("kubectl "+strings.Join(what, " "), out)...)
	}
	m, err := s.metrics()
	s.must(t, err)
	if !strings.Contains(m, "controller_runtime_reconcile_total") {
		t.Errorf("the metrics endpoint does not look like the manager's")
	}
	scanned += len(m)
	leaks = append(leaks, leakCheck("/metrics", m)...)
	events, _ := s.Kubectl(ctx, "get", "events", "-A", "--no-headers")
	t.Logf("scanned %d bytes of logs, events (%d), statuses and metrics for %d secrets and the fake's tokens",
		scanned, strings.Count(events, "\n"), len(allSecrets))
	s.figure("secrets.bytesScanned", scanned)
	s.figure("secrets.leaks", len(leaks))
	for _, l := range leaks {
		t.Error(l)
	}
}
