package fake

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const maxRequestBody = 1 << 20

// LoggedRequest is one non-admin request as the server saw it.
type LoggedRequest struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"` // arrival, by the server's clock
	Method string    `json:"method"`
	Path   string    `json:"path"`
	// Query is the raw query with client_secret redacted.
	Query string `json:"query,omitempty"`
	// Status is the response status; 0 when no response was written.
	Status int `json:"status"`
	// Header is a copy with Authorization redacted.
	Header http.Header `json:"header"`
	// Body is the request body; nil for the token endpoint.
	Body     []byte `json:"body,omitempty"`
	ClientID string `json:"clientID,omitempty"`
	// Release is the API version of a SIM or lookup route: v2024, v2025, v2026 or v1 for SIM
	// routes, and also v3 or beta for the lookups.
	Release string `json:"release,omitempty"`
	// API is the API of the route: APISIM, APISources or APIManagedClusters ("" for the token
	// endpoint and unknown paths).
	API string `json:"api,omitempty"`

	body []byte // full body for the handlers, also for the token endpoint
}

// Filter selects logged requests.
type Filter func(LoggedRequest) bool

// ByMethod keeps requests with method m.
func ByMethod(m string) Filter {
	return func(r LoggedRequest) bool { return strings.EqualFold(r.Method, m) }
}

// ByPathPrefix keeps requests whose path starts with p.
func ByPathPrefix(p string) Filter {
	return func(r LoggedRequest) bool { return strings.HasPrefix(r.Path, p) }
}

// ByPathContains keeps requests whose path contains p.
func ByPathContains(p string) Filter {
	return func(r LoggedRequest) bool { return strings.Contains(r.Path, p) }
}

// SIMOnly keeps requests to SIM routes (not the lookups, the token endpoint or unknown paths).
func SIMOnly() Filter { return func(r LoggedRequest) bool { return r.API == APISIM } }

// ByAPI keeps requests to one API (APISIM, APISources or APIManagedClusters).
func ByAPI(api string) Filter { return func(r LoggedRequest) bool { return r.API == api } }

// Requests returns the logged requests in arrival order (in-flight ones with Status 0), keeping those every filter accepts.
func (s *Server) Requests(filters ...Filter) []LoggedRequest {
	s.mu.Lock()
	log := make([]LoggedRequest, len(s.log))
	for i, e := range s.log {
		log[i] = *e
		log[i].body = nil
	}
	s.mu.Unlock()
	out := log[:0]
next:
	for _, r := range log {
		for _, f := range filters {
			if !f(r) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// CountRequests counts logged requests with method and path prefix ("" matches any).
func (s *Server) CountRequests(method, pathPrefix string) int {
	var fs []Filter
	if method != "" {
		fs = append(fs, ByMethod(method))
	}
	return len(s.Requests(append(fs, ByPathPrefix(pathPrefix))...))
}

// ResetLog forgets all logged requests.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// begin records the arrival of r (logged at once, with status 0 until
// finish) and reads its body.
func (s *Server) begin(r *http.Request) *LoggedRequest {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	r.Body = io.NopCloser(bytes.NewReader(body))
	h := r.Header.Clone()
	if h.Get("Authorization") != "" {
		h.Set("Authorization", "REDACTED")
	}
	e := &LoggedRequest{Method: r.Method, Path: r.URL.Path, Query: redactQuery(r.URL.RawQuery), Header: h, body: body}
	if r.URL.Path != "/oauth/token" {
		e.Body = body
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	e.Seq, e.Time = s.seq, s.clock()
	s.log = append(s.log, e)
	return e
}

// annotate changes a logged entry under the lock (the log is shared).
func (s *Server) annotate(e *LoggedRequest, f func(e *LoggedRequest)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(e)
}

// finish records the response status.
func (s *Server) finish(e *LoggedRequest, status int) {
	s.annotate(e, func(e *LoggedRequest) { e.Status = status })
}

func redactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "REDACTED"
	}
	if q.Has("client_secret") {
		q.Set("client_secret", "REDACTED")
	}
	return q.Encode()
}
