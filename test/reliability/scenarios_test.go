package reliability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/test/harness"
)

// crashParams sizes the crash-safety scenario.
type crashParams struct {
	prefix string
	sims   int
	kills  int
	// gap is the range of time between two kills.
	minGap, maxGap time.Duration
	workers        int
}

// crashSafety creates, updates and deletes SimIntegrations from several goroutines while the manager
// is kill -9'd at random moments and restarted, then checks for duplicates, leaks and lost updates.
func crashSafety(t *testing.T, s *suite, p crashParams) {
	ctx := context.Background()
	// Widen the windows a crash can hit: every request takes a little longer, and a create's
	// response arrives well after the remote object was committed.
	s.must(t, s.Fake.SetConfig(ctx, map[string]any{"latency": "20ms", "createResponseDelay": "400ms"}))
	defer func() { s.must(t, s.Fake.SetConfig(ctx, map[string]any{"latency": "0s", "createResponseDelay": "0s"})) }()

	var mu sync.Mutex
	want := map[string]simSpec{}
	names := make([]string, p.sims)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%03d", p.prefix, i)
		want[names[i]] = simSpec{tenant: "acme"}
	}
	// All of them at once, so that many creates are in flight when the first kill comes.
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			w := simSpec{exists: true, tenant: "acme", description: "rev-0", attrs: map[string]any{"rev": 0.0},
				secretAttr: i%3 == 0}
			if err := s.c.Create(ctx, newSim(name, w)); err != nil {
				t.Errorf("create %s: %v", name, err)
				return
			}
			mu.Lock()
			want[name] = w
			mu.Unlock()
		})
	}
	wg.Wait()

	stop := make(chan struct{})
	var ops struct {
		sync.Mutex
		creates, updates, deletes int
	}
	var rev int
	busy := map[string]bool{}
	for range p.workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				name := names[rand.IntN(len(names))]
				if busy[name] {
					mu.Unlock()
					continue
				}
				busy[name] = true
				cur := want[name]
				rev++
				r := rev
				mu.Unlock()
				release := func() { mu.Lock(); delete(busy, name); mu.Unlock() }
				w := simSpec{exists: true, tenant: "acme", description: fmt.Sprintf("rev-%d", r),
					attrs: map[string]any{"rev": float64(r)}, secretAttr: cur.secretAttr}
				var err error
				var kind string
				switch {
				case !cur.exists:
					kind = "create"
					err = s.c.Create(ctx, newSim(name, w))
					if apierrors.IsAlreadyExists(err) {
						release()
						continue // still being finalized
					}
				case rand.IntN(10) < 7:
					kind = "update"
					err = s.update(ctx, name, w)
					if errors.Is(err, errDeleting) {
						release()
						continue
					}
				default:
					kind = "delete"
					w = simSpec{tenant: "acme"}
					err = s.c.Delete(ctx, &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
				}
				if err != nil {
					release()
					t.Errorf("%s %s: %v", kind, name, err)
					continue
				}
				mu.Lock()
				want[name] = w // one worker per name at a time (busy), so this is the apiserver's order
				delete(busy, name)
				mu.Unlock()
				ops.Lock()
				switch kind {
				case "create":
					ops.creates++
				case "update":
					ops.updates++
				default:
					ops.deletes++
				}
				ops.Unlock()
				time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
			}
		})
	}

	begin := time.Now()
	for k := range p.kills {
		time.Sleep(p.minGap + time.Duration(rand.Int64N(int64(p.maxGap-p.minGap)+1)))
		s.killAndRestart(t)
		if (k+1)%10 == 0 {
			t.Logf("%d kills so far (%s)", k+1, time.Since(begin).Round(time.Second))
		}
	}
	close(stop)
	wg.Wait()
	workload := time.Since(begin)
	s.must(t, s.Fake.SetConfig(ctx, map[string]any{"latency": "0s", "createResponseDelay": "0s"}))

	took := s.converge(t, want, 180*time.Second)
	s.stillConverged(t, want, 3*time.Second)
	tl, _ := s.divergence(ctx, want)
	live := 0
	for _, w := range want {
		if w.exists {
			live++
		}
	}
	creates := countRequests(t, s, "POST", "/sim-integrations")
	t.Logf("crash safety: %d SimIntegrations, %d kill -9 in %s, %d creates / %d updates / %d deletes in Kubernetes, "+
		"%d remote POSTs; converged %s after the last kill; %s; %d live at the end",
		p.sims, p.kills, workload.Round(time.Second), ops.creates, ops.updates, ops.deletes, creates,
		took.Round(100*time.Millisecond), tl, live)
	s.figure(p.prefix+".kills", p.kills)
	s.figure(p.prefix+".ops", fmt.Sprintf("%d creates, %d updates, %d deletes", ops.creates+p.sims, ops.updates, ops.deletes))
	s.figure(p.prefix+".converge", took.Round(100*time.Millisecond).String())
	s.figure(p.prefix+".tally", tl.String())
	s.deleteAll(t, want)
}

func countRequests(t *testing.T, s *suite, method, path string) int {
	t.Helper()
	reqs, err := s.Fake.Requests(context.Background(), method, path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range reqs {
		if r.Method == method && (path != "/sim-integrations" || isCollection(r.Path)) {
			n++
		}
	}
	return n
}

func isCollection(p string) bool {
	return len(p) >= len("/sim-integrations") && p[len(p)-len("/sim-integrations"):] == "/sim-integrations"
}

// faultSet creates n SimIntegrations on tenant and waits for them.
func faultSet(t *testing.T, s *suite, prefix, tenant string, n int) map[string]simSpec {
	ctx := context.Background()
	want := map[string]simSpec{}
	for i := range n {
		name := fmt.Sprintf("%s-%02d", prefix, i)
		w := simSpec{exists: true, tenant: tenant, description: "start", attrs: map[string]any{"k": "v"}, secretAttr: i%2 == 0}
		s.must(t, s.c.Create(ctx, newSim(name, w)))
		want[name] = w
	}
	s.converge(t, want, 90*time.Second)
	return want
}

// touch changes the description of every wanted SimIntegration.
func touch(t *testing.T, s *suite, want map[string]simSpec, desc string) {
	for name, w := range want {
		if !w.exists {
			continue
		}
		w.description = desc
		w.attrs = map[string]any{"k": desc}
		s.must(t, s.update(context.Background(), name, w))
		want[name] = w
	}
}

// remoteFault runs fault (which injects something into the fake and returns a func that ends it),
// changes every object during the fault, ends it and measures how long convergence takes.
func remoteFault(t *testing.T, s *suite, label string, want map[string]simSpec, during time.Duration,
	fault func() (end func())) time.Duration {
	t.Helper()
	end := fault()
	touch(t, s, want, label+"-1")
	time.Sleep(during)
	// The last change comes just before the fault ends, so convergence is measured on real work
	// (and on whatever back-off the fault left behind).
	touch(t, s, want, label+"-2")
	end()
	took := s.converge(t, want, 120*time.Second)
	t.Logf("%s: converged %s after the fault ended (poll interval %s)", label, took.Round(100*time.Millisecond), pollInterval)
	s.figure("fault."+label, took.Round(100*time.Millisecond).String())
	return took
}

// statusesBetween counts the fake's answers with status among the requests logged after seq.
func statusCounts(t *testing.T, s *suite, afterSeq int64) map[int]int {
	reqs, err := s.Fake.Requests(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, r := range reqs {
		if r.Seq > afterSeq {
			out[r.Status]++
		}
	}
	return out
}

func lastSeq(t *testing.T, s *suite) int64 {
	reqs, err := s.Fake.Requests(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) == 0 {
		return 0
	}
	return reqs[len(reqs)-1].Seq
}

// earlyRequests replays the fake's limiter in its per-request mode over the log of one (client,
// release) and returns the requests that arrived while a Retry-After was still running. inFlight
// is how long after a 429 a request may still arrive because it was sent before the 429 was
// received (concurrent workers).
// injected maps the seq of an injected 429 to the Retry-After it carried.
func earlyRequests(reqs []harness.Request, clientID, release string, tiers []time.Duration,
	injected map[int64]time.Duration, inFlight time.Duration) (early []harness.Request, blocks int, longest time.Duration) {
	var blocked, issued time.Time
	tier := -1
	for _, r := range reqs {
		if r.ClientID != clientID || r.Release != release {
			continue
		}
		t := r.Time
		if t.Before(blocked) && t.Sub(issued) > inFlight {
			early = append(early, r)
		}
		if r.Status != 429 {
			if !t.Before(blocked) {
				tier = -1
			}
			continue
		}
		var d time.Duration
		switch ra, ok := injected[r.Seq]; {
		case ok:
			d = ra
		case t.Before(blocked):
			tier = min(tier+1, len(tiers)-1)
			d = tiers[tier]
		default:
			tier = -1
			d = time.Second // the window is 1 s: the first violation always gets Retry-After: 1
		}
		blocks++
		longest = max(longest, d)
		blocked, issued = t.Add(d), t
	}
	return early, blocks, longest
}
