package identitynow

import "time"

// BudgetStats is what a budget holds at one moment, for the state metrics.
type BudgetStats struct {
	// InUse is the number of requests granted within the current sliding window.
	InUse int
	// Requests and Period are the limit (0 and 0: none).
	Requests int
	Period   time.Duration
	// BlockedFor is how long the budget stays closed after a 429 (0 when open).
	BlockedFor time.Duration
	// RateLimited counts the 429s that closed the budget since it was created.
	RateLimited uint64
}

// Stats returns the budget's current use, limit and back-off. It never waits.
func (b *Budget) Stats() BudgetStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock()
	inUse := 0
	for _, t := range b.ring {
		if now.Sub(t) < b.window {
			inUse++
		}
	}
	return BudgetStats{
		InUse: inUse, Requests: b.requests, Period: b.period,
		BlockedFor: max(b.blocked.Sub(now), 0), RateLimited: b.blocks,
	}
}

// Lookup returns the budget for key without creating one.
func (b *Budgets) Lookup(key BudgetKey) (*Budget, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bu, ok := b.m[key]
	return bu, ok
}

// TokenStats describes a client's token requests.
type TokenStats struct {
	// Failures counts the token requests that failed (refused or not answered) since the client was built.
	Failures uint64
	// LastSuccess is when the last token was obtained; the zero time if none was.
	LastSuccess time.Time
}

// TokenStats returns the client's token request counts. It never waits for a token request in flight.
func (c *Client) TokenStats() TokenStats {
	s := TokenStats{Failures: c.tokens.failures.Load()}
	if ns := c.tokens.lastSuccess.Load(); ns != 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	return s
}
