package identitynow

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

// waitSlot blocks until b grants a slot or ctx ends: the tests' way to use a budget to its limit
// (the client itself never waits longer than MaxWait, see Take).
func waitSlot(ctx context.Context, b *Budget) error {
	for {
		d := b.Reserve()
		if d == 0 {
			return nil
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
}

// maxInWindow returns the largest number of times in any half-open window [t, t+period).
func maxInWindow(times []time.Time, period time.Duration) int {
	times = slices.Clone(times)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	best, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= period {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func TestMaxInWindow(t *testing.T) {
	t0 := time.Now()
	ts := []time.Time{t0, t0.Add(50 * time.Millisecond), t0.Add(100 * time.Millisecond), t0.Add(150 * time.Millisecond)}
	if got := maxInWindow(ts, 100*time.Millisecond); got != 2 {
		t.Fatalf("got %d", got)
	}
	if got := maxInWindow(ts, 101*time.Millisecond); got != 3 {
		t.Fatalf("got %d", got)
	}
}

// TestBudgetSlidingWindow: 50 goroutines share one budget; the grant times
// (recorded under the budget's lock) never exceed the limit in any window.
func TestBudgetSlidingWindow(t *testing.T) {
	const requests, period, workers, each = 10, 200 * time.Millisecond, 50, 1
	b := NewBudget(requests, period, nil)
	var mu sync.Mutex
	var grants []time.Time
	b.onGrant = func(t time.Time) { mu.Lock(); grants = append(grants, t); mu.Unlock() }
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if err := waitSlot(context.Background(), b); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(grants) != workers*each {
		t.Fatalf("%d grants", len(grants))
	}
	if got := maxInWindow(grants, period); got > requests {
		t.Fatalf("%d requests in one %v window, limit %d", got, period, requests)
	}
	// 50 requests at 10 per 200ms need at least 4 full periods.
	if el := time.Since(start); el < 4*period {
		t.Fatalf("finished in %v: too fast for the limit", el)
	}
}

// TestBudgetAgainstFake: 50 goroutines on 5 clients share one budget from
// the registry and call the fake, coming back when the budget turns them away; the arrival times it logged respect the
// limit (with 50ms tolerance for scheduling jitter between grant and arrival;
// a token bucket of the same rate would put 17 requests in that window).
func TestBudgetAgainstFake(t *testing.T) {
	const requests, period, tolerance = 10, 200 * time.Millisecond, 50 * time.Millisecond
	e := newEnv(t, fake.Options{})
	budgets := NewBudgets(nil)
	key := BudgetKey{TokenURL: e.url + "/oauth/token", ClientID: testClientID, Release: ReleaseV2025}
	var clients []*Client
	for range 5 {
		clients = append(clients, e.client(func(c *Config) { c.Budget, c.Release = budgets.Get(key, requests, period), ReleaseV2025 }))
	}
	var wg sync.WaitGroup
	for w := range 50 {
		c := clients[w%len(clients)]
		wg.Go(func() {
			// A caller the budget turns away comes back when it says, as a requeued reconcile does.
			for {
				_, err := c.Get(context.Background(), "0123456789abcdef0123456789abcdef")
				if KindOf(err) == KindRateLimited {
					time.Sleep(RetryAfter(err))
					continue
				}
				if !IsNotFound(err) {
					t.Error(err)
				}
				return
			}
		})
	}
	wg.Wait()
	var times []time.Time
	for _, r := range e.fk.Requests(fake.SIMOnly()) {
		times = append(times, r.Time)
	}
	if len(times) != 50 {
		t.Fatalf("%d requests", len(times))
	}
	if got := maxInWindow(times, period-tolerance); got > requests {
		t.Fatalf("the server saw %d requests within %v", got, period-tolerance)
	}
}

func TestBudgetReserveIsNonBlocking(t *testing.T) {
	clock := newClock()
	b := NewBudget(3, 10*time.Second, clock.Now)
	for i := range 3 {
		if d := b.Reserve(); d != 0 {
			t.Fatalf("slot %d: wait %v", i, d)
		}
		clock.Step(time.Second)
	}
	// t=3s, grants at 0,1,2: the next slot frees at 10s + guard (100ms).
	if d := b.Reserve(); d != 7100*time.Millisecond {
		t.Fatalf("wait %v", d)
	}
	if d := b.Reserve(); d != 7100*time.Millisecond {
		t.Fatal("a refused Reserve must not take a slot")
	}
	clock.Step(7100 * time.Millisecond)
	if d := b.Reserve(); d != 0 {
		t.Fatalf("after the window: %v", d)
	}
	if d := b.Reserve(); d != time.Second { // oldest is now the grant at 1s
		t.Fatalf("next: %v", d)
	}
}

func TestBudgetBlock(t *testing.T) {
	clock := newClock()
	b := NewBudget(100, time.Second, clock.Now)
	b.Block(30 * time.Second)
	b.Block(10 * time.Second) // never shortens
	if got := b.BlockedUntil(); !got.Equal(clock.Now().Add(30 * time.Second)) {
		t.Fatalf("blocked until %v", got)
	}
	if d := b.Reserve(); d != 30*time.Second {
		t.Fatalf("reserve while blocked: %v", d)
	}
	clock.Step(30 * time.Second)
	if d := b.Reserve(); d != 0 {
		t.Fatalf("after block: %v", d)
	}
}

// TestBudgetBlockStopsAllWaiters: with a real clock, Wait returns for nobody
// until the block ends.
func TestBudgetBlockStopsAllWaiters(t *testing.T) {
	b := NewBudget(100, time.Second, nil)
	b.Block(150 * time.Millisecond)
	until := b.BlockedUntil()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := waitSlot(context.Background(), b); err != nil {
				t.Error(err)
			}
			if now := time.Now(); now.Before(until) {
				t.Errorf("Wait returned %v before the block ended", until.Sub(now))
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	b.Block(time.Hour)
	if err := waitSlot(ctx, b); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait must honour ctx: %v", err)
	}
}

func TestBudgetsRegistry(t *testing.T) {
	clock := newClock()
	reg := NewBudgets(clock.Now)
	k := BudgetKey{TokenURL: "https://a/oauth/token", ClientID: "c", Release: ReleaseV2024}
	b1 := reg.Get(k, 2, time.Second)
	if b2 := reg.Get(k, 2, time.Second); b1 != b2 {
		t.Fatal("same key, same budget")
	}
	if b3 := reg.Get(BudgetKey{TokenURL: k.TokenURL, ClientID: "c", Release: ReleaseV1}, 2, time.Second); b3 == b1 {
		t.Fatal("another release has its own budget")
	}
	b1.Reserve()
	b1.Reserve()
	if b1.Reserve() == 0 {
		t.Fatal("limit 2")
	}
	if b := reg.Get(k, 3, time.Second); b != b1 {
		t.Fatal("a changed limit updates in place")
	}
	if r, p := b1.Limit(); r != 3 || p != time.Second {
		t.Fatalf("limit %d/%v", r, p)
	}
	if b1.Reserve() != 0 || b1.Reserve() == 0 {
		t.Fatal("raised limit keeps the two earlier grants")
	}
	reg.Get(k, 1, time.Second)
	if b1.Reserve() == 0 {
		t.Fatal("lowered limit keeps the most recent grant")
	}
	reg.Get(k, 0, 0)
	for range 100 {
		if b1.Reserve() != 0 {
			t.Fatal("no limit")
		}
	}
}

// TestBudgetTakeNeverParksTheCaller: a year-long window (the starvation attack of a Tenant with
// rateLimit 1 per 8760h) makes Take return at once with the time until the budget has room, instead of
// waiting inside the worker.
func TestBudgetTakeNeverParksTheCaller(t *testing.T) {
	b := NewBudget(1, 8760*time.Hour, nil)
	if d, err := b.Take(context.Background(), MaxWait); d != 0 || err != nil {
		t.Fatalf("first Take: %v, %v", d, err)
	}
	start := time.Now()
	d, err := b.Take(context.Background(), MaxWait)
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("Take waited %s for a slot a year away", took)
	}
	if err != nil || d < 8000*time.Hour {
		t.Fatalf("Take = %v, %v; want about a year and no error", d, err)
	}
	b.Block(time.Hour)
	if d, _ := b.Take(context.Background(), MaxWait); d < 59*time.Minute {
		t.Fatalf("blocked budget: Take = %v, want the block's remaining hour", d)
	}
}

// TestBudgetTakeWaitsBrieflyOneCallerAtATime: a slot that frees within maxWait is waited for, but by
// one caller only; the others are told to come back, so one budget holds at most one worker.
func TestBudgetTakeWaitsBrieflyOneCallerAtATime(t *testing.T) {
	b := NewBudget(1, 300*time.Millisecond, nil)
	if d, _ := b.Take(context.Background(), MaxWait); d != 0 {
		t.Fatal("first Take did not get the free slot")
	}
	const callers = 8
	results := make(chan time.Duration, callers)
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			d, err := b.Take(context.Background(), MaxWait)
			if err != nil {
				t.Error(err)
			}
			results <- d
		})
	}
	wg.Wait()
	close(results)
	taken := 0
	for d := range results {
		if d == 0 {
			taken++
		}
	}
	if taken != 1 {
		t.Fatalf("%d callers got the next slot, want exactly 1 (the one that waited)", taken)
	}
	if took := time.Since(start); took > MaxWait {
		t.Fatalf("callers took %s, more than MaxWait", took)
	}
}

// TestBudgetTakeHonoursMaxWait: a slot 1.5 s away is not waited for with a 1 s allowance.
func TestBudgetTakeHonoursMaxWait(t *testing.T) {
	b := NewBudget(1, 1500*time.Millisecond, nil)
	_, _ = b.Take(context.Background(), time.Second)
	start := time.Now()
	if d, _ := b.Take(context.Background(), time.Second); d == 0 || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("Take = %v after %s; want a refusal at once", d, time.Since(start))
	}
}
