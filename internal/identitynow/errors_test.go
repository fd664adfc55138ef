package identitynow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

var simMatch = fake.Match{PathContains: "sim-integrations"}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"1200", 20 * time.Minute, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Saturday, 28-Nov-26 10:01:00 GMT", time.Minute, true}, // RFC 850
		{"Sat Nov 28 10:00:30 2026", 30 * time.Second, true},    // ANSI C
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},  // past date
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"+5", 0, false},
		{"5s", 0, false},
		{"99999999999999999999", 0, false},
		{"9223372037", 0, false}, // would overflow time.Duration
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseRetryAfter(tt.in, now)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, s := range []string{"0", "10", "Sat, 28 Nov 2026 10:01:00 GMT", "", "-1", "1e3", "٣", "18446744073709551616", "08", " 007 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", s, d, ok)
		}
		if trimmed := strings.TrimSpace(s); ok && isDigits(trimmed) && len(trimmed) < 10 {
			n, _ := strconv.ParseInt(trimmed, 10, 64)
			if d != time.Duration(n)*time.Second {
				t.Fatalf("ParseRetryAfter(%q) = %v", s, d)
			}
		}
	})
}

func TestDecodeError(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		code   int
		header http.Header
		body   string
		kind   ErrorKind
		msgs   []string
		retry  time.Duration
		text   string
	}{
		{"400 dto", 400, nil, `{"detailCode":"400.1 Bad Request Content","trackingId":"x","messages":[{"locale":"en-US","text":"name already exists"}]}`,
			KindInvalid, []string{"name already exists"}, 0, "identitynow: create: 400 Bad Request: name already exists"},
		{"causes", 400, nil, `{"messages":[{"text":"a"}],"causes":[{"text":"b"}]}`, KindInvalid, []string{"a", "b"}, 0, ""},
		{"401 string", 401, nil, `{"error":"JWT validation failed: JWT is expired"}`, KindUnauthorized, []string{"JWT validation failed: JWT is expired"}, 0, ""},
		{"401 object", 401, nil, `{"error":{"code":"x"}}`, KindUnauthorized, []string{`{"code":"x"}`}, 0, ""},
		{"403", 403, nil, `{"messages":[{"text":"no"}]}`, KindForbidden, []string{"no"}, 0, ""},
		{"404 empty", 404, nil, ``, KindNotFound, nil, 0, "identitynow: create: 404 Not Found"},
		{"405", 405, nil, `{}`, KindInvalid, nil, 0, ""},
		{"408", 408, nil, `{}`, KindServer, nil, 0, ""},
		{"429 seconds", 429, http.Header{"Retry-After": {"7"}}, `{"message":" Rate Limit Exceeded "}`, KindRateLimited, []string{"Rate Limit Exceeded"}, 7 * time.Second,
			"identitynow: create: 429 Too Many Requests: Rate Limit Exceeded (retry after 7s)"},
		{"429 date", 429, http.Header{"Retry-After": {now.Add(time.Minute).UTC().Format(http.TimeFormat)}}, `{}`, KindRateLimited, nil, 0, ""},
		{"429 missing", 429, nil, `{"message":{"a":1}}`, KindRateLimited, []string{`{"a":1}`}, DefaultRetryAfter, ""},
		{"429 zero", 429, http.Header{"Retry-After": {"0"}}, ``, KindRateLimited, nil, time.Second, ""},
		{"500 html", 500, nil, `<html>oops</html>`, KindServer, nil, 0, "identitynow: create: 500 Internal Server Error"},
		{"503 retry", 503, http.Header{"Retry-After": {"3"}}, ``, KindServer, nil, 3 * time.Second, ""},
		{"302", 302, nil, ``, KindServer, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := decodeError("create", tt.code, h, []byte(tt.body), now, newRedactor(nil, nil))
			if e.Kind != tt.kind || fmt.Sprint(e.Messages) != fmt.Sprint(tt.msgs) || e.StatusCode != tt.code {
				t.Fatalf("got %+v", e)
			}
			if tt.name == "429 date" {
				if e.RetryAfter < 59*time.Second || e.RetryAfter > 61*time.Second {
					t.Fatalf("retry %v", e.RetryAfter)
				}
			} else if e.RetryAfter != tt.retry {
				t.Fatalf("retry %v, want %v", e.RetryAfter, tt.retry)
			}
			if tt.text != "" && e.Error() != tt.text {
				t.Fatalf("Error() = %q, want %q", e.Error(), tt.text)
			}
		})
	}
}

func FuzzDecodeError(f *testing.F) {
	for _, s := range []string{
		`{"detailCode":"400.1","messages":[{"text":"x"}],"causes":[{"text":"y"}]}`,
		`{"error":"JWT validation failed: JWT is expired"}`, `{"message":" Rate Limit Exceeded "}`,
		`{"messages":[{"text":null},{"text":5}]}`, `[]`, `null`, ``, `{"error":[1,{"a":"b"}]}`,
	} {
		f.Add(429, s, "10")
		f.Add(400, s, "")
	}
	f.Fuzz(func(t *testing.T, code int, body, retry string) {
		e := decodeError("get", code, http.Header{"Retry-After": {retry}}, []byte(body), time.Now(), newRedactor(nil, nil))
		if e.Kind == "" || e.RetryAfter < 0 || len(e.Messages) > maxMessages {
			t.Fatalf("bad error %+v", e)
		}
		if code == 429 && e.RetryAfter == 0 {
			t.Fatal("429 without RetryAfter")
		}
		for _, m := range e.Messages {
			if len(m) > maxMessageLen+len("…") || m == "" {
				t.Fatalf("message %q", m)
			}
		}
		_ = e.Error()
	})
}

func TestErrorHelpers(t *testing.T) {
	e := &Error{Kind: KindRateLimited, RetryAfter: time.Second, Op: "get"}
	wrapped := fmt.Errorf("reconcile: %w", e)
	if KindOf(wrapped) != KindRateLimited || RetryAfter(wrapped) != time.Second || IsNotFound(wrapped) {
		t.Fatal("helpers must see through wrapping")
	}
	if KindOf(errors.New("x")) != "" || RetryAfter(nil) != 0 || IsNotFound(nil) {
		t.Fatal("non-*Error")
	}
	ctxErr := &Error{Kind: KindTransport, cause: context.DeadlineExceeded}
	if !errors.Is(ctxErr, context.DeadlineExceeded) {
		t.Fatal("Unwrap")
	}
	long := shorten(strings.Repeat("é", 400))
	if !strings.HasSuffix(long, "…") || len(long) > maxMessageLen+len("…") {
		t.Fatalf("truncation %d", len(long))
	}
}

// TestErrorKinds drives every error kind through the client against the fake.
func TestErrorKinds(t *testing.T) {
	type result struct {
		kind  ErrorKind
		code  int
		text  string
		retry time.Duration
	}
	tests := []struct {
		name  string
		setup func(e *env)
		cfg   func(*Config)
		call  func(c *Client) error
		want  result
	}{
		{"400 duplicate", func(e *env) { e.fk.Insert(map[string]any{"name": "dup"}) }, nil,
			func(c *Client) error { _, err := c.Create(context.Background(), Details{Name: "dup"}); return err },
			result{KindInvalid, 400, `identitynow: create: 400 Bad Request: A SIM integration named "dup" already exists`, 0}},
		{"400 rejected field", func(e *env) { e.fk.RejectField("/cluster", "bad", "Unknown cluster.") }, nil,
			func(c *Client) error {
				_, err := c.Create(context.Background(), Details{Name: "x", Cluster: new("bad")})
				return err
			},
			result{KindInvalid, 400, "create: 400 Bad Request: Unknown cluster.", 0}},
		{"401 twice", func(e *env) { e.fk.FailNext(2, simMatch, 401, 0) }, nil,
			func(c *Client) error { _, err := c.List(context.Background()); return err },
			result{KindUnauthorized, 401, "list: 401 Unauthorized: JWT validation failed", 0}},
		{"credentials refused", nil, func(c *Config) { c.ClientSecret = "wrong" },
			func(c *Client) error { _, err := c.List(context.Background()); return err },
			result{KindUnauthorized, 401, "identitynow: token: 401 Unauthorized: invalid_client", 0}},
		{"token endpoint 503", func(e *env) { e.fk.FailNext(1, fake.Match{PathContains: "oauth"}, 503, 0) }, nil,
			func(c *Client) error { return c.CheckToken(context.Background()) },
			result{KindServer, 503, "token: 503", 0}},
		{"403", func(e *env) { e.fk.FailNext(1, simMatch, 403, 0) }, nil,
			func(c *Client) error { _, err := c.Get(context.Background(), "abc"); return err },
			result{KindForbidden, 403, "get: 403 Forbidden: The server understood", 0}},
		{"404", nil, nil,
			func(c *Client) error { return c.Delete(context.Background(), "0123456789abcdef0123456789abcdef") },
			result{KindNotFound, 404, "delete: 404 Not Found", 0}},
		{"429 seconds", func(e *env) { e.fk.FailNext(1, simMatch, 429, 42*time.Second) }, nil,
			func(c *Client) error { _, err := c.List(context.Background()); return err },
			result{KindRateLimited, 429, "list: 429 Too Many Requests: Rate Limit Exceeded (retry after 42s)", 42 * time.Second}},
		{"429 date", func(e *env) {
			e.fk.InjectFault(fake.Fault{Match: simMatch, Count: 1, Status: 429, RetryAfter: fake.Duration(2 * time.Hour), RetryAfterDate: true})
		}, nil,
			func(c *Client) error { _, err := c.List(context.Background()); return err },
			result{KindRateLimited, 429, "429 Too Many Requests", 2 * time.Hour}},
		{"429 no header", func(e *env) { e.fk.FailNext(1, simMatch, 429, 0) }, nil,
			func(c *Client) error { _, err := c.List(context.Background()); return err },
			result{KindRateLimited, 429, "retry after 10s", DefaultRetryAfter}},
		{"500", func(e *env) { e.fk.FailNext(1, simMatch, 500, 0) }, nil,
			func(c *Client) error { _, err := c.Put(context.Background(), "x", Details{Name: "n"}); return err },
			result{KindServer, 500, "put: 500 Internal Server Error: An internal fault occurred.", 0}},
		{"502", func(e *env) { e.fk.FailNext(1, simMatch, 502, 0) }, nil,
			func(c *Client) error { _, err := c.List(context.Background()); return err },
			result{KindServer, 502, "502 Bad Gateway", 0}},
		{"connection reset", func(e *env) { e.fk.FailNext(5, simMatch, fake.StatusReset, 0) }, nil,
			func(c *Client) error { _, err := c.Create(context.Background(), Details{Name: "r"}); return err },
			result{KindTransport, 0, "create: transport error: ", 0}},
		{"timeout", func(e *env) { e.fk.SetLatency(time.Second) }, func(c *Config) { c.Timeout = 100 * time.Millisecond },
			func(c *Client) error { _, err := c.List(context.Background()); return err },
			result{KindTransport, 0, "Client.Timeout exceeded", 0}},
		{"closed server", func(e *env) { e.fk.Close() }, nil,
			func(c *Client) error { _, err := c.List(context.Background()); return err },
			result{KindTransport, 0, "token: transport error: ", 0}},
		{"cancelled", nil, nil,
			func(c *Client) error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_, err := c.List(ctx)
				return err
			},
			result{KindTransport, 0, "context canceled", 0}},
		{"empty id delete", nil, nil,
			func(c *Client) error { return c.Delete(context.Background(), "") },
			result{KindInvalid, 0, "an id is required", 0}},
		{"empty id get", nil, nil,
			func(c *Client) error { _, err := c.Get(context.Background(), ""); return err },
			result{KindInvalid, 0, "an id is required", 0}},
		{"id is path-escaped", nil, nil,
			func(c *Client) error {
				_, err := c.Get(context.Background(), "../../v2024/sim-integrations")
				return err
			},
			result{KindNotFound, 404, "", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, fake.Options{})
			if tt.setup != nil {
				tt.setup(e)
			}
			c := e.client(tt.cfg)
			err := tt.call(c)
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("want *Error, got %T %v", err, err)
			}
			if ie.Kind != tt.want.kind || ie.StatusCode != tt.want.code || !strings.Contains(err.Error(), tt.want.text) {
				t.Fatalf("got kind %s code %d %q; want %+v", ie.Kind, ie.StatusCode, err.Error(), tt.want)
			}
			if tt.want.kind == KindRateLimited && (ie.RetryAfter < tt.want.retry-2*time.Second || ie.RetryAfter > tt.want.retry) {
				t.Fatalf("RetryAfter %v, want %v", ie.RetryAfter, tt.want.retry)
			}
		})
	}
}

func TestUnauthorizedRetriesOnceWithNewToken(t *testing.T) {
	e := newEnv(t, fake.Options{})
	c := e.client(nil)
	ctx := context.Background()
	if _, err := c.List(ctx); err != nil {
		t.Fatal(err)
	}
	e.fk.RevokeTokens()
	if _, err := c.Create(ctx, Details{Name: "after-revoke"}); err != nil {
		t.Fatalf("create after revocation: %v", err)
	}
	posts := e.fk.Requests(fake.SIMOnly(), fake.ByMethod(http.MethodPost))
	if len(posts) != 2 || posts[0].Status != 401 || posts[1].Status != 200 {
		t.Fatalf("want one 401 then one 200, got %d posts", len(posts))
	}
	if n := e.fk.CountRequests(http.MethodPost, "/oauth/token"); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	if len(e.fk.Objects()) != 1 {
		t.Fatal("exactly one object")
	}
}

func TestRateLimitedBlocksBudget(t *testing.T) {
	e := newEnv(t, fake.Options{})
	budget := NewBudget(100, time.Second, nil)
	c1 := e.client(func(c *Config) { c.Budget = budget })
	c2 := e.client(func(c *Config) { c.Budget = budget })
	e.fk.FailNext(1, simMatch, 429, 30*time.Second)
	if _, err := c1.List(context.Background()); KindOf(err) != KindRateLimited {
		t.Fatalf("want 429, got %v", err)
	}
	if until := time.Until(budget.BlockedUntil()); until < 28*time.Second || until > 30*time.Second {
		t.Fatalf("budget blocked for %v", until)
	}
	before := len(e.fk.Requests(fake.SIMOnly()))
	_, err := c2.Get(context.Background(), "x")
	if KindOf(err) != KindRateLimited || RetryAfter(err) <= 25*time.Second || mustError(t, err).StatusCode != 0 {
		t.Fatalf("other client sharing the budget: %v", err)
	}
	if !strings.Contains(err.Error(), "request not sent") {
		t.Fatalf("message %q", err)
	}
	if after := len(e.fk.Requests(fake.SIMOnly())); after != before {
		t.Fatalf("%d requests sent while blocked", after-before)
	}
}
