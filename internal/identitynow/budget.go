package identitynow

import (
	"context"
	"sync"
	"time"
)

// BudgetKey identifies a shared rate budget. ISC counts requests per client id
// and API release; the token URL tells tenants apart.
type BudgetKey struct {
	TokenURL string
	ClientID string
	Release  Release
}

// Budgets is a registry of rate budgets, safe for concurrent use.
type Budgets struct {
	clock func() time.Time
	mu    sync.Mutex
	m     map[BudgetKey]*Budget
}

// NewBudgets returns an empty registry. clock may be nil (time.Now).
func NewBudgets(clock func() time.Time) *Budgets {
	if clock == nil {
		clock = time.Now
	}
	return &Budgets{clock: clock, m: map[BudgetKey]*Budget{}}
}

// Get returns the budget for key, creating it on first use. The same key
// always yields the same *Budget; a different limit updates it in place.
// A non-positive requests or period means "no limit" (429 blocks still apply).
func (b *Budgets) Get(key BudgetKey, requests int, period time.Duration) *Budget {
	b.mu.Lock()
	defer b.mu.Unlock()
	bu, ok := b.m[key]
	if !ok {
		bu = NewBudget(requests, period, b.clock)
		b.m[key] = bu
		return bu
	}
	bu.SetLimit(requests, period)
	return bu
}

// Budget allows at most Requests SIM requests in any sliding window of length
// Period. It keeps the grant times of the last Requests slots in a ring: a new
// slot is free once the oldest of them is at least Period (plus a small guard,
// see windowGuard) old. After a 429 the whole budget is blocked until the
// Retry-After has passed. Safe for concurrent use.
type Budget struct {
	clock func() time.Time

	mu       sync.Mutex
	requests int
	period   time.Duration
	window   time.Duration // period + guard
	ring     []time.Time   // grant times, ring[next] is the oldest once full
	next     int
	blocked  time.Time
	onGrant  func(time.Time) // test hook, called under mu
}

// NewBudget returns a standalone budget (Budgets.Get is the usual way).
// clock may be nil (time.Now).
func NewBudget(requests int, period time.Duration, clock func() time.Time) *Budget {
	if clock == nil {
		clock = time.Now
	}
	b := &Budget{clock: clock}
	b.SetLimit(requests, period)
	return b
}

// windowGuard is added to the period so that requests reordered on their way
// to the server (a few milliseconds) do not make the server count one too many:
// 1% of the period, at most 100ms.
func windowGuard(period time.Duration) time.Duration {
	return min(period/100, 100*time.Millisecond)
}

// SetLimit changes the limit in place, keeping the most recent grant times.
func (b *Budget) SetLimit(requests int, period time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if requests <= 0 || period <= 0 {
		requests, period = 0, 0
	}
	if requests == b.requests && period == b.period {
		return
	}
	recent := b.ordered()
	if len(recent) > requests {
		recent = recent[len(recent)-requests:]
	}
	b.requests, b.period, b.window = requests, period, period+windowGuard(period)
	b.ring = recent // grows with use: a generous limit costs memory only when it is used
	b.next = 0
}

// Limit returns the current limit.
func (b *Budget) Limit() (requests int, period time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests, b.period
}

// ordered returns the grant times oldest first. Caller holds mu.
func (b *Budget) ordered() []time.Time {
	out := make([]time.Time, 0, len(b.ring))
	out = append(out, b.ring[b.next:]...)
	return append(out, b.ring[:b.next]...)
}

// Reserve never blocks. It returns 0 when a request slot was taken and the
// caller may send now; otherwise it returns how long until a slot may be free,
// and nothing was taken.
func (b *Budget) Reserve() (wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock()
	if now.Before(b.blocked) {
		return b.blocked.Sub(now)
	}
	return b.reserveLocked(now)
}

func (b *Budget) reserveLocked(now time.Time) time.Duration {
	if b.requests == 0 {
		b.grant(now)
		return 0
	}
	if len(b.ring) < b.requests {
		b.ring = append(b.ring, now)
		b.grant(now)
		return 0
	}
	if free := b.ring[b.next].Add(b.window); now.Before(free) {
		return free.Sub(now)
	}
	b.ring[b.next] = now
	b.next = (b.next + 1) % b.requests
	b.grant(now)
	return 0
}

func (b *Budget) grant(t time.Time) {
	if b.onGrant != nil {
		b.onGrant(t)
	}
}

// Wait blocks until a request slot is taken (nil) or ctx is done (ctx.Err()).
// It also waits out a block.
func (b *Budget) Wait(ctx context.Context) error {
	_, _, err := b.wait(ctx, false)
	return err
}

// wait takes a slot. With failIfBlocked it returns the remaining block
// instead of waiting when the budget is blocked. When ctx ends first it
// returns ctx.Err() and the wait that was still ahead.
func (b *Budget) wait(ctx context.Context, failIfBlocked bool) (blocked, ahead time.Duration, err error) {
	for {
		if failIfBlocked {
			if d := b.blockedFor(); d > 0 {
				return d, 0, nil
			}
		}
		d := b.Reserve()
		if d == 0 {
			return 0, 0, nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, d, ctx.Err()
		case <-t.C:
		}
	}
}

func (b *Budget) blockedFor() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.blocked.Sub(b.clock()), 0)
}

// Block stops every caller until now+d. It extends an existing block, never shortens it.
func (b *Budget) Block(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if until := b.clock().Add(d); until.After(b.blocked) {
		b.blocked = until
	}
}

// BlockedUntil returns the end of the current (or last) block; the zero time if never blocked.
func (b *Budget) BlockedUntil() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blocked
}
