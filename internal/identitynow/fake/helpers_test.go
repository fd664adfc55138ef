package fake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

const (
	testClient = "client-a"
	testSecret = "secret-a"
)

// newClock is a settable clock at a fixed start time.
func newClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
}

// harness is a started fake with a raw HTTP client.
type harness struct {
	t     *testing.T
	s     *Server
	url   string
	clock *clocktesting.FakeClock
}

func start(t *testing.T, opts Options) *harness {
	t.Helper()
	clock := newClock()
	if opts.Clock == nil {
		opts.Clock = clock.Now
	}
	if opts.Clients == nil {
		opts.Clients = map[string]string{testClient: testSecret, "client-b": "secret-b"}
	}
	s := NewServer(opts)
	u := s.Start()
	t.Cleanup(s.Close)
	return &harness{t: t, s: s, url: u, clock: clock}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (h *harness) raw(method, path string, hdr map[string]string, body string) resp {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (h *harness) token(id, secret string) string {
	h.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	r := h.raw(http.MethodPost, "/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
	if r.status != http.StatusOK {
		h.t.Fatalf("token: %d %s", r.status, r.body)
	}
	return r.json(h.t)["access_token"].(string)
}

// sim sends an authenticated SIM request with the experimental header.
func (h *harness) sim(tok, method, path, ctype, body string) resp {
	h.t.Helper()
	hdr := map[string]string{"Authorization": "Bearer " + tok, "X-SailPoint-Experimental": "true"}
	if ctype != "" {
		hdr["Content-Type"] = ctype
	}
	return h.raw(method, path, hdr, body)
}

func (h *harness) create(tok, path, body string) map[string]any {
	h.t.Helper()
	r := h.sim(tok, http.MethodPost, path, "application/json", body)
	if r.status != http.StatusOK {
		h.t.Fatalf("create: %d %s", r.status, r.body)
	}
	return r.json(h.t)
}

// errorTexts returns the texts of an ErrorResponseDto and checks its envelope.
func errorTexts(t *testing.T, r resp) []string {
	t.Helper()
	m := r.json(t)
	if !hexID.MatchString(m["trackingId"].(string)) || m["detailCode"] == "" {
		t.Fatalf("not an ErrorResponseDto: %s", r.body)
	}
	var out []string
	for _, x := range m["messages"].([]any) {
		msg := x.(map[string]any)
		if msg["locale"] != "en-US" || msg["localeOrigin"] != "DEFAULT" {
			t.Fatalf("bad message envelope: %s", r.body)
		}
		out = append(out, msg["text"].(string))
	}
	return out
}

// stored is the stored document of id.
func (h *harness) stored(id string) map[string]any {
	h.t.Helper()
	o, ok := h.s.Get(id)
	if !ok {
		h.t.Fatalf("%s is not stored", id)
	}
	return o.Doc
}
