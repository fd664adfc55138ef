package identitynow

import (
	"context"
	"sync"
	"time"
)

// BudgetKey identifies a shared rate budget. ISC counts requests per client id
// and API release; the token URL tells tenants apart. Credential (a digest of the
// client secret) keeps a caller who knows only the client id out of the budget.
type BudgetKey struct {
	TokenURL   string
	ClientID   string
	Release    Release
	Credential string
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

// Drop forgets the budget for key; the next Get starts a fresh one. The registry calls it when no
// tenant uses the budget any more.
func (b *Budgets) Drop(key BudgetKey) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}

// Len is the number of budgets held.
func (b *Budgets) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
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
	blocks   uint64          // 429s that blocked the budget (Stats)
	onGrant  func(time.Time) // test hook, called under mu
	// waiter admits one caller at a time to wait in-process for a slot; the others are told when to
	// come back, so a busy budget holds at most one of the callers' workers.
	waiter chan struct{}
}

// NewBudget returns a standalone budget (Budgets.Get is the usual way).
// clock may be nil (time.Now).
func NewBudget(requests int, period time.Duration, clock func() time.Time) *Budget {
	if clock == nil {
		clock = time.Now
	}
	b := &Budget{clock: clock, waiter: make(chan struct{}, 1)}
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

// MaxWait is the longest a request waits in-process for a budget slot. Beyond it the caller is told
// how long until the budget has room and sends nothing, so a shared worker is never parked on one
// tenant's budget.
const MaxWait = 2 * time.Second

// Take takes a slot if one frees within maxWait (0 when taken). Otherwise it takes nothing and
// returns how long until a slot may be free: at once while the budget is blocked by a 429, when the
// next slot is further away than what is left of maxWait, or when another caller is already waiting
// for this budget. It returns ctx.Err() if ctx ends while waiting.
func (b *Budget) Take(ctx context.Context, maxWait time.Duration) (retryAfter time.Duration, err error) {
	deadline := time.Now().Add(maxWait)
	for {
		if d := b.blockedFor(); d > 0 {
			return d, nil
		}
		d := b.Reserve()
		if d == 0 {
			return 0, nil
		}
		if d > time.Until(deadline) {
			return d, nil
		}
		select {
		case b.waiter <- struct{}{}:
		default:
			return d, nil
		}
		err := sleep(ctx, d)
		<-b.waiter
		if err != nil {
			return d, err
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
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
	b.blocks++
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
