package tenant

import (
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// SnapshotStats is what a snapshot holds at one moment, for the state metrics.
type SnapshotStats struct {
	// Listed is false until the first list succeeded; the other fields are then zero.
	Listed bool
	// ListedAt is when the list behind the current contents was sent.
	ListedAt time.Time
	// ListDuration is how long that list took.
	ListDuration time.Duration
	// Objects is the number of remote objects held.
	Objects int
	// Interval is the poll interval the snapshot lists at (the shortest its users ask for).
	Interval time.Duration
}

// Stats returns the snapshot's age, size and last list duration. It never waits for a list in flight.
func (s *Snapshot) Stats() SnapshotStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SnapshotStats{Interval: s.interval}
	if s.byID != nil && !s.startedAt.IsZero() {
		st.Listed, st.ListedAt, st.ListDuration, st.Objects = true, s.startedAt, s.listTook, len(s.byID)
	}
	return st
}

// Stats is what the registry holds for one tenant object.
type Stats struct {
	// Proven: the tenant's credentials produced a token (it has a snapshot).
	Proven bool
	// Snapshot is the tenant's shared snapshot; nil until proven.
	Snapshot *SnapshotStats
	// Budget is the rate budget the tenant's client uses (shared with the tenants that have the same
	// credentials and release).
	Budget identitynow.BudgetStats
	// Token is set when the tenant's client reports its token requests.
	Token *identitynow.TokenStats
}

// tokenStatser is implemented by *identitynow.Client.
type tokenStatser interface {
	TokenStats() identitynow.TokenStats
}

// Stats returns what the registry holds for each tenant it has a connection for, by registry key
// (Key). It holds the registry's lock only to collect the pieces, never while reading them.
func (r *Registry) Stats() map[string]Stats {
	type piece struct {
		conn   *Connection
		budget *identitynow.Budget
	}
	r.mu.Lock()
	pieces := make(map[string]piece, len(r.conns))
	for key, e := range r.conns {
		b, _ := r.budgets.Lookup(e.budgetKey)
		pieces[key] = piece{conn: e.conn, budget: b}
	}
	r.mu.Unlock()

	out := make(map[string]Stats, len(pieces))
	for key, p := range pieces {
		st := Stats{Proven: p.conn.Proven()}
		if p.conn.Snapshot != nil {
			s := p.conn.Snapshot.Stats()
			st.Snapshot = &s
		}
		if p.budget != nil {
			st.Budget = p.budget.Stats()
		}
		if ts, ok := p.conn.Remote.(tokenStatser); ok {
			t := ts.TokenStats()
			st.Token = &t
		}
		out[key] = st
	}
	return out
}
