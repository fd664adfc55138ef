package identitynow

import (
	"cmp"
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// runLen is the length, in bytes, of the shortest run of a sensitive value that makes a message
// unfit to show. Runs are packed into a uint64: it cannot be more than 8.
const runLen = 8

// withheldText replaces a message that still holds part of a sensitive value after redaction.
const withheldText = "(message withheld: it contained a secret value)"

type sensitiveKey struct{}

// WithSensitive returns a copy of ctx that declares values sensitive for every Client call made
// with it, on top of those already declared in ctx. Server texts (error messages, transport
// details) are cleaned of these values whatever the request sent: the caller puts there the
// secret values of the object it works on (the SimIntegration reconciler: its secret attribute
// values), so that a server echoing the stored object in an error cannot reveal them. The client
// secret and the current token are always sensitive and need not be declared. Empty values are
// ignored.
func WithSensitive(ctx context.Context, values ...string) context.Context {
	prev := sensitiveFrom(ctx)
	all := make([]string, 0, len(prev)+len(values))
	all = append(append(all, prev...), values...)
	return context.WithValue(ctx, sensitiveKey{}, all)
}

func sensitiveFrom(ctx context.Context) []string {
	v, _ := ctx.Value(sensitiveKey{}).([]string)
	return v
}

// minCutLen is the shortest value a request carried that is cut out of server texts.
const minCutLen = 4

// redactor cleans texts that come from the server of every sensitive value, in every form.
type redactor struct {
	long  []string // forms of runLen bytes or more: cut out, and no run of runLen bytes may remain
	short []string // shorter forms of secrets: a text containing one is withheld
	words []string // shorter forms (minCutLen or more) of values a request carried: cut out only
}

// newRedactor returns a redactor for secrets (the client secret, tokens, values declared with
// WithSensitive) and for carried, the values a request carried, which may or may not be secret
// (attribute and patch values). A short secret withholds every text it occurs in: safety over
// readability. A short carried value is only cut out (from minCutLen bytes, as before): most are
// ordinary words and numbers such as "svc" or "443", and withholding every text that contains
// one would hide nearly all of them; a short secret is to be declared with WithSensitive.
// Empty values are ignored.
func newRedactor(secrets, carried []string) *redactor {
	r := &redactor{}
	seen := map[string]bool{}
	add := func(values []string, secret bool) {
		for _, v := range values {
			for _, f := range formsOf(v) {
				if f == "" || seen[f] {
					continue
				}
				seen[f] = true
				switch {
				case len(f) >= runLen:
					r.long = append(r.long, f)
				case secret:
					r.short = append(r.short, f)
				case len(f) >= minCutLen:
					r.words = append(r.words, f)
				}
			}
		}
	}
	add(secrets, true)
	add(carried, false)
	// Longest first, so a value that contains another is cut whole.
	longestFirst := func(a, b string) int { return cmp.Compare(len(b), len(a)) }
	slices.SortFunc(r.long, longestFirst)
	slices.SortFunc(r.words, longestFirst)
	return r
}

// formsOf returns v as sent, white-space collapsed, JSON-escaped (with and without HTML escaping)
// and URL-encoded (query and path).
func formsOf(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v, collapse(v), jsonEscaped(v, true), jsonEscaped(v, false), url.QueryEscape(v), url.PathEscape(v)}
}

// jsonEscaped is v as it appears between the quotes of a JSON string.
func jsonEscaped(v string, html bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(v) // a string always encodes
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
}

// clean turns a raw server text into one fit to show: every sensitive value cut out, white space
// collapsed, at most maxMessageLen bytes; or withheldText if a run of runLen bytes of a sensitive
// value (any form) is left, or a sensitive value shorter than that occurs at all.
func (r *redactor) clean(raw string) string {
	if raw == withheldText {
		return raw
	}
	s := shorten(r.cut(raw))
	if r.leaks(s) {
		return withheldText
	}
	return s
}

// cut replaces the long forms, then the short forms of carried values. Short forms of secrets are
// not cut: replacing them inside ordinary words would show where they are; leaks withholds such
// texts instead.
func (r *redactor) cut(s string) string {
	for _, f := range slices.Concat(r.long, r.words) {
		s = strings.ReplaceAll(s, f, "[redacted]")
	}
	return s
}

// leaks reports whether s contains a short form of a secret or shares a run of runLen bytes with
// a long form.
func (r *redactor) leaks(s string) bool {
	for _, f := range r.short {
		if strings.Contains(s, f) {
			return true
		}
	}
	if len(r.long) == 0 || len(s) < runLen {
		return false
	}
	runs := runsOf(s)
	for _, f := range r.long {
		if sharesRun(f, runs) {
			return true
		}
	}
	return false
}

// runsOf returns every runLen-byte window of s, packed into a uint64.
func runsOf(s string) map[uint64]bool {
	runs := make(map[uint64]bool, max(len(s)-runLen+1, 0))
	var w uint64
	for i := 0; i < len(s); i++ {
		w = w<<8 | uint64(s[i])
		if i >= runLen-1 {
			runs[w] = true
		}
	}
	return runs
}

// sharesRun reports whether a runLen-byte window of f is in runs. It costs one pass over f, so a
// large value is checked as cheaply as a small one against a short message.
func sharesRun(f string, runs map[uint64]bool) bool {
	if len(runs) == 0 {
		return false
	}
	var w uint64
	for i := 0; i < len(f); i++ {
		w = w<<8 | uint64(f[i])
		if i >= runLen-1 && runs[w] {
			return true
		}
	}
	return false
}

// redact cleans the server texts of e: its messages, and the detail of a transport error (it can
// quote the peer, such as a malformed response or a certificate name). Other details are the
// client's own words.
func (e *Error) redact(r *redactor) {
	out := e.Messages[:0]
	for _, m := range e.Messages {
		if m = r.clean(m); m != "" {
			out = append(out, m)
		}
	}
	e.Messages = out
	if e.Kind == KindTransport && e.detail != "" {
		e.detail = r.clean(e.detail)
	}
}
