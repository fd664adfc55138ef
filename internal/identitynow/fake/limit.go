package fake

import (
	"math"
	"slices"
	"time"
)

// Escalation selects what the rate limit does about repeated violations.
type Escalation string

// The escalation modes (see RateLimit).
const (
	// EscalationDocumented is SailPoint's documented model: fixed windows per (client id, release)
	// and the route-specific backoff (IntervalThreshold violated windows within ViolationWindow
	// start the next of Tiers, remembered for TierMemory after it ends).
	EscalationDocumented Escalation = "documented"
	// EscalationPerRequest is the fake's older, stricter model for stress tests: a sliding window,
	// and every request that arrives while blocked moves the block to the next tier.
	EscalationPerRequest Escalation = "per-request"
	// EscalationNone is the documented fixed window without any backoff (SailPoint enables the
	// backoff per route; no source says whether the SIM routes have it).
	EscalationNone Escalation = "none"
)

// The defaults of the route-specific backoff, as SailPoint documents them (backOffConfig).
const (
	DefaultIntervalThreshold = 3
	DefaultViolationWindow   = 120 * time.Second
	DefaultTierMemory        = 3600 * time.Second
)

// Valid reports whether e names a mode ("" is the default, documented).
func (e Escalation) Valid() bool {
	return e == "" || e == EscalationDocumented || e == EscalationPerRequest || e == EscalationNone
}

// normalized fills the defaults in, so that the stored configuration says what is applied.
func (rl RateLimit) normalized() RateLimit {
	rl.Tiers = slices.Clone(rl.Tiers)
	if len(rl.Tiers) == 0 {
		rl.Tiers = slices.Clone(DefaultTiers)
	}
	if rl.Escalation == "" {
		rl.Escalation = EscalationDocumented
	}
	if rl.IntervalThreshold <= 0 {
		rl.IntervalThreshold = DefaultIntervalThreshold
	}
	if rl.ViolationWindow <= 0 {
		rl.ViolationWindow = DefaultViolationWindow
	}
	if rl.TierMemory <= 0 {
		rl.TierMemory = DefaultTierMemory
	}
	return rl
}

func rateLimitEqual(a, b RateLimit) bool {
	a, b = a.normalized(), b.normalized()
	return a.Requests == b.Requests && a.Period == b.Period && a.Escalation == b.Escalation &&
		a.IntervalThreshold == b.IntervalThreshold && a.ViolationWindow == b.ViolationWindow &&
		a.TierMemory == b.TierMemory && slices.Equal(a.Tiers, b.Tiers)
}

// limitKey is what the request limit counts by: client id and API release.
type limitKey struct{ clientID, release string }

// backoffKey is what the route-specific backoff counts by: the limit's key and the route, the
// method and path template of the operation ("PATCH /sim-integrations/{id}").
type backoffKey struct {
	limitKey
	route string
}

// limiter holds the counters of every key. Caller holds the server's mu.
type limiter struct {
	keys     map[limitKey]*limitState
	backoffs map[backoffKey]*backoffState
}

func newLimiter() limiter {
	return limiter{keys: map[limitKey]*limitState{}, backoffs: map[backoffKey]*backoffState{}}
}

type limitState struct {
	// Fixed windows (documented, none): the window index and the requests accepted in it.
	window int64
	count  int
	// Sliding window (per-request).
	accepted []time.Time // accepted request times inside the window, oldest first
	blocked  time.Time   // 429 for every request before this
	tier     int         // index into tiers of the current block, -1 for the initial one
}

type backoffState struct {
	violated []time.Time // first violation of each distinct violated window, oldest first
	windows  []int64     // their window indices
	until    time.Time   // the backoff lasts until then
	tier     int         // the tier of the last backoff, -1 for none
}

// admit applies the rate limit to one SIM request. It returns the Retry-After
// to send with a 429, or ok.
func (s *Server) admit(clientID, release, route string) (retryAfter time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rl := s.opts.RateLimit
	if rl.Requests <= 0 || rl.Period <= 0 {
		return 0, true
	}
	key := limitKey{clientID, release}
	st := s.limits.keys[key]
	if st == nil {
		st = &limitState{tier: -1, window: -1}
		s.limits.keys[key] = st
	}
	now := s.clock()
	if rl.Escalation == EscalationPerRequest {
		return st.admitPerRequest(now, rl)
	}
	var bo *backoffState
	if rl.Escalation != EscalationNone {
		bk := backoffKey{key, route}
		if bo = s.limits.backoffs[bk]; bo == nil {
			bo = &backoffState{tier: -1}
			s.limits.backoffs[bk] = bo
		}
		if now.Before(bo.until) {
			return wholeSeconds(bo.until.Sub(now)), false
		}
	}
	w := windowOf(now, rl.Period)
	if w != st.window {
		st.window, st.count = w, 0
	}
	if st.count < rl.Requests {
		st.count++
		return 0, true
	}
	if bo != nil {
		if d, started := bo.violation(now, w, rl); started {
			return d, false
		}
	}
	return wholeSeconds(time.Unix(0, (w+1)*int64(rl.Period)).Sub(now)), false
}

// windowOf is the index of the fixed window holding t; windows are aligned on the Unix epoch.
func windowOf(t time.Time, period time.Duration) int64 {
	n := t.UnixNano()
	w := n / int64(period)
	if n < 0 && n%int64(period) != 0 {
		w--
	}
	return w
}

// violation records a request refused in window w. When it makes IntervalThreshold distinct
// windows within ViolationWindow, the backoff starts at the next tier (the first one when the
// last backoff ended more than TierMemory ago) and the count begins again.
func (bo *backoffState) violation(now time.Time, w int64, rl RateLimit) (time.Duration, bool) {
	for len(bo.violated) > 0 && now.Sub(bo.violated[0]) >= rl.ViolationWindow {
		bo.violated, bo.windows = bo.violated[1:], bo.windows[1:]
	}
	if !slices.Contains(bo.windows, w) {
		bo.violated, bo.windows = append(bo.violated, now), append(bo.windows, w)
	}
	if len(bo.windows) < rl.IntervalThreshold {
		return 0, false
	}
	if bo.tier < 0 || now.Sub(bo.until) >= rl.TierMemory {
		bo.tier = 0
	} else {
		bo.tier = min(bo.tier+1, len(rl.Tiers)-1)
	}
	bo.violated, bo.windows = nil, nil
	d := wholeSeconds(rl.Tiers[bo.tier])
	bo.until = now.Add(d)
	return d, true
}

// admitPerRequest is the per-request mode: a sliding window; the first request over the limit
// is blocked until the oldest counted one leaves the window, and every request while blocked
// moves the block to the next tier.
func (st *limitState) admitPerRequest(now time.Time, rl RateLimit) (time.Duration, bool) {
	if now.Before(st.blocked) {
		st.tier = min(st.tier+1, len(rl.Tiers)-1)
		return st.block(now, rl.Tiers[st.tier]), false
	}
	for len(st.accepted) > 0 && now.Sub(st.accepted[0]) >= rl.Period {
		st.accepted = st.accepted[1:]
	}
	if len(st.accepted) < rl.Requests {
		st.accepted = append(st.accepted, now)
		st.tier = -1
		return 0, true
	}
	st.tier = -1
	return st.block(now, st.accepted[0].Add(rl.Period).Sub(now)), false
}

// block blocks the key for d rounded up to whole seconds (what Retry-After can say).
func (st *limitState) block(now time.Time, d time.Duration) time.Duration {
	d = wholeSeconds(d)
	st.blocked = now.Add(d)
	return d
}

// wholeSeconds rounds d up to whole seconds, at least 1 (what Retry-After can say).
func wholeSeconds(d time.Duration) time.Duration {
	return time.Duration(math.Max(1, math.Ceil(d.Seconds()))) * time.Second
}
