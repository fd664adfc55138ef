package fake

import (
	"math"
	"time"
)

type limitKey struct{ clientID, release string }

type limitState struct {
	accepted []time.Time // accepted request times inside the window, oldest first
	blocked  time.Time   // 429 for every request before this
	tier     int         // index into tiers of the current block, -1 for the initial one
}

// admit applies the rate limit to one SIM request. It returns the Retry-After
// to send with a 429, or ok.
func (s *Server) admit(clientID, release string) (retryAfter time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rl := s.opts.RateLimit
	if rl.Requests <= 0 || rl.Period <= 0 {
		return 0, true
	}
	key := limitKey{clientID, release}
	st := s.limits[key]
	if st == nil {
		st = &limitState{tier: -1}
		s.limits[key] = st
	}
	now := s.clock()
	if now.Before(st.blocked) {
		tiers := rl.Tiers
		if len(tiers) == 0 {
			tiers = DefaultTiers
		}
		st.tier = min(st.tier+1, len(tiers)-1)
		return st.block(now, tiers[st.tier]), false
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
	d = time.Duration(math.Max(1, math.Ceil(d.Seconds()))) * time.Second
	st.blocked = now.Add(d)
	return d
}
