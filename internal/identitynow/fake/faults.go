package fake

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// StatusReset as a fault status aborts the connection without any response.
const StatusReset = -1

// Match selects requests for a fault; empty fields match anything.
type Match struct {
	Method       string `json:"method,omitempty"`
	PathContains string `json:"pathContains,omitempty"`
}

func (m Match) matches(r *http.Request) bool {
	return (m.Method == "" || strings.EqualFold(m.Method, r.Method)) &&
		strings.Contains(r.URL.Path, m.PathContains)
}

// Fault answers the next Count matching requests (token endpoint included)
// with Status instead of handling them. Faults come before every other check
// and are not counted by the rate limit.
type Fault struct {
	Match Match `json:"match"`
	Count int   `json:"count"`
	// Status is the HTTP status, or StatusReset to drop the connection.
	Status int `json:"status"`
	// RetryAfter, when > 0, is sent as Retry-After: whole seconds, or an
	// HTTP-date when RetryAfterDate is set.
	RetryAfter     Duration `json:"retryAfter,omitempty"`
	RetryAfterDate bool     `json:"retryAfterDate,omitempty"`
	// Message replaces the default error text.
	Message string `json:"message,omitempty"`
}

// FailNext answers the next n requests matching m with status (and a
// Retry-After of retryAfter when > 0).
func (s *Server) FailNext(n int, m Match, status int, retryAfter time.Duration) {
	s.InjectFault(Fault{Match: m, Count: n, Status: status, RetryAfter: Duration(retryAfter)})
}

// InjectFault queues a fault; faults are tried in the order queued.
func (s *Server) InjectFault(f Fault) {
	if f.Count <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults drops queued faults, the failure rate and field rejections.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.rate, s.rejects = nil, failureRate{}, nil
}

type failureRate struct {
	fraction float64
	status   int
	until    time.Time
}

// SetFailureRate makes a random fraction (0..1) of SIM requests fail with
// status until the given time (zero: until changed). Fraction 0 turns it off.
func (s *Server) SetFailureRate(fraction float64, status int, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = failureRate{fraction: fraction, status: status, until: until}
}

// takeFault returns the fault to apply to r, if any, consuming one use.
func (s *Server) takeFault(r *http.Request, sim bool) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.Match.matches(r) {
			continue
		}
		f.Count--
		if f.Count <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	fr := s.rate
	if sim && fr.fraction > 0 && (fr.until.IsZero() || s.clock().Before(fr.until)) && rand.Float64() < fr.fraction {
		return &Fault{Status: cmpOr(fr.status, http.StatusInternalServerError)}
	}
	return nil
}

// writeFault answers with the fault's status and a body of the usual shape.
func (s *Server) writeFault(w http.ResponseWriter, f *Fault) {
	if f.Status == StatusReset {
		panic(http.ErrAbortHandler)
	}
	if d := time.Duration(f.RetryAfter); d > 0 {
		v := strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
		if f.RetryAfterDate {
			v = s.clock().Add(d).UTC().Format(http.TimeFormat)
		}
		w.Header().Set("Retry-After", v)
	}
	switch f.Status {
	case http.StatusUnauthorized:
		writeJSON(w, f.Status, map[string]any{"error": cmpOr(f.Message, "JWT validation failed: JWT is invalid")})
	case http.StatusTooManyRequests:
		writeJSON(w, f.Status, map[string]any{"message": cmpOr(f.Message, " Rate Limit Exceeded ")})
	default:
		writeErrorDTO(w, f.Status, f.Message)
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// rejection is a Rejection with its value normalised to what json.Unmarshal yields.
type rejection struct {
	Rejection
	value any
}

// Rejection refuses writes whose resulting document has Value at the JSON Pointer Pointer (see
// RejectField), and deletes of a stored document that has it. Echo makes the message quote a value of that document, as some servers quote the
// offending or the stored value in their error texts: the fake then answers with whatever the
// client sent, or stored earlier, secret attribute values included.
type Rejection struct {
	Pointer string `json:"pointer"`
	Value   any    `json:"value"`
	Message string `json:"message"`
	// Status is the HTTP status of the answer: 400 when zero; a 5xx imitates a server fault whose
	// text quotes the document.
	Status int `json:"status,omitempty"`
	// Echo is a JSON Pointer into the resulting document. Its value replaces every "{echo}" in
	// Message, or is appended after ": " when Message has none. A pointer that resolves to nothing
	// quotes nothing.
	Echo string `json:"echo,omitempty"`
	// EchoForm is how the echoed value is written: EchoRaw (a string as it is, any other value as
	// JSON), EchoJSON (as a JSON literal, a string in quotes and escaped) or EchoURL (query-escaped).
	EchoForm EchoForm `json:"echoForm,omitempty"`
}

// EchoForm is how a Rejection quotes a value.
type EchoForm string

// The echo forms.
const (
	EchoRaw  EchoForm = ""
	EchoJSON EchoForm = "json"
	EchoURL  EchoForm = "url"
)

// RejectField makes creates, puts and patches whose resulting document has
// value at the JSON Pointer answer 400 with message.
func (s *Server) RejectField(jsonPointer string, value any, message string) {
	s.Reject(Rejection{Pointer: jsonPointer, Value: value, Message: message})
}

// Reject adds a rejection; the first one a document matches answers.
func (s *Server) Reject(rj Rejection) {
	b, err := json.Marshal(rj.Value)
	if err != nil {
		panic(fmt.Sprintf("fake: rejection value is not JSON: %v", err))
	}
	var norm any
	_ = json.Unmarshal(b, &norm)
	if rj.Status == 0 {
		rj.Status = http.StatusBadRequest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejects = append(s.rejects, rejection{Rejection: rj, value: norm})
}

// rejected returns the status and message of the first rejection doc matches. Caller holds mu.
func (s *Server) rejected(doc map[string]any) (int, string, bool) {
	for _, rj := range s.rejects {
		if v, ok := lookupPointer(doc, rj.Pointer); ok && reflect.DeepEqual(v, rj.value) {
			return rj.Status, rj.message(doc), true
		}
	}
	return 0, "", false
}

// message is the rejection's text for doc, with the echoed value in place.
func (rj rejection) message(doc map[string]any) string {
	if rj.Echo == "" {
		return rj.Message
	}
	v, ok := lookupPointer(doc, rj.Echo)
	if !ok {
		return strings.ReplaceAll(rj.Message, "{echo}", "")
	}
	text, isString := v.(string)
	if !isString || rj.EchoForm == EchoJSON {
		b, _ := json.Marshal(v)
		text = string(b)
	}
	if rj.EchoForm == EchoURL {
		text = url.QueryEscape(text)
	}
	if !strings.Contains(rj.Message, "{echo}") {
		return rj.Message + ": " + text
	}
	return strings.ReplaceAll(rj.Message, "{echo}", text)
}

// lookupPointer resolves an RFC 6901 JSON Pointer in a decoded document.
func lookupPointer(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	cur := doc
	for tok := range strings.SplitSeq(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
