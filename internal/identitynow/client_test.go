package identitynow

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

var routePrefix = map[Release]string{
	ReleaseV2024: "/v2024/sim-integrations",
	ReleaseV2025: "/v2025/sim-integrations",
	ReleaseV2026: "/v2026/sim-integrations",
	ReleaseV1:    "/sim-integrations/v1",
}

func fullDetails(name string) Details {
	return Details{
		Name: name, Description: new("desc"), Type: new("ServiceNow Service Desk"),
		Attributes: map[string]any{"uid": "svc", "password": "pw", "port": 443.0},
		Sources:    []string{"s1", "s2"}, Cluster: new("c1"),
		StatusMap:              map[string]string{"closed_complete": "Committed"},
		Request:                map[string]string{"short_description": "x"},
		BeforeProvisioningRule: &RuleRef{Type: "RULE", ID: "r1", Name: "Rule"},
	}
}

// TestEveryOperation runs every operation in every release, response shape
// and PATCH form against the fake.
func TestEveryOperation(t *testing.T) {
	for _, rel := range Releases {
		for _, shape := range []fake.Shape{fake.ShapeEcho, fake.ShapeDTO} {
			for _, pf := range []PatchFormat{PatchFormatOperations, PatchFormatArray} {
				t.Run(string(rel)+"/"+string(shape)+"/"+string(pf), func(t *testing.T) {
					testOperations(t, rel, shape, pf)
				})
			}
		}
	}
}

func testOperations(t *testing.T, rel Release, shape fake.Shape, pf PatchFormat) {
	e := newEnv(t, fake.Options{Shape: shape, MaskedAttributes: []string{"password"}})
	c := e.client(func(c *Config) { c.Release, c.PatchFormat = rel, pf })
	ctx := context.Background()
	prefix := routePrefix[rel]

	created, err := c.Create(ctx, fullDetails("one"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	checkFields(t, shape, created)
	if created.ID == "" || created.Name != "one" || created.Created.IsZero() || created.Modified.IsZero() {
		t.Fatalf("create result %+v", created)
	}
	id := created.ID

	got, err := c.Get(ctx, id)
	if err != nil || !reflect.DeepEqual(got, created) {
		t.Fatalf("get: %v\n got %+v\nwant %+v", err, got, created)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("list: %v %+v", err, list)
	}
	put, err := c.Put(ctx, id, Details{Name: "one", Description: new("replaced")})
	if err != nil || put.Fields["description"] != "replaced" || put.Fields["cluster"] != nil {
		t.Fatalf("put: %v %+v", err, put)
	}
	patched, err := c.Patch(ctx, id, []Operation{
		{Operation: "add", Path: "/attributes", Value: map[string]any{"uid": "u2"}},
		{Operation: "test", Path: "/name", Value: "one"},
		{Operation: "add", Path: "/sources", Value: []string{"s9"}},
	})
	if err != nil || patched.Fields["attributes"].(map[string]any)["uid"] != "u2" || !reflect.DeepEqual(patched.Fields["sources"], []any{"s9"}) {
		t.Fatalf("patch: %v %+v", err, patched)
	}
	rule, err := c.PatchBeforeProvisioningRule(ctx, id, []Operation{
		{Operation: "add", Path: "/beforeProvisioningRule", Value: RuleRef{Type: "RULE", ID: "r2", Name: "R2"}},
	})
	wantRule := map[string]any{"type": "RULE", "id": "r2", "name": "R2"}
	if err != nil || !reflect.DeepEqual(rule.Fields["beforeProvisioningRule"], wantRule) {
		t.Fatalf("patch rule: %v %+v", err, rule)
	}
	if err := c.Delete(ctx, id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.Get(ctx, id); !IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := c.Delete(ctx, id); !IsNotFound(err) {
		t.Fatalf("delete after delete: %v", err)
	}
	checkWire(t, e.fk, prefix, id, pf)
}

// checkFields verifies the normalised Fields for either shape.
func checkFields(t *testing.T, shape fake.Shape, in *Integration) {
	t.Helper()
	f := in.Fields
	if f["name"] != "one" || f["description"] != "desc" || f["cluster"] != "c1" ||
		!reflect.DeepEqual(f["sources"], []any{"s1", "s2"}) {
		t.Fatalf("normalised fields %v", f)
	}
	attrs := f["attributes"].(map[string]any)
	if attrs["password"] != fake.Masked || attrs["uid"] != "svc" || attrs["port"] != 443.0 {
		t.Fatalf("attributes %v", attrs)
	}
	_, hasStatus := f["statusMap"]
	_, hasReq := f["request"]
	if shape == fake.ShapeDTO && (hasStatus || hasReq) || shape == fake.ShapeEcho && (!hasStatus || !hasReq) {
		t.Fatalf("shape %s: statusMap/request presence wrong: %v", shape, f)
	}
	for k := range f {
		if !strings.Contains(" name description type attributes sources cluster statusMap request beforeProvisioningRule ", " "+k+" ") {
			t.Fatalf("unexpected key %q in Fields", k)
		}
	}
}

// checkWire verifies paths, headers and bodies as the fake received them.
func checkWire(t *testing.T, fk *fake.Server, prefix, id string, pf PatchFormat) {
	t.Helper()
	reqs := fk.Requests(fake.SIMOnly())
	want := []string{"POST " + prefix, "GET " + prefix + "/" + id, "GET " + prefix, "PUT " + prefix + "/" + id,
		"PATCH " + prefix + "/" + id, "PATCH " + prefix + "/" + id + "/beforeProvisioningRule",
		"DELETE " + prefix + "/" + id, "GET " + prefix + "/" + id, "DELETE " + prefix + "/" + id}
	if len(reqs) != len(want) {
		t.Fatalf("%d SIM requests, want %d", len(reqs), len(want))
	}
	for i, r := range reqs {
		if got := r.Method + " " + r.Path; got != want[i] {
			t.Fatalf("request %d: %s, want %s", i, got, want[i])
		}
		h := r.Header
		if h.Get("X-SailPoint-Experimental") != "true" || h.Get("Accept") != "application/json" ||
			h.Get("User-Agent") != "sim-operator/dev" || h.Get("Authorization") == "" {
			t.Fatalf("request %d headers %v", i, h)
		}
		switch r.Method {
		case http.MethodPatch:
			if h.Get("Content-Type") != "application/json-patch+json" {
				t.Fatalf("patch content type %q", h.Get("Content-Type"))
			}
			isArray := strings.HasPrefix(string(r.Body), "[")
			if isArray != (pf == PatchFormatArray) {
				t.Fatalf("patch body form %s for %s", r.Body, pf)
			}
		case http.MethodPost, http.MethodPut:
			if h.Get("Content-Type") != "application/json" {
				t.Fatalf("content type %q", h.Get("Content-Type"))
			}
		}
	}
	var posted map[string]any
	if err := json.Unmarshal(reqs[0].Body, &posted); err != nil || posted["beforeProvisioningRule"] == nil || posted["statusMap"] == nil {
		t.Fatalf("create body %s", reqs[0].Body)
	}
	if n := fk.CountRequests(http.MethodPost, "/oauth/token"); n != 1 {
		t.Fatalf("%d token requests, want 1 (reuse)", n)
	}
}

func TestPatchFormRefused(t *testing.T) {
	tests := []struct {
		forms  fake.PatchForms
		client PatchFormat
	}{{fake.PatchFormsArray, PatchFormatOperations}, {fake.PatchFormsOperations, PatchFormatArray}}
	for _, tt := range tests {
		t.Run(string(tt.forms), func(t *testing.T) {
			e := newEnv(t, fake.Options{PatchForms: tt.forms})
			c := e.client(func(c *Config) { c.PatchFormat = tt.client })
			id := e.fk.Insert(map[string]any{"name": "x"})
			_, err := c.Patch(context.Background(), id, []Operation{{Operation: "add", Path: "/description", Value: "d"}})
			if KindOf(err) != KindInvalid || len(mustError(t, err).Messages) == 0 {
				t.Fatalf("want KindInvalid with a message, got %v", err)
			}
		})
	}
}

func TestCreateTimeoutAfterCommit(t *testing.T) {
	e := newEnv(t, fake.Options{})
	c := e.client(func(c *Config) { c.Timeout = 200 * time.Millisecond })
	if err := c.CheckToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.fk.DelayCreateResponse(5 * time.Second)
	_, err := c.Create(context.Background(), Details{Name: "slow"})
	if KindOf(err) != KindTransport {
		t.Fatalf("want a transport error, got %v", err)
	}
	if n := e.fk.CountRequests(http.MethodPost, "/v2024/"); n != 1 {
		t.Fatalf("create sent %d times, want 1 (never retried)", n)
	}
	if objs := e.fk.Objects(); len(objs) != 1 {
		t.Fatalf("the object must exist: %v", objs)
	}
}

func TestTokenReuseAndExpiry(t *testing.T) {
	clock := newClock()
	e := newEnv(t, fake.Options{Clock: clock.Now})
	c := e.client(func(c *Config) { c.Clock = clock.Now })
	ctx := context.Background()
	done := make(chan error)
	for range 10 {
		go func() {
			_, err := c.List(ctx)
			done <- err
		}()
	}
	for range 10 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		if _, err := c.List(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tokens := func() int { return e.fk.CountRequests(http.MethodPost, "/oauth/token") }
	if n := tokens(); n != 1 {
		t.Fatalf("20 requests used %d tokens, want 1", n)
	}
	clock.Step(680 * time.Second) // inside 749s minus the 60s margin: reuse
	if err := c.CheckToken(ctx); err != nil || tokens() != 1 {
		t.Fatalf("token at 680s: %v, %d token requests", err, tokens())
	}
	clock.Step(10 * time.Second) // past the refresh point (689s)
	if _, err := c.List(ctx); err != nil || tokens() != 2 {
		t.Fatalf("token at 690s: %v, %d token requests", err, tokens())
	}
}

func TestServerSideExpiryRetriesOnce(t *testing.T) {
	serverClock := newClock()
	e := newEnv(t, fake.Options{Clock: serverClock.Now, TokenTTL: 30 * time.Second})
	c := e.client(nil) // real clock: the client still believes its token valid
	ctx := context.Background()
	if _, err := c.List(ctx); err != nil {
		t.Fatal(err)
	}
	serverClock.Step(time.Minute)
	if _, err := c.List(ctx); err != nil {
		t.Fatalf("after server-side expiry: %v", err)
	}
	reqs := e.fk.Requests(fake.SIMOnly())
	if len(reqs) != 3 || reqs[1].Status != 401 || reqs[2].Status != 200 {
		t.Fatalf("want 200, 401, 200; got %d requests", len(reqs))
	}
	if n := e.fk.CountRequests(http.MethodPost, "/oauth/token"); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

func TestInsecureHTTPRefused(t *testing.T) {
	e := newEnv(t, fake.Options{})
	for _, cfg := range []Config{
		{BaseURL: e.url, ClientID: "a", ClientSecret: "b", Budget: NewBudget(1, time.Second, nil)},
		{BaseURL: strings.Replace(e.url, "http:", "https:", 1), TokenURL: e.url + "/oauth/token", ClientID: "a", ClientSecret: "b", Budget: NewBudget(1, time.Second, nil)},
	} {
		if _, err := New(cfg); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "http://") {
			t.Fatalf("want http:// refused, got %v", err)
		}
	}
	if n := len(e.fk.Requests()); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{BaseURL: "https://acme.api.identitynow.com", ClientID: "a", ClientSecret: "b", Budget: NewBudget(1, time.Second, nil)}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no base URL", func(c *Config) { c.BaseURL = "" }},
		{"relative", func(c *Config) { c.BaseURL = "acme.api.identitynow.com" }},
		{"user info", func(c *Config) { c.BaseURL = "https://u:p@acme.api.identitynow.com" }},
		{"ftp", func(c *Config) { c.TokenURL = "ftp://acme/oauth/token" }},
		{"no secret", func(c *Config) { c.ClientSecret = "" }},
		{"release", func(c *Config) { c.Release = "v3" }},
		{"patch format", func(c *Config) { c.PatchFormat = "Merge" }},
		{"budget", func(c *Config) { c.Budget = nil }},
		{"ca bundle", func(c *Config) { c.CABundle = []byte("not pem") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			if _, err := New(cfg); KindOf(err) != KindInvalid {
				t.Fatalf("want KindInvalid, got %v", err)
			}
		})
	}
	c, err := New(ok)
	if err != nil || c.Release() != ReleaseV2024 || c.tokens.cfg.TokenURL != ok.BaseURL+"/oauth/token" {
		t.Fatalf("defaults: %v", err)
	}
}

func TestCABundle(t *testing.T) {
	fk := fake.NewServer(fake.Options{Clients: map[string]string{testClientID: testSecret}})
	ts := newTLSServer(t, fk)
	base := Config{BaseURL: ts.URL, ClientID: testClientID, ClientSecret: testSecret, Budget: NewBudget(0, 0, nil), Timeout: 5 * time.Second}

	untrusted, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := untrusted.List(context.Background()); KindOf(err) != KindTransport || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: want a TLS transport error, got %v", err)
	}
	base.CABundle = pemOf(ts.Certificate())
	trusted, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trusted.List(context.Background()); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	if trusted.transport.TLSClientConfig.MinVersion != 0x0303 {
		t.Fatal("TLS 1.2 minimum")
	}
}
