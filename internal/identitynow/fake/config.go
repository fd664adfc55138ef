package fake

import (
	"slices"
	"time"
)

// Config is the server's adjustable configuration (also the admin API's
// /_admin/config document; durations are Go duration strings there).
type Config struct {
	Shape               Shape      `json:"shape"`
	TokenTTL            Duration   `json:"tokenTTL"`
	PatchForms          PatchForms `json:"patchForms"`
	MaskedAttributes    []string   `json:"maskedAttributes"`
	OmittedAttributes   []string   `json:"omittedAttributes"`
	RateLimit           RateJSON   `json:"rateLimit"`
	Latency             Duration   `json:"latency"`
	CreateResponseDelay Duration   `json:"createResponseDelay"`
	FailureRate         RateFault  `json:"failureRate"`
}

// RateJSON is RateLimit in JSON form.
type RateJSON struct {
	Requests          int        `json:"requests"`
	Period            Duration   `json:"period"`
	Escalation        Escalation `json:"escalation"`
	Tiers             []Duration `json:"tiers,omitempty"`
	IntervalThreshold int        `json:"intervalThreshold"`
	ViolationWindow   Duration   `json:"violationWindow"`
	TierMemory        Duration   `json:"tierMemory"`
}

// RateFault is the random failure setting (see SetFailureRate).
type RateFault struct {
	Fraction float64   `json:"fraction"`
	Status   int       `json:"status,omitempty"`
	Until    time.Time `json:"until,omitzero"`
}

// Config returns the current configuration.
func (s *Server) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	rl := s.opts.RateLimit
	tiers := make([]Duration, len(rl.Tiers))
	for i, t := range rl.Tiers {
		tiers[i] = Duration(t)
	}
	return Config{
		Shape: s.opts.Shape, TokenTTL: Duration(s.opts.TokenTTL), PatchForms: s.opts.PatchForms,
		MaskedAttributes:  slices.Clone(s.opts.MaskedAttributes),
		OmittedAttributes: slices.Clone(s.opts.OmittedAttributes),
		RateLimit: RateJSON{Requests: rl.Requests, Period: Duration(rl.Period), Escalation: rl.Escalation, Tiers: tiers,
			IntervalThreshold: rl.IntervalThreshold, ViolationWindow: Duration(rl.ViolationWindow),
			TierMemory: Duration(rl.TierMemory)},
		Latency: Duration(s.latency), CreateResponseDelay: Duration(s.delay),
		FailureRate: RateFault{Fraction: s.rate.fraction, Status: s.rate.status, Until: s.rate.until},
	}
}

// SetShape changes the response shape.
func (s *Server) SetShape(sh Shape) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Shape = sh
}

// SetTokenTTL changes the lifetime of tokens issued from now on.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.TokenTTL = d
}

// SetPatchForms changes which PATCH body forms are accepted.
func (s *Server) SetPatchForms(f PatchForms) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.PatchForms = f
}

// SetMaskedAttributes changes which attribute keys are masked in responses.
func (s *Server) SetMaskedAttributes(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.MaskedAttributes = slices.Clone(keys)
}

// SetOmittedAttributes changes which attribute keys are left out of responses.
func (s *Server) SetOmittedAttributes(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.OmittedAttributes = slices.Clone(keys)
}

// SetClient adds or replaces an accepted client (an empty secret removes it).
func (s *Server) SetClient(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if secret == "" {
		delete(s.opts.Clients, id)
		return
	}
	s.opts.Clients[id] = secret
}

// SetRateLimit replaces the rate limit and forgets all counters, blocks and backoffs.
func (s *Server) SetRateLimit(rl RateLimit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.RateLimit = rl.normalized()
	s.limits = newLimiter()
}

// SetLatency delays every non-admin request by d before it is handled.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// DelayCreateResponse makes every later successful POST commit the object and
// then wait d before responding, so a client timeout fires after the object
// exists. 0 turns it off.
func (s *Server) DelayCreateResponse(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

func (s *Server) applyConfig(c Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Shape != "" {
		s.opts.Shape = c.Shape
	}
	if c.TokenTTL > 0 {
		s.opts.TokenTTL = time.Duration(c.TokenTTL)
	}
	if c.PatchForms != "" {
		s.opts.PatchForms = c.PatchForms
	}
	if c.OmittedAttributes != nil {
		s.opts.OmittedAttributes = slices.Clone(c.OmittedAttributes)
	}
	if c.MaskedAttributes != nil {
		s.opts.MaskedAttributes = slices.Clone(c.MaskedAttributes)
	}
	s.latency, s.delay = time.Duration(c.Latency), time.Duration(c.CreateResponseDelay)
	s.rate = failureRate{fraction: c.FailureRate.Fraction, status: c.FailureRate.Status, until: c.FailureRate.Until}
	rj := c.RateLimit
	rl := RateLimit{Requests: rj.Requests, Period: time.Duration(rj.Period), Escalation: rj.Escalation,
		IntervalThreshold: rj.IntervalThreshold, ViolationWindow: time.Duration(rj.ViolationWindow),
		TierMemory: time.Duration(rj.TierMemory)}
	for _, t := range rj.Tiers {
		rl.Tiers = append(rl.Tiers, time.Duration(t))
	}
	if !rateLimitEqual(rl, s.opts.RateLimit) {
		s.opts.RateLimit = rl.normalized()
		s.limits = newLimiter()
	}
}
