package fake

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// limitProbe sends requests of one client on a fake clock and checks the answers.
type limitProbe struct {
	h   *harness
	tok string
}

func newLimitProbe(t *testing.T, rl RateLimit) *limitProbe {
	h := start(t, Options{TokenTTL: 48 * time.Hour, RateLimit: rl})
	return &limitProbe{h: h, tok: h.token(testClient, testSecret)}
}

// expect sends GET path and checks the status and Retry-After ("" for none).
func (p *limitProbe) expect(what, path string, status int, retryAfter string) {
	p.h.t.Helper()
	r := p.h.sim(p.tok, http.MethodGet, path, "", "")
	if r.status != status || r.header.Get("Retry-After") != retryAfter {
		p.h.t.Fatalf("%s: GET %s at +%s: %d Retry-After %q, want %d %q", what, path,
			p.h.clock.Now().Sub(newClock().Now()), r.status, r.header.Get("Retry-After"), status, retryAfter)
	}
	if r.status == http.StatusTooManyRequests && r.json(p.h.t)["message"] != " Rate Limit Exceeded " {
		p.h.t.Fatalf("%s: 429 body %s", what, r.body)
	}
}

// at sets the clock to the start time plus d.
func (p *limitProbe) at(d time.Duration) { p.h.clock.SetTime(newClock().Now().Add(d)) }

const (
	list = "/v2024/sim-integrations"
	item = "/v2024/sim-integrations/some-id"
)

// trigger violates three windows of 10 s in a row from the one starting at or after now (one
// accepted request, one refused, as with RateLimit.Requests 1) and checks that the third refusal
// starts a backoff of want seconds. It returns when that backoff ends.
func (p *limitProbe) trigger(what string, want int) time.Time {
	p.h.t.Helper()
	now := p.h.clock.Now()
	w := windowOf(now, 10*time.Second)
	if now.UnixNano()%int64(10*time.Second) != 0 {
		w++
	}
	for i := range 3 {
		p.h.clock.SetTime(time.Unix(0, (w+int64(i))*int64(10*time.Second)))
		p.expect(what, list, http.StatusOK, "")
		if i < 2 {
			p.expect(what, list, http.StatusTooManyRequests, "10")
		}
	}
	p.expect(what, list, http.StatusTooManyRequests, strconv.Itoa(want))
	return p.h.clock.Now().Add(time.Duration(want) * time.Second)
}

// TestRateLimitDocumentedTiers checks the default mode against SailPoint's documented
// route-specific backoff: 3 distinct violated 10 s windows within 120 s start a backoff of 60 s,
// then 300, 600 and 1200 s (staying there), the last tier remembered for 3600 s after it ends.
func TestRateLimitDocumentedTiers(t *testing.T) {
	p := newLimitProbe(t, RateLimit{Requests: 1, Period: 10 * time.Second})
	if got := p.h.s.Config().RateLimit; got.Escalation != EscalationDocumented || got.IntervalThreshold != 3 ||
		time.Duration(got.ViolationWindow) != 120*time.Second || time.Duration(got.TierMemory) != time.Hour ||
		len(got.Tiers) != 4 || time.Duration(got.Tiers[3]) != 1200*time.Second {
		t.Fatalf("defaults %+v", got)
	}

	// Window [0s, 10s): one accepted, then Retry-After to the end of the window.
	p.expect("first request", list, 200, "")
	p.expect("over the limit", list, 429, "10")
	p.at(time.Second)
	p.expect("same window again: still one violated window", list, 429, "9")
	p.at(10 * time.Second)
	p.expect("next window", list, 200, "")
	p.expect("second violated window", list, 429, "10")
	p.at(20 * time.Second)
	p.expect("third window", list, 200, "")
	p.expect("third violated window: the first tier", list, 429, "60")
	p.at(21 * time.Second)
	p.expect("during the backoff: the rest of it, no escalation", list, 429, "59")
	p.expect("another route: only the shared window's limit", item, 429, "9")
	p.at(30 * time.Second)
	p.expect("another route is not backed off", item, 404, "")
	p.at(79 * time.Second)
	p.expect("the backoff's last second", list, 429, "1")
	p.at(80 * time.Second)
	p.expect("backoff over", list, 200, "")
	firstEnd := newClock().Now().Add(80 * time.Second)

	// Remembered: a backoff that starts less than 3600 s after the last one ended goes one tier up.
	p.h.clock.SetTime(firstEnd.Add(3600*time.Second - 30*time.Second))
	end := p.trigger("within the tier memory (starts 3590 s after the last ended)", 300)
	// Forgotten: one that starts 3600 s after the last ended begins at the first tier again.
	p.h.clock.SetTime(end.Add(3600*time.Second - 20*time.Second))
	end = p.trigger("past the tier memory (starts 3600 s after the last ended)", 60)

	// Up through the tiers and staying at the last.
	for _, want := range []int{300, 600, 1200, 1200} {
		p.h.clock.SetTime(end)
		end = p.trigger("escalation right after the backoff ends", want)
	}
	p.h.clock.SetTime(end.Add(-time.Second))
	p.expect("1200 s backoff, last second", list, 429, "1")

	// Other keys are untouched by this client's backoff.
	other := p.h.token("client-b", "secret-b")
	if r := p.h.sim(other, http.MethodGet, list, "", ""); r.status != 200 {
		t.Fatalf("another client id has its own budget and backoff: %d", r.status)
	}
	if r := p.h.sim(p.tok, http.MethodGet, "/v2025/sim-integrations", "", ""); r.status != 200 {
		t.Fatalf("another release has its own budget and backoff: %d", r.status)
	}
}

// TestRateLimitViolationWindow: violated windows count while younger than 120 s.
func TestRateLimitViolationWindow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		third time.Duration // when the third violated window's violation comes
		want  string
	}{
		{"third within 120 s of the first", 119*time.Second + 900*time.Millisecond, "60"},
		{"first is 120 s old: to the end of the window only", 120 * time.Second, "10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newLimitProbe(t, RateLimit{Requests: 1, Period: 10 * time.Second})
			for _, at := range []time.Duration{0, 10 * time.Second} {
				p.at(at)
				p.expect("fill", list, 200, "")
				p.expect("violate", list, 429, "10")
			}
			p.at(tc.third)
			p.expect("fill", list, 200, "")
			p.expect("third violation", list, 429, tc.want)
		})
	}
}

// TestRateLimitFixedWindow: the documented window resets at its end (a sliding one would not).
func TestRateLimitFixedWindow(t *testing.T) {
	p := newLimitProbe(t, RateLimit{Requests: 2, Period: 10 * time.Second})
	p.at(5 * time.Second)
	p.expect("1st", list, 200, "")
	p.at(9 * time.Second)
	p.expect("2nd", list, 200, "")
	p.at(9*time.Second + 500*time.Millisecond)
	p.expect("3rd: to the end of the window, rounded up", list, 429, "1")
	p.at(10 * time.Second)
	p.expect("new window", list, 200, "")
	p.expect("new window, any route", item, 404, "")
	p.expect("full again", list, 429, "10")
}

// TestRateLimitNoBackoff: EscalationNone keeps the documented window and never backs off.
func TestRateLimitNoBackoff(t *testing.T) {
	p := newLimitProbe(t, RateLimit{Requests: 1, Period: 10 * time.Second, Escalation: EscalationNone})
	for i := range 10 {
		p.at(time.Duration(i) * 10 * time.Second)
		p.expect("fill", list, 200, "")
		p.expect("violate", list, 429, "10")
	}
}

// TestRateLimitEscalationConfig: the mode and the backoff's shape through /_admin/config.
func TestRateLimitEscalationConfig(t *testing.T) {
	p := newLimitProbe(t, RateLimit{})
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	r := p.h.raw("POST", "/_admin/config", jsonHdr, `{"rateLimit":{"requests":1,"period":"10s","escalation":"per-request","tiers":["5s","7s"]}}`)
	if r.status != 200 {
		t.Fatalf("config %d %s", r.status, r.body)
	}
	p.expect("accepted", list, 200, "")
	p.expect("first violation", list, 429, "10")
	p.expect("per request: the next tier at once", list, 429, "5")
	p.expect("per request: and the next", list, 429, "7")

	r = p.h.raw("POST", "/_admin/config", jsonHdr, `{"rateLimit":{"escalation":"documented","tiers":["30s"],"intervalThreshold":2,"violationWindow":"1m","tierMemory":"10m"}}`)
	if r.status != 200 {
		t.Fatalf("config %d %s", r.status, r.body)
	}
	c := p.h.s.Config().RateLimit
	if c.Escalation != EscalationDocumented || c.IntervalThreshold != 2 || time.Duration(c.ViolationWindow) != time.Minute ||
		time.Duration(c.TierMemory) != 10*time.Minute || c.Requests != 1 {
		t.Fatalf("config %+v", c)
	}
	p.at(20 * time.Second)
	p.expect("counters forgotten on a change", list, 200, "")
	p.expect("violation 1", list, 429, "10")
	p.at(30 * time.Second)
	p.expect("fill", list, 200, "")
	p.expect("violation 2 of intervalThreshold 2", list, 429, "30")

	for _, bad := range []string{`{"rateLimit":{"escalation":"always"}}`, `{"rateLimit":{"tierMemory":"-1s"}}`,
		`{"rateLimit":{"tiers":["-5s"]}}`, `{"rateLimit":{"intervalThreshold":-1}}`} {
		if r := p.h.raw("POST", "/_admin/config", jsonHdr, bad); r.status != 400 {
			t.Errorf("%s accepted: %d", bad, r.status)
		}
	}
}
