package identitynow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrorKind classifies an *Error so callers can decide what to do next.
type ErrorKind string

// The error kinds.
const (
	// KindInvalid: the request was refused as invalid (400 and other 4xx not listed below).
	KindInvalid ErrorKind = "Invalid"
	// KindUnauthorized: 401 from a SIM route, or the token endpoint refused the credentials.
	KindUnauthorized ErrorKind = "Unauthorized"
	// KindForbidden: 403.
	KindForbidden ErrorKind = "Forbidden"
	// KindNotFound: 404.
	KindNotFound ErrorKind = "NotFound"
	// KindRateLimited: 429, or the shared budget is blocked after an earlier 429.
	KindRateLimited ErrorKind = "RateLimited"
	// KindServer: 5xx, 408, unexpected status codes, or a malformed success response.
	KindServer ErrorKind = "Server"
	// KindTransport: no response (dial, timeout, reset, TLS, cancelled context).
	KindTransport ErrorKind = "Transport"
)

// DefaultRetryAfter is used for a 429 whose Retry-After header is missing or invalid.
const DefaultRetryAfter = 10 * time.Second

const (
	maxMessages   = 8
	maxMessageLen = 300
)

// Error is the only error type returned by Client methods. Its text never
// contains secrets, tokens, request bodies or attribute values.
type Error struct {
	// Kind classifies the failure.
	Kind ErrorKind
	// StatusCode is the HTTP status, or 0 when no response was received.
	StatusCode int
	// Messages are the server's texts: ErrorResponseDto messages and causes,
	// the "error" field of a 401 or the "message" field of a 429. Sensitive
	// values are cut out of them; a text that still held part of one is
	// replaced by "(message withheld: it contained a secret value)".
	Messages []string
	// RetryAfter is how long to wait before the next attempt (429, 503), else 0.
	RetryAfter time.Duration
	// Op is the client operation: list, get, create, put, patch, patch_rule,
	// delete or token.
	Op string

	detail string // extra sanitized text (transport cause, local refusal)
	cause  error  // for errors.Is / errors.As, never printed as a whole
}

// Error implements error, e.g. "identitynow: create: 400 Bad Request: name already exists".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("identitynow: ")
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	switch {
	case e.StatusCode != 0:
		fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	case e.Kind == KindTransport:
		b.WriteString("transport error")
	case e.Kind == KindRateLimited:
		b.WriteString("rate limited")
	default:
		b.WriteString(strings.ToLower(string(e.Kind)))
	}
	parts := e.Messages
	if e.detail != "" {
		parts = append([]string{e.detail}, parts...)
	}
	if len(parts) > 0 {
		b.WriteString(": " + strings.Join(parts, "; "))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", roundForHumans(e.RetryAfter))
	}
	return b.String()
}

func roundForHumans(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// Unwrap returns the underlying cause (context errors, net errors), if any.
func (e *Error) Unwrap() error { return e.cause }

// KindOf returns the kind of err, or "" when err is not (or does not wrap) an *Error.
func KindOf(err error) ErrorKind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return ""
}

// IsNotFound reports whether err is a 404 from the API.
func IsNotFound(err error) bool { return KindOf(err) == KindNotFound }

// RetryAfter returns how long the server asked to wait, or 0.
func RetryAfter(err error) time.Duration {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.RetryAfter
	}
	return 0
}

// kindForStatus maps an HTTP status code of a SIM route to an ErrorKind.
func kindForStatus(code int) ErrorKind {
	switch {
	case code == http.StatusUnauthorized:
		return KindUnauthorized
	case code == http.StatusForbidden:
		return KindForbidden
	case code == http.StatusNotFound:
		return KindNotFound
	case code == http.StatusTooManyRequests:
		return KindRateLimited
	case code == http.StatusRequestTimeout:
		return KindServer
	case code >= 400 && code < 500:
		return KindInvalid
	default:
		return KindServer
	}
}

// ParseRetryAfter parses a Retry-After header value given as delay-seconds or
// as an HTTP-date (relative to now). A date in the past yields 0. ok is false
// for an empty, malformed or out-of-range value.
func ParseRetryAfter(h string, now time.Time) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if isDigits(h) {
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	if d = t.Sub(now); d < 0 {
		d = 0
	}
	return d, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// retryAfterFor returns the wait for a 429/503 response: the header value (at
// least one second), or DefaultRetryAfter when the header is missing or invalid.
func retryAfterFor(h http.Header, now time.Time) time.Duration {
	d, ok := ParseRetryAfter(h.Get("Retry-After"), now)
	if !ok {
		return DefaultRetryAfter
	}
	return max(d, time.Second)
}

// errorBody covers ErrorResponseDto and the 401 / 429 gateway bodies.
type errorBody struct {
	Messages []errorMessage `json:"messages"`
	Causes   []errorMessage `json:"causes"`
	Error    any            `json:"error"`
	Message  any            `json:"message"`
}

type errorMessage struct {
	Text any `json:"text"`
}

// decodeError builds the *Error for a non-2xx response. The body is parsed
// only for its message texts, which r cleans; it is never copied into the error as a whole.
func decodeError(op string, code int, h http.Header, body []byte, now time.Time, r *redactor) *Error {
	e := &Error{Kind: kindForStatus(code), StatusCode: code, Op: op}
	e.Messages = errorMessages(body)
	e.redact(r)
	switch code {
	case http.StatusTooManyRequests:
		e.RetryAfter = retryAfterFor(h, now)
	case http.StatusServiceUnavailable:
		if d, ok := ParseRetryAfter(h.Get("Retry-After"), now); ok {
			e.RetryAfter = d
		}
	}
	return e
}

// errorMessages extracts the raw human texts of an error body, at most maxMessages of them.
func errorMessages(body []byte) []string {
	var eb errorBody
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &eb) != nil {
		return nil
	}
	var out []string
	add := func(v any) {
		if s := rawText(v); strings.TrimSpace(s) != "" && len(out) < maxMessages {
			out = append(out, s)
		}
	}
	for _, m := range eb.Messages {
		add(m.Text)
	}
	for _, m := range eb.Causes {
		add(m.Text)
	}
	add(eb.Error)
	add(eb.Message)
	return out
}

// rawText renders a message field that may be a string or any JSON value.
func rawText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// shorten collapses white space and cuts s to maxMessageLen bytes.
func shorten(s string) string {
	s = collapse(s)
	if len(s) > maxMessageLen {
		s = truncateUTF8(s, maxMessageLen) + "…"
	}
	return s
}

// collapse replaces every run of white space with one space and trims both ends.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
