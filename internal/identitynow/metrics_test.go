package identitynow

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

func TestMetrics(t *testing.T) {
	e := newEnv(t, fake.Options{})
	c := e.client(func(c *Config) { c.Release = ReleaseV2026 })
	ok := testutil.ToFloat64(requestsTotal.WithLabelValues("list", "200"))
	nf := testutil.ToFloat64(requestsTotal.WithLabelValues("get", "404"))
	limited := testutil.ToFloat64(rateLimitedTotal.WithLabelValues("v2026"))
	tokens := testutil.ToFloat64(tokenRequestsTotal.WithLabelValues("success"))
	waits := sampleCount(t)
	ctx := context.Background()
	if _, err := c.List(ctx); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Get(ctx, "nope")
	e.fk.FailNext(1, fake.Match{PathContains: "sim-integrations"}, 429, 0)
	_, _ = c.List(ctx)
	checks := []struct {
		name      string
		got, want float64
	}{
		{"requests list 200", testutil.ToFloat64(requestsTotal.WithLabelValues("list", "200")) - ok, 1},
		{"requests get 404", testutil.ToFloat64(requestsTotal.WithLabelValues("get", "404")) - nf, 1},
		{"rate limited v2026", testutil.ToFloat64(rateLimitedTotal.WithLabelValues("v2026")) - limited, 1},
		{"token success", testutil.ToFloat64(tokenRequestsTotal.WithLabelValues("success")) - tokens, 1},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: +%v, want +%v", ch.name, ch.got, ch.want)
		}
	}
	if got := sampleCount(t) - waits; got != 3 {
		t.Errorf("budget wait observations: +%d, want +3", got)
	}
	if testutil.CollectAndCount(requestDuration) == 0 {
		t.Error("request durations not collected")
	}
	if problems, err := testutil.CollectAndLint(requestsTotal); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func sampleCount(t *testing.T) uint64 {
	t.Helper()
	var m dto.Metric
	if err := budgetWait.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestMalformedSuccess: a 2xx whose body is not the expected JSON is a KindServer error.
func TestMalformedSuccess(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/oauth/token" {
			_, _ = w.Write([]byte(`{"access_token":"t","token_type":"bearer","expires_in":749}`))
			return
		}
		if strings.HasSuffix(r.URL.Path, "/sim-integrations") && r.Method == http.MethodPost {
			_, _ = w.Write([]byte(`{"name":"no id"}`))
			return
		}
		_, _ = w.Write([]byte(`{"not":"an array"`))
	}))
	t.Cleanup(ts.Close)
	c, err := New(Config{BaseURL: ts.URL, ClientID: "a", ClientSecret: "b", AllowInsecureHTTP: true, Budget: NewBudget(0, 0, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.List(ctx); KindOf(err) != KindServer || !strings.Contains(err.Error(), "not a JSON array") {
		t.Fatalf("list: %v", err)
	}
	if _, err := c.Get(ctx, "x"); KindOf(err) != KindServer || !strings.Contains(err.Error(), "200 OK: response is not a JSON object") {
		t.Fatalf("get: %v", err)
	}
	if in, err := c.Create(ctx, Details{Name: "n"}); KindOf(err) != KindServer || in == nil || in.Name != "no id" {
		t.Fatalf("create without id: %v %v", in, err)
	}
}
