// Package fake is an in-memory imitation of the SailPoint Identity Security
// Cloud SIM integrations API, faithful enough to serve as a test oracle.
//
// It serves the token endpoint (POST /oauth/token, client credentials) and the
// seven SIM routes under /v2024, /v2025, /v2026 (…/sim-integrations) and
// /sim-integrations/v1, all sharing one store, and the read side of the Sources
// and Managed Clusters APIs (references.go). It enforces the experimental
// header, bearer tokens with expiry, unique names, the JSON Patch media type and
// SailPoint's rate limit (see RateLimit: what SailPoint documents and what is
// this fake's choice). Tests steer it through Go methods; the standalone command
// through the JSON admin API under /_admin/.
package fake

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Shape selects the response document of SIM routes.
type Shape string

// The response shapes.
const (
	// ShapeEcho returns the stored request document (SimIntegrationDetails)
	// plus id, created and modified, and the keys ServiceDeskIntegrationDto
	// requires (description, type, attributes) with ShapeDTO's defaults where
	// the document has none.
	ShapeEcho Shape = "echo"
	// ShapeDTO returns ServiceDeskIntegrationDto, as the spec documents:
	// managedSources, clusterRef, cluster:null, and no statusMap, request or sources.
	ShapeDTO Shape = "dto"
)

// PatchForms selects which PATCH body forms are accepted.
type PatchForms string

// The PATCH body form choices.
const (
	PatchFormsBoth       PatchForms = "both"
	PatchFormsOperations PatchForms = "operations" // only {"operations":[...]}
	PatchFormsArray      PatchForms = "array"      // only a bare RFC 6902 array
)

// RateLimit is the limit of SIM requests per (client id, release).
//
// Documented by SailPoint (developer.sailpoint.com docs/api/v3/rate-limit.md): Requests per
// Period (100 per 10 s) per client id and API version; over it, 429 with Retry-After "seconds to
// wait before rate limit resets". Some routes add a route-specific backoff (backOffConfig): after
// intervalThreshold (3) distinct violated intervals within violationWindow (120 s), Retry-After
// grows through tiers (60, 300, 600, 1200 s), and the last tier is remembered for tierMemoryWindow
// (3600 s) after it expires.
//
// This fake's choices, where the documentation is silent, in the default EscalationDocumented:
//   - Windows are fixed (our reading of "resets") and aligned on the Unix epoch (window = time /
//     Period). Retry-After is the seconds to the end of the window, rounded up, at least 1.
//     Refused requests are not counted.
//   - A route is the method and path template of the operation ("GET /sim-integrations/{id}"),
//     per client id and release; a request refused by the shared (client id, release) limit is a
//     violation of its own route only, and a backoff refuses only its own route.
//   - The request that makes the third violated window gets the first tier. While a backoff lasts,
//     its route's requests get 429 with the rest of it and are neither counted nor violations.
//     Each backoff needs IntervalThreshold new violated windows; the next one is one tier higher
//     (staying at the last) if it starts less than TierMemory after the previous one ended, else
//     the first tier again.
//   - The backoff applies to every SIM route (no source says whether SailPoint enables it for
//     them); EscalationNone turns it off.
//
// EscalationPerRequest is the fake's older, stricter model, kept for stress tests: a sliding
// window of Period; the first request over the limit gets Retry-After = the seconds until the
// oldest counted request leaves the window, and every request that arrives while blocked gets
// 429 and moves the block to the next tier (Tiers[0], Tiers[1], …, staying at the last). The first
// accepted request after a block resets it. SailPoint documents nothing like it.
//
// Requests <= 0 disables the limit. Zero fields take the documented defaults.
type RateLimit struct {
	Requests int
	Period   time.Duration
	// Escalation defaults to EscalationDocumented.
	Escalation Escalation
	// Tiers defaults to DefaultTiers (60s, 300s, 600s, 1200s).
	Tiers []time.Duration
	// IntervalThreshold, ViolationWindow and TierMemory shape the documented backoff; they
	// default to DefaultIntervalThreshold, DefaultViolationWindow and DefaultTierMemory.
	IntervalThreshold int
	ViolationWindow   time.Duration
	TierMemory        time.Duration
}

// DefaultTiers is the Retry-After escalation used when RateLimit.Tiers is empty: SailPoint's
// documented backOffConfig tiers.
var DefaultTiers = []time.Duration{60 * time.Second, 300 * time.Second, 600 * time.Second, 1200 * time.Second}

// DefaultTokenTTL is the documented token lifetime (expires_in 749).
const DefaultTokenTTL = 749 * time.Second

// Options configures a Server. The zero value is usable (no clients, DTO shape).
type Options struct {
	// Clients maps client ids to secrets accepted by the token endpoint.
	Clients map[string]string
	// TokenTTL defaults to DefaultTokenTTL.
	TokenTTL time.Duration
	// Shape defaults to ShapeDTO (the documented response schema).
	Shape Shape
	// MaskedAttributes are attribute keys whose values are returned as "********".
	MaskedAttributes []string
	// OmittedAttributes are attribute keys left out of responses altogether: the live API may hide a
	// credential either way, and a client must cope with both. A key in both lists is omitted.
	OmittedAttributes []string
	// PatchForms defaults to PatchFormsBoth.
	PatchForms PatchForms
	// RateLimit is disabled when Requests is 0.
	RateLimit RateLimit
	// Clock defaults to time.Now; it drives timestamps, token expiry and rate limits.
	Clock func() time.Time
}

// Masked is the value returned in place of a masked attribute.
const Masked = "********"

// Server is the fake API. It implements http.Handler; Start serves it on a
// local httptest server. All methods are safe for concurrent use.
type Server struct {
	clock func() time.Time
	admin *http.ServeMux

	mu      sync.Mutex
	opts    Options // current configuration (mutable through setters)
	store   map[string]*object
	order   []string                       // insertion order of ids
	names   map[string]map[string]struct{} // name → ids (Insert may store duplicates)
	tokens  map[string]tokenInfo
	limits  limiter
	refs    refStore
	faults  []*Fault
	rate    failureRate
	latency time.Duration
	delay   time.Duration // create response delay
	rejects []rejection
	log     []*LoggedRequest
	seq     int64

	ts *httptest.Server
}

// NewServer returns a Server; call Start or mount it as an http.Handler.
func NewServer(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Shape == "" {
		opts.Shape = ShapeDTO
	}
	if opts.PatchForms == "" {
		opts.PatchForms = PatchFormsBoth
	}
	opts.Clients = cloneMap(opts.Clients)
	opts.MaskedAttributes = slices.Clone(opts.MaskedAttributes)
	opts.OmittedAttributes = slices.Clone(opts.OmittedAttributes)
	opts.RateLimit = opts.RateLimit.normalized()
	s := &Server{
		clock:  opts.Clock,
		opts:   opts,
		store:  map[string]*object{},
		names:  map[string]map[string]struct{}{},
		tokens: map[string]tokenInfo{},
		limits: newLimiter(),
	}
	s.admin = s.adminMux()
	return s
}

// Start serves s on 127.0.0.1 with a new httptest server and returns its URL.
func (s *Server) Start() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ts == nil {
		s.ts = httptest.NewServer(s)
	}
	return s.ts.URL
}

// Close stops the server started by Start, closing client connections.
func (s *Server) Close() {
	s.mu.Lock()
	ts := s.ts
	s.mu.Unlock()
	if ts != nil {
		ts.CloseClientConnections()
		ts.Close()
	}
}

// ServeHTTP serves the token endpoint, the SIM routes and the admin API.
// Every non-admin request is logged, delayed by the latency, and may be
// answered by an injected fault before anything else is checked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_admin/") {
		s.admin.ServeHTTP(w, r)
		return
	}
	rec := &recorder{ResponseWriter: w}
	entry := s.begin(r)
	defer func() { s.finish(entry, rec.status) }()
	if sleepCtx(r.Context(), s.currentLatency()) {
		s.serve(rec, r, entry)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, entry *LoggedRequest) {
	rt, isSIM := parseRoute(r.URL.Path)
	lr, isLookup := parseLookupRoute(r.URL.Path)
	var authProblem string
	if isSIM || isLookup {
		var clientID string
		clientID, authProblem = s.authenticate(r)
		release, api := rt.release, APISIM
		if isLookup {
			release, api = lr.version, lr.api
		}
		s.annotate(entry, func(e *LoggedRequest) { e.Release, e.API, e.ClientID = release, api, clientID })
	}
	if f := s.takeFault(r, isSIM); f != nil {
		s.writeFault(w, f)
		return
	}
	switch {
	case r.URL.Path == "/oauth/token":
		s.serveToken(w, r, entry)
	case isSIM:
		s.serveSIM(w, r, rt, entry, authProblem)
	case isLookup:
		s.serveLookup(w, r, lr, entry, authProblem)
	default:
		writeErrorDTO(w, http.StatusNotFound)
	}
}

// recorder remembers the status written.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (s *Server) currentLatency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latency
}

// sleepCtx sleeps d unless ctx ends first; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	maps.Copy(out, m)
	return out
}
