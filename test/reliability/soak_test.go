//go:build soak

package reliability

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestSoak is the long part (`make soak`): SOAK_KILLS (default 50) kill -9 rounds with SOAK_SIMS
// (default 100) SimIntegrations being created, updated and deleted, then longer remote fault storms
// (SOAK_STORM_SECONDS, default 60),
// the Retry-After check and the secrets scan.
func TestSoak(t *testing.T) {
	kills, sims := envInt("SOAK_KILLS", 50), envInt("SOAK_SIMS", 100)
	s := start(t)
	t.Run("crash safety", func(t *testing.T) {
		crashSafety(t, s, crashParams{prefix: "soak", sims: sims, kills: kills, minGap: time.Second,
			maxGap: 5 * time.Second, workers: 4})
	})
	t.Run("remote faults", func(t *testing.T) { remoteFaults(t, s, time.Duration(envInt("SOAK_STORM_SECONDS", 60))*time.Second) })
	t.Run("client timeout", func(t *testing.T) { clientTimeout(t, s) })
	t.Run("retry-after", func(t *testing.T) { retryAfter(t, s, 20) })
	t.Run("delete while create pending", func(t *testing.T) { deleteWhilePending(t, s) })
	t.Run("no secrets anywhere", func(t *testing.T) { noSecrets(t, s) })
	report(t, s)
}

// clientTimeout: the fake commits creates but answers 32 s later, past the manager's 30 s client
// timeout, and every other request takes 2 s; the creates must be recovered by name, not repeated.
func clientTimeout(t *testing.T, s *suite) {
	ctx := context.Background()
	s.must(t, s.Fake.SetConfig(ctx, map[string]any{"createResponseDelay": "32s", "latency": "2s"}))
	want := map[string]simSpec{}
	for _, name := range []string{"timeout-a", "timeout-b", "timeout-c"} {
		w := simSpec{exists: true, tenant: "acme", description: "slow", attrs: map[string]any{"k": "v"}}
		s.must(t, s.c.Create(ctx, newSim(name, w)))
		want[name] = w
	}
	time.Sleep(40 * time.Second)
	s.must(t, s.Fake.SetConfig(ctx, map[string]any{"createResponseDelay": "0s", "latency": "0s"}))
	took := s.converge(t, want, 120*time.Second)
	s.stillConverged(t, want, 5*time.Second)
	s.figure("fault.client-timeout.converge", took.Round(100*time.Millisecond).String())
	s.deleteAll(t, want)
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}
