package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

// newClock starts on a whole minute, so that fixed rate-limit windows begin with the test.
func newClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
}

// forEachRelease runs f for every SDK package, in parallel.
func forEachRelease(t *testing.T, f func(t *testing.T, rel release)) {
	for _, rel := range releases {
		t.Run(rel.name, func(t *testing.T) {
			t.Parallel()
			f(t, rel)
		})
	}
}

// TestErrorResponseDto: the 400 and 404 bodies decode into the SDK's ErrorResponseDto.
func TestErrorResponseDto(t *testing.T) {
	forEachRelease(t, func(t *testing.T, rel release) {
		_, u := server(t, fake.Options{})
		sdk := connect(rel, u, sdkHTTP())
		ctx := context.Background()

		_, res, err := sdk.Create(ctx, integration{Name: ""})
		dto := checkErrorDTO(t, sdk, "create without a name", res, err, http.StatusBadRequest, "400.1 Bad Request Content")
		if dto.Messages[0].Text != "Required field 'name' is missing or empty." {
			t.Errorf("create without a name: %q", dto.Messages[0].Text)
		}

		_, res, err = sdk.Create(ctx, integration{Name: "taken"})
		if err != nil {
			t.Fatalf("create: %v (%d)", errorText(err), statusOf(res))
		}
		_, res, err = sdk.Create(ctx, integration{Name: "taken"})
		checkErrorDTO(t, sdk, "create with a taken name", res, err, http.StatusBadRequest, "400.1 Bad Request Content")

		_, res, err = sdk.Patch(ctx, "0123456789abcdef0123456789abcdef", []patchOp{{Op: "replace", Path: "/description", Value: "x"}})
		dto = checkErrorDTO(t, sdk, "patch of an unknown id", res, err, http.StatusNotFound, "404 Not found")
		if dto.Messages[0].Text != "The server did not find a current representation for the target resource." {
			t.Errorf("404 text %q, want the spec's example", dto.Messages[0].Text)
		}
		_, res, err = sdk.Get(ctx, "unknown")
		checkErrorDTO(t, sdk, "get of an unknown id", res, err, http.StatusNotFound, "404 Not found")
	})
}

// undecodable checks an error whose body is what the real API sends, {"<key>": "<text>"}, and
// which SDK v2 cannot decode: its 401 and 429 models hold that property as a map, so the SDK's
// error is the JSON decode error, with no model, and the raw body is all a caller gets.
func undecodable(t *testing.T, sdk simAPI, what string, res *http.Response, err error, status int, key, text string) {
	t.Helper()
	if statusOf(res) != status || err == nil {
		t.Fatalf("%s: %v (response %d), want %d", what, err, statusOf(res), status)
	}
	var oe interface {
		Body() []byte
		Model() any
	}
	if !errors.As(err, &oe) {
		t.Fatalf("%s: %T is not the SDK's GenericOpenAPIError", what, err)
	}
	var body map[string]any
	if e := json.Unmarshal(oe.Body(), &body); e != nil || len(body) != 1 || body[key] != text {
		t.Errorf("%s: body %s, want {%q: %q}", what, oe.Body(), key, text)
	}
	if oe.Model() != nil || !strings.Contains(err.Error(), "cannot unmarshal string") {
		t.Errorf("%s: the SDK decoded %#v (%q); v2.7.106 cannot decode a string %s, and the fake must send what the real API sends",
			what, oe.Model(), err.Error(), key)
	}
	if _, ok := sdk.ErrorDTO(err); ok {
		t.Errorf("%s: decoded as an ErrorResponseDto", what)
	}
}

// TestUnauthorized: 401 bodies as the spec has them ({"error": "JWT validation failed: …"}).
func TestUnauthorized(t *testing.T) {
	forEachRelease(t, func(t *testing.T, rel release) {
		clock := newClock()
		s, u := server(t, fake.Options{Clock: clock.Now})
		ctx := context.Background()

		forged := rel.connect(connection{baseURL: u, token: "forged-token", experimental: true, http: sdkHTTP()})
		_, res, err := forged.List(ctx)
		undecodable(t, forged, "a token the fake never issued", res, err, http.StatusUnauthorized,
			"error", "JWT validation failed: JWT is invalid")

		// The SDK ignores the token endpoint's 401 and sends an empty bearer token.
		wrong := rel.connect(connection{baseURL: u, clientID: clientID, secret: "wrong", experimental: true, http: sdkHTTP()})
		_, res, err = wrong.Get(ctx, "some-id")
		undecodable(t, wrong, "a wrong client secret", res, err, http.StatusUnauthorized,
			"error", "JWT validation failed: no bearer token")
		if tok := s.Requests(fake.ByPathPrefix("/oauth/token")); len(tok) != 1 || tok[0].Status != http.StatusUnauthorized {
			t.Errorf("token requests %+v, want one refused", tok)
		}

		// The SDK keeps its token for ever: after expires_in (749 s) every call is refused.
		sdk := connect(rel, u, sdkHTTP())
		if _, res, err := sdk.List(ctx); err != nil {
			t.Fatalf("list: %v (%d)", errorText(err), statusOf(res))
		}
		clock.Step(fake.DefaultTokenTTL)
		_, res, err = sdk.List(ctx)
		undecodable(t, sdk, "an expired token", res, err, http.StatusUnauthorized,
			"error", "JWT validation failed: JWT is expired")
	})
}

// TestTooManyRequests: 429 with Retry-After to the end of the documented window and the spec's
// body, which the SDK cannot decode; a client that lets the SDK retry waits Retry-After and passes.
func TestTooManyRequests(t *testing.T) {
	forEachRelease(t, func(t *testing.T, rel release) {
		clock := newClock()
		_, u := server(t, fake.Options{Clock: clock.Now, RateLimit: fake.RateLimit{Requests: 1, Period: 10 * time.Second}})
		sdk := connect(rel, u, noRetries())
		ctx := context.Background()
		if _, res, err := sdk.List(ctx); err != nil {
			t.Fatalf("list: %v (%d)", errorText(err), statusOf(res))
		}
		clock.Step(3 * time.Second)
		_, res, err := sdk.Get(ctx, "some-id")
		undecodable(t, sdk, "over the limit", res, err, http.StatusTooManyRequests, "message", " Rate Limit Exceeded ")
		if ra := res.Header.Get("Retry-After"); ra != "7" {
			t.Errorf("Retry-After %q, want 7 (the rest of the 10 s window)", ra)
		}
	})
}

// TestRetryAfterHonoured: the SDK's retrying transport (retryablehttp's defaults) waits the fake's
// Retry-After and gets through, on the real clock.
func TestRetryAfterHonoured(t *testing.T) {
	forEachRelease(t, func(t *testing.T, rel release) {
		s, u := server(t, fake.Options{RateLimit: fake.RateLimit{Requests: 1, Period: time.Second}})
		sdk := connect(rel, u, sdkHTTP())
		ctx := context.Background()
		for i := range 2 {
			if _, res, err := sdk.List(ctx); err != nil {
				t.Fatalf("list %d: %v (%d)", i, errorText(err), statusOf(res))
			}
		}
		var statuses []string
		var refused, after time.Time
		for _, r := range s.Requests(fake.SIMOnly()) {
			statuses = append(statuses, strconv.Itoa(r.Status))
			if r.Status == http.StatusTooManyRequests && refused.IsZero() {
				refused = r.Time
			} else if !refused.IsZero() && after.IsZero() {
				after = r.Time
			}
		}
		if strings.Join(statuses, " ") != "200 429 200" && strings.Join(statuses, " ") != "200 200" {
			t.Fatalf("statuses %v, want 200 429 200 (or 200 200 across a window boundary)", statuses)
		}
		if !refused.IsZero() && after.Unix() == refused.Unix() {
			t.Errorf("the retry came %s after the 429, in the same 1 s window", after.Sub(refused))
		}
	})
}

// TestRetriesExhausted: when 429s go on, the SDK's transport gives up after its 4 retries (each
// after Retry-After) and the caller gets no response at all. The transport is the same for every
// package, so one is enough.
func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	s, u := server(t, fake.Options{})
	sdk := connect(releases[0], u, sdkHTTP())
	s.FailNext(5, fake.Match{Method: http.MethodGet, PathContains: "/sim-integrations"}, http.StatusTooManyRequests, time.Second)
	start := time.Now()
	_, res, err := sdk.Get(context.Background(), "some-id")
	if res != nil || err == nil || !strings.Contains(err.Error(), "giving up after 5 attempt(s)") {
		t.Errorf("five 429s: %v, response %v; want retryablehttp's giving up and no response", err, statusOf(res))
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Errorf("four retries after Retry-After: 1 took only %s", took)
	}
	if n := len(s.Requests(fake.SIMOnly())); n != 5 {
		t.Errorf("%d attempts reached the fake, want 5", n)
	}
}

// TestExperimentalHeader: the SDK sends X-SailPoint-Experimental: true unless told otherwise, and
// refuses (panics) to call an experimental API unless Configuration.Experimental is set.
func TestExperimentalHeader(t *testing.T) {
	forEachRelease(t, func(t *testing.T, rel release) {
		s, u := server(t, fake.Options{})
		ctx := context.Background()

		off := rel.connect(connection{baseURL: u, clientID: clientID, secret: clientSecret, http: sdkHTTP()})
		msg := func() (msg any) {
			defer func() { msg = recover() }()
			_, _, _ = off.List(ctx)
			return nil
		}()
		if !strings.Contains(fmt.Sprint(msg), "Set configuration.Experimental = true") {
			t.Errorf("Experimental false: recovered %v, want the SDK's panic", msg)
		}
		if n := len(s.Requests(fake.SIMOnly())); n != 0 {
			t.Errorf("Experimental false: %d SIM requests reached the fake", n)
		}

		no := "false"
		refused := rel.connect(connection{baseURL: u, clientID: clientID, secret: clientSecret, experimental: true,
			header: &no, http: sdkHTTP()})
		_, res, err := refused.List(ctx)
		if statusOf(res) != http.StatusBadRequest || err == nil {
			t.Fatalf("X-SailPoint-Experimental: false: %v (%d), want 400", err, statusOf(res))
		}
		// The gateway's body, as observed on the live service, is not an ErrorResponseDto; the
		// SDK's 400 model takes it with nothing but an additional property.
		dto, ok := refused.ErrorDTO(err)
		if !ok || dto.DetailCode != "" || len(dto.Messages) != 0 || dto.Extra["error"] != "Experimental Header is missing or invalid." {
			t.Errorf("X-SailPoint-Experimental: false: decoded %+v (%v)", dto, ok)
		}

		yes := "true"
		explicit := rel.connect(connection{baseURL: u, clientID: clientID, secret: clientSecret, experimental: true,
			header: &yes, http: sdkHTTP()})
		if _, res, err := explicit.List(ctx); err != nil {
			t.Errorf("X-SailPoint-Experimental: true set explicitly: %v (%d)", errorText(err), statusOf(res))
		}
		sent := s.Requests(fake.SIMOnly())
		if len(sent) != 2 || sent[0].Header.Get("X-SailPoint-Experimental") != "false" ||
			sent[1].Header.Get("X-SailPoint-Experimental") != "true" {
			t.Errorf("headers sent: %+v", sent)
		}
	})
}
