package fake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	hexID   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	msStamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

var allPrefixes = []string{"/v2024/sim-integrations", "/v2025/sim-integrations", "/v2026/sim-integrations", "/sim-integrations/v1"}

func TestTokenEndpoint(t *testing.T) {
	h := start(t, Options{})
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name, query, body string
		status            int
		errCode           string
	}{
		{"form", "", "grant_type=client_credentials&client_id=client-a&client_secret=secret-a", 200, ""},
		{"query", "?grant_type=client_credentials&client_id=client-a&client_secret=secret-a", "", 200, ""},
		{"upper-case grant", "", "grant_type=CLIENT_CREDENTIALS&client_id=client-a&client_secret=secret-a", 200, ""},
		{"wrong secret", "", "grant_type=client_credentials&client_id=client-a&client_secret=nope", 401, "invalid_client"},
		{"unknown client", "", "grant_type=client_credentials&client_id=zz&client_secret=secret-a", 401, "invalid_client"},
		{"wrong grant", "", "grant_type=password&client_id=client-a&client_secret=secret-a", 400, "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.raw(http.MethodPost, "/oauth/token"+tt.query, map[string]string{"Content-Type": form}, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			m := r.json(t)
			if tt.errCode != "" {
				if m["error"] != tt.errCode {
					t.Fatalf("error %v, want %s", m["error"], tt.errCode)
				}
				return
			}
			if m["token_type"] != "bearer" || m["expires_in"] != 749.0 || m["scope"] != "sp:scopes:all" || m["access_token"] == "" {
				t.Fatalf("token response %s", r.body)
			}
		})
	}
	if r := h.raw(http.MethodGet, "/oauth/token", nil, ""); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET token: %d", r.status)
	}
	for _, q := range h.s.Requests(ByPathPrefix("/oauth/token")) {
		if q.Body != nil || strings.Contains(q.Query, "secret-a") {
			t.Fatalf("token request logged with secret: %+v", q)
		}
	}
}

func TestGatewayChecks(t *testing.T) {
	h := start(t, Options{TokenTTL: 749 * time.Second})
	tok := h.token(testClient, testSecret)
	expired := h.token("client-b", "secret-b")
	h.s.SetTokenTTL(749 * time.Second)
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
		field  string
		text   string
		clock  time.Duration // advance before the request
	}{
		{"no experimental header", map[string]string{"Authorization": "Bearer " + tok}, 400, "error", "Experimental Header is missing or invalid.", 0},
		{"experimental false", map[string]string{"Authorization": "Bearer " + tok, "X-SailPoint-Experimental": "false"}, 400, "error", "Experimental Header is missing or invalid.", 0},
		{"no bearer", map[string]string{"X-SailPoint-Experimental": "true"}, 401, "error", "JWT validation failed: no bearer token", 0},
		{"basic auth", map[string]string{"X-SailPoint-Experimental": "true", "Authorization": "Basic eDp5"}, 401, "error", "JWT validation failed: no bearer token", 0},
		{"unknown token", map[string]string{"X-SailPoint-Experimental": "true", "Authorization": "Bearer nope"}, 401, "error", "JWT validation failed: JWT is invalid", 0},
		{"ok", map[string]string{"X-SailPoint-Experimental": "TRUE", "Authorization": "Bearer " + tok}, 200, "", "", 0},
		{"expired", map[string]string{"X-SailPoint-Experimental": "true", "Authorization": "Bearer " + expired}, 401, "error", "JWT validation failed: JWT is expired", 749 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.clock.Step(tt.clock)
			r := h.raw(http.MethodGet, "/v2024/sim-integrations", tt.hdr, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json;charset=UTF-8" {
				t.Fatalf("content type %q", ct)
			}
			if tt.field != "" {
				if got := r.json(t)[tt.field]; got != tt.text {
					t.Fatalf("%s = %v, want %q", tt.field, got, tt.text)
				}
			}
		})
	}
	h.s.RevokeTokens()
	fresh := h.token(testClient, testSecret)
	if r := h.sim(fresh, http.MethodGet, "/v2024/sim-integrations", "", ""); r.status != 200 {
		t.Fatalf("fresh token after revoke: %d", r.status)
	}
}

func TestRoutesAllReleases(t *testing.T) {
	h := start(t, Options{Shape: ShapeEcho})
	tok := h.token(testClient, testSecret)
	for i, p := range allPrefixes {
		t.Run(p, func(t *testing.T) {
			name := "int-" + p
			o := h.create(tok, p, `{"name":"`+name+`","description":"d"}`)
			id := o["id"].(string)
			if !hexID.MatchString(id) || !msStamp.MatchString(o["created"].(string)) || !msStamp.MatchString(o["modified"].(string)) {
				t.Fatalf("id/timestamps: %v", o)
			}
			var l []any
			if r := h.sim(tok, http.MethodGet, p, "", ""); r.status != 200 || json.Unmarshal(r.body, &l) != nil || len(l) != i+1 {
				t.Fatalf("list %d %s", r.status, r.body)
			}
			if r := h.sim(tok, http.MethodGet, p+"/"+id, "", ""); r.status != 200 || r.json(t)["name"] != name {
				t.Fatalf("get %d %s", r.status, r.body)
			}
			if r := h.sim(tok, http.MethodPut, p+"/"+id, "application/json", `{"name":"`+name+`","type":"t"}`); r.status != 200 {
				t.Fatalf("put %d %s", r.status, r.body)
			} else if m, stored := r.json(t), h.stored(id); m["type"] != "t" || m["description"] != "" || stored["description"] != nil {
				t.Fatalf("PUT must replace entirely (the response shows the required description as \"\"): %s, stored %v", r.body, stored)
			}
			if r := h.sim(tok, http.MethodPatch, p+"/"+id, "application/json-patch+json", `[{"op":"add","path":"/description","value":"x"}]`); r.status != 200 || r.json(t)["description"] != "x" {
				t.Fatalf("patch %d %s", r.status, r.body)
			}
			rule := `{"operations":[{"op":"add","path":"/beforeProvisioningRule","value":{"type":"RULE","id":"r1","name":"R"}}]}`
			if r := h.sim(tok, http.MethodPatch, p+"/"+id+"/beforeProvisioningRule", "application/json-patch+json", rule); r.status != 200 {
				t.Fatalf("patch rule %d %s", r.status, r.body)
			}
			if r := h.sim(tok, http.MethodDelete, p+"/"+id, "", ""); r.status != 200 || len(r.body) != 0 {
				t.Fatalf("delete %d %q", r.status, r.body)
			}
			for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete} {
				r := h.sim(tok, m, p+"/"+id, "application/json-patch+json", `[]`)
				if m == http.MethodPut {
					r = h.sim(tok, m, p+"/"+id, "application/json", `{"name":"z"}`)
				}
				if r.status != 404 {
					t.Fatalf("%s after delete: %d", m, r.status)
				}
				errorTexts(t, r)
			}
			h.create(tok, p, `{"name":"`+name+`"}`) // keep one per release for the list count
		})
	}
	if got := len(h.s.Objects()); got != len(allPrefixes) {
		t.Fatalf("shared store holds %d objects", got)
	}
	for _, p := range []string{"/v3/sim-integrations", "/v2024/sim-integrations/", "/v2024/sim-integrations/x/y", "/beta/sim-integrations"} {
		if r := h.sim(tok, http.MethodGet, p, "", ""); r.status != 404 {
			t.Fatalf("%s: %d", p, r.status)
		}
	}
	if r := h.sim(tok, http.MethodDelete, "/v2024/sim-integrations", "", ""); r.status != 405 {
		t.Fatalf("DELETE collection: %d", r.status)
	}
}

func TestValidationAndUniqueNames(t *testing.T) {
	h := start(t, Options{})
	tok := h.token(testClient, testSecret)
	p := "/v2025/sim-integrations"
	a := h.create(tok, p, `{"name":"A"}`)["id"].(string)
	b := h.create(tok, p, `{"name":"B"}`)["id"].(string)
	jp := "application/json-patch+json"
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		text                            string
	}{
		{"duplicate create", "POST", p, "application/json", `{"name":"A"}`, 400, `named "A" already exists`},
		{"missing name", "POST", p, "application/json", `{"description":"x"}`, 400, "'name' is missing"},
		{"null name", "POST", p, "application/json", `{"name":null}`, 400, "'name' is missing"},
		{"empty name", "POST", p, "application/json", `{"name":"  "}`, 400, "'name' is missing"},
		{"not an object", "POST", p, "application/json", `[1]`, 400, "JSON object"},
		{"wrong media type", "POST", p, "text/plain", `{"name":"C"}`, 415, "application/json"},
		{"sources type", "POST", p, "application/json", `{"name":"C","sources":"x"}`, 400, "'sources'"},
		{"statusMap values", "POST", p, "application/json", `{"name":"C","statusMap":{"a":1}}`, 400, "'statusMap'"},
		{"rule fields", "POST", p, "application/json", `{"name":"C","beforeProvisioningRule":{"x":"y"}}`, 400, "'beforeProvisioningRule'"},
		{"rename by put", "PUT", p + "/" + b, "application/json", `{"name":"A"}`, 400, "already exists"},
		{"rename by patch", "PATCH", p + "/" + b, jp, `[{"op":"replace","path":"/name","value":"A"}]`, 400, "already exists"},
		{"put same name ok", "PUT", p + "/" + a, "application/json", `{"name":"A","description":"d"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.sim(tok, tt.method, tt.path, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.text != "" {
				if texts := errorTexts(t, r); len(texts) != 1 || !strings.Contains(texts[0], tt.text) {
					t.Fatalf("texts %q, want %q", texts, tt.text)
				}
				if r.json(t)["detailCode"] != "400.1 Bad Request Content" && tt.status == 400 {
					t.Fatalf("detailCode %v", r.json(t)["detailCode"])
				}
			}
		})
	}
	if n := len(h.s.Objects()); n != 2 {
		t.Fatalf("%d objects, want 2", n)
	}
	o, _ := h.s.Get(b)
	if o.Doc["name"] != "B" {
		t.Fatalf("failed rename changed the object: %v", o.Doc)
	}
	// A name is free again once its object is renamed or deleted.
	if r := h.sim(tok, "PATCH", p+"/"+b, jp, `[{"op":"replace","path":"/name","value":"B2"}]`); r.status != 200 {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	h.s.Remove(a)
	for _, name := range []string{"A", "B"} {
		if r := h.sim(tok, "POST", p, "application/json", `{"name":"`+name+`"}`); r.status != 201 && r.status != 200 {
			t.Fatalf("create %s after its name was freed: %d %s", name, r.status, r.body)
		}
	}
	if r := h.sim(tok, "POST", p, "application/json", `{"name":"B2"}`); r.status != 400 {
		t.Fatalf("the renamed object's new name must be taken: %d", r.status)
	}
}

func TestPatchSemantics(t *testing.T) {
	h := start(t, Options{Shape: ShapeEcho})
	tok := h.token(testClient, testSecret)
	p := "/v2024/sim-integrations"
	base := `{"name":"P","description":"d","attributes":{"a":"1","b":"2"},"sources":["s1","s2"],"statusMap":{"x":"y"}}`
	id := h.create(tok, p, base)["id"].(string)
	jp := "application/json-patch+json"
	tests := []struct {
		name   string
		sub    string
		ctype  string
		body   string
		status int
		check  func(map[string]any) bool
	}{
		{"replace", "", jp, `[{"op":"replace","path":"/description","value":"e"}]`, 200,
			func(d map[string]any) bool { return d["description"] == "e" }},
		{"operations form", "", jp, `{"operations":[{"op":"remove","path":"/attributes/b"}]}`, 200,
			func(d map[string]any) bool { _, ok := d["attributes"].(map[string]any)["b"]; return !ok }},
		{"add array item", "", jp, `[{"op":"add","path":"/sources/-","value":"s3"}]`, 200,
			func(d map[string]any) bool { return len(d["sources"].([]any)) == 3 }},
		{"test passes", "", jp, `[{"op":"test","path":"/name","value":"P"},{"op":"add","path":"/cluster","value":"c"}]`, 200,
			func(d map[string]any) bool { return d["cluster"] == "c" }},
		{"copy and move", "", jp, `[{"op":"copy","from":"/statusMap","path":"/request"},{"op":"move","from":"/request","path":"/statusMap"}]`, 200,
			func(d map[string]any) bool { _, ok := d["request"]; return !ok && d["statusMap"] != nil }},
		{"failed test is atomic", "", jp, `[{"op":"replace","path":"/description","value":"zzz"},{"op":"test","path":"/name","value":"other"}]`, 400, nil},
		{"remove missing", "", jp, `[{"op":"remove","path":"/attributes/nope"}]`, 400, nil},
		{"replace missing", "", jp, `[{"op":"replace","path":"/type","value":"t"}]`, 400, nil},
		{"add without value", "", jp, `[{"op":"add","path":"/type"}]`, 400, nil},
		{"remove name", "", jp, `[{"op":"remove","path":"/name"}]`, 400, nil},
		{"unknown path", "", jp, `[{"op":"add","path":"/managedSources","value":[]}]`, 400, nil},
		{"root path", "", jp, `[{"op":"replace","path":"","value":{}}]`, 400, nil},
		{"bad op", "", jp, `[{"op":"merge","path":"/description","value":"x"}]`, 400, nil},
		{"wrong content type", "", "application/json", `[{"op":"replace","path":"/description","value":"x"}]`, 400, nil},
		{"not a patch", "", jp, `"x"`, 400, nil},
		{"operations missing", "", jp, `{"ops":[]}`, 400, nil},
		{"rule replace", "/beforeProvisioningRule", jp, `[{"op":"add","path":"/beforeProvisioningRule","value":{"type":"RULE","id":"r1","name":"R"}}]`, 200,
			func(d map[string]any) bool { return d["beforeProvisioningRule"].(map[string]any)["id"] == "r1" }},
		{"rule sub field", "/beforeProvisioningRule", jp, `{"operations":[{"op":"replace","path":"/beforeProvisioningRule/name","value":"R2"}]}`, 200,
			func(d map[string]any) bool { return d["beforeProvisioningRule"].(map[string]any)["name"] == "R2" }},
		{"rule other path", "/beforeProvisioningRule", jp, `[{"op":"replace","path":"/description","value":"x"}]`, 400, nil},
		{"rule relative path", "/beforeProvisioningRule", jp, `[{"op":"replace","path":"/id","value":"x"}]`, 400, nil},
		{"rule move from elsewhere", "/beforeProvisioningRule", jp, `[{"op":"copy","from":"/name","path":"/beforeProvisioningRule/name"}]`, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := h.s.Get(id)
			h.clock.Step(time.Second)
			r := h.sim(tok, http.MethodPatch, p+"/"+id+tt.sub, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			after, _ := h.s.Get(id)
			if tt.status != 200 {
				errorTexts(t, r)
				if !after.Modified.Equal(before.Modified) || !jsonEqual(after.Doc, before.Doc) {
					t.Fatalf("failed patch changed the object: %v", after.Doc)
				}
				return
			}
			if !tt.check(after.Doc) || !after.Modified.After(before.Modified) {
				t.Fatalf("unexpected document %v", after.Doc)
			}
			want := cloneDoc(after.Doc) // and the keys every response carries
			for k, v := range requiredDefaults() {
				if _, ok := want[k]; !ok {
					want[k] = v
				}
			}
			if !jsonEqual(withoutServerFields(r.json(t)), want) {
				t.Fatalf("echo response %s differs from stored %v", r.body, after.Doc)
			}
		})
	}
}

func TestPatchForms(t *testing.T) {
	array := `[{"op":"add","path":"/description","value":"x"}]`
	ops := `{"operations":[{"op":"add","path":"/type","value":"t"}]}`
	for _, tt := range []struct {
		forms             PatchForms
		arrayOK, objectOK bool
	}{{PatchFormsBoth, true, true}, {PatchFormsOperations, false, true}, {PatchFormsArray, true, false}} {
		t.Run(string(tt.forms), func(t *testing.T) {
			h := start(t, Options{PatchForms: tt.forms})
			tok := h.token(testClient, testSecret)
			id := h.create(tok, "/v2026/sim-integrations", `{"name":"F"}`)["id"].(string)
			for body, ok := range map[string]bool{array: tt.arrayOK, ops: tt.objectOK} {
				r := h.sim(tok, http.MethodPatch, "/v2026/sim-integrations/"+id, "application/json-patch+json", body)
				if (r.status == 200) != ok {
					t.Fatalf("%s: status %d: %s", body, r.status, r.body)
				}
			}
		})
	}
}

func TestResponseShapes(t *testing.T) {
	full := `{"name":"S","description":"d","type":"ServiceNow Service Desk","attributes":{"uid":"u","password":"pw"},` +
		`"sources":["s1"],"cluster":"c1","statusMap":{"a":"b"},"request":{"c":"d"},` +
		`"beforeProvisioningRule":{"type":"RULE","id":"r","name":"R"},"id":"ignored","bogus":1}`
	t.Run("dto", func(t *testing.T) {
		h := start(t, Options{Shape: ShapeDTO, MaskedAttributes: []string{"password"}})
		tok := h.token(testClient, testSecret)
		m := h.create(tok, "/v2024/sim-integrations", full)
		want := []string{"attributes", "beforeProvisioningRule", "cluster", "clusterRef", "created", "description",
			"id", "managedSources", "modified", "name", "provisioningConfig", "type"}
		if got := sortedKeys(m); !slices.Equal(got, want) {
			t.Fatalf("keys %v, want %v", got, want)
		}
		if m["cluster"] != nil || m["clusterRef"].(map[string]any)["id"] != "c1" ||
			m["clusterRef"].(map[string]any)["type"] != "CLUSTER" || m["managedSources"].([]any)[0] != "s1" {
			t.Fatalf("dto mapping: %v", m)
		}
		if m["attributes"].(map[string]any)["password"] != Masked || m["attributes"].(map[string]any)["uid"] != "u" {
			t.Fatalf("masking: %v", m["attributes"])
		}
		if m["id"] == "ignored" {
			t.Fatal("read-only id taken from the request")
		}
		o, _ := h.s.Get(m["id"].(string))
		if o.Doc["attributes"].(map[string]any)["password"] != "pw" || o.Doc["bogus"] != nil {
			t.Fatalf("stored %v", o.Doc)
		}
		bare := h.create(tok, "/v2024/sim-integrations", `{"name":"bare"}`)
		if bare["description"] != "" || len(bare["attributes"].(map[string]any)) != 0 || bare["type"] == nil || bare["clusterRef"] != nil {
			t.Fatalf("required DTO keys: %v", bare)
		}
	})
	t.Run("echo", func(t *testing.T) {
		h := start(t, Options{Shape: ShapeEcho, MaskedAttributes: []string{"password"}})
		tok := h.token(testClient, testSecret)
		m := h.create(tok, "/v2024/sim-integrations", full)
		want := []string{"attributes", "beforeProvisioningRule", "cluster", "created", "description", "id",
			"modified", "name", "request", "sources", "statusMap", "type"}
		if got := sortedKeys(m); !slices.Equal(got, want) {
			t.Fatalf("keys %v, want %v", got, want)
		}
		if m["attributes"].(map[string]any)["password"] != Masked {
			t.Fatalf("masking: %v", m["attributes"])
		}
	})
	t.Run("omitted", func(t *testing.T) {
		h := start(t, Options{Shape: ShapeEcho, MaskedAttributes: []string{"password"}})
		h.s.SetOmittedAttributes("password")
		tok := h.token(testClient, testSecret)
		m := h.create(tok, "/v2024/sim-integrations", full)
		attrs := m["attributes"].(map[string]any)
		if _, present := attrs["password"]; present || len(attrs) == 0 {
			t.Fatalf("an omitted attribute must be left out, the others kept: %v", attrs)
		}
		h.s.SetOmittedAttributes()
		got := h.sim(tok, http.MethodGet, "/v2024/sim-integrations/"+m["id"].(string), "", "").json(t)
		if got["attributes"].(map[string]any)["password"] != Masked {
			t.Fatalf("omission switched off at run time: the value is masked again, got %v", got["attributes"])
		}
	})
}

// TestRateLimitPerRequestEscalation: the stress mode, set explicitly (the default is documented).
func TestRateLimitPerRequestEscalation(t *testing.T) {
	h := start(t, Options{TokenTTL: 24 * time.Hour,
		RateLimit: RateLimit{Requests: 3, Period: 10 * time.Second, Escalation: EscalationPerRequest}})
	tok := h.token(testClient, testSecret)
	other := h.token("client-b", "secret-b")
	list := func(tok, prefix string) resp { return h.sim(tok, http.MethodGet, prefix, "", "") }
	p := "/v2024/sim-integrations"
	for i := range 3 {
		if r := list(tok, p); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
		h.clock.Step(time.Second)
	}
	// t=3s: the window (10s) holds 3 requests; the oldest leaves at t=10s.
	steps := []struct {
		advance    time.Duration
		status     int
		retryAfter string
	}{
		{0, 429, "7"},                  // first violation: rest of the window
		{time.Second, 429, "60"},       // while blocked: tier 1
		{10 * time.Second, 429, "300"}, // still blocked: tier 2
		{time.Minute, 429, "600"},      // tier 3
		{time.Minute, 429, "1200"},     // tier 4
		{time.Minute, 429, "1200"},     // stays at the last tier
		{1200 * time.Second, 200, ""},  // block over: accepted, escalation reset
		{0, 200, ""}, {0, 200, ""},     // window: 3 requests now
		{0, 429, "10"}, // fresh violation: rest of the window again
	}
	for i, st := range steps {
		h.clock.Step(st.advance)
		r := list(tok, p)
		if r.status != st.status || r.header.Get("Retry-After") != st.retryAfter {
			t.Fatalf("step %d: %d Retry-After %q, want %d %q", i, r.status, r.header.Get("Retry-After"), st.status, st.retryAfter)
		}
		if r.status == 429 && r.json(t)["message"] != " Rate Limit Exceeded " {
			t.Fatalf("429 body %s", r.body)
		}
	}
	if r := list(other, p); r.status != 200 {
		t.Fatalf("another client id has its own budget: %d", r.status)
	}
	if r := list(tok, "/v2025/sim-integrations"); r.status != 200 {
		t.Fatalf("another release has its own budget: %d", r.status)
	}
}

// TestRateLimitSlidingWindow: the per-request mode's window slides.
func TestRateLimitSlidingWindow(t *testing.T) {
	perRequest := RateLimit{Requests: 2, Period: 10 * time.Second, Escalation: EscalationPerRequest}
	h := start(t, Options{RateLimit: perRequest})
	tok := h.token(testClient, testSecret)
	p := "/sim-integrations/v1"
	for i, st := range []struct {
		advance time.Duration
		status  int
	}{{0, 200}, {9 * time.Second, 200}, {999 * time.Millisecond, 429}} {
		h.clock.Step(st.advance)
		if r := h.sim(tok, http.MethodGet, p, "", ""); r.status != st.status {
			t.Fatalf("step %d: %d", i, r.status)
		}
	}
	h.s.SetRateLimit(perRequest) // forgets the block
	h.clock.Step(time.Millisecond)
	if r := h.sim(tok, http.MethodGet, p, "", ""); r.status != 200 {
		t.Fatalf("after reset: %d", r.status)
	}
}

func TestFaultInjection(t *testing.T) {
	h := start(t, Options{})
	tok := h.token(testClient, testSecret)
	p := "/v2024/sim-integrations"
	h.s.FailNext(2, Match{Method: "GET", PathContains: "sim-integrations"}, 503, 5*time.Second)
	for i := range 2 {
		r := h.sim(tok, http.MethodGet, p, "", "")
		if r.status != 503 || r.header.Get("Retry-After") != "5" {
			t.Fatalf("fault %d: %d %q", i, r.status, r.header.Get("Retry-After"))
		}
		errorTexts(t, r)
	}
	if r := h.sim(tok, http.MethodGet, p, "", ""); r.status != 200 {
		t.Fatalf("after faults: %d", r.status)
	}
	h.s.FailNext(1, Match{Method: "POST"}, 500, 0)
	if r := h.sim(tok, http.MethodGet, p, "", ""); r.status != 200 {
		t.Fatalf("non-matching method faulted: %d", r.status)
	}
	if r := h.sim(tok, http.MethodPost, p, "application/json", `{"name":"F"}`); r.status != 500 || len(h.s.Objects()) != 0 {
		t.Fatalf("matching POST: %d", r.status)
	}
	h.s.InjectFault(Fault{Count: 1, Status: 429, RetryAfter: Duration(90 * time.Second), RetryAfterDate: true})
	r := h.sim(tok, http.MethodGet, p, "", "")
	if d, err := http.ParseTime(r.header.Get("Retry-After")); r.status != 429 || err != nil || d.Sub(h.clock.Now()) != 90*time.Second {
		t.Fatalf("date Retry-After: %d %q", r.status, r.header.Get("Retry-After"))
	}
	h.s.FailNext(1, Match{}, 403, 0)
	if r := h.sim(tok, http.MethodGet, p, "", ""); r.status != 403 || errorTexts(t, r)[0] != defaultTexts[403] {
		t.Fatalf("403: %d %s", r.status, r.body)
	}
	h.s.FailNext(1, Match{}, StatusReset, 0)
	fresh := &http.Client{Transport: &http.Transport{}} // a reused connection would be retried
	if _, err := fresh.Get(h.url + p); err == nil {
		t.Fatal("reset fault: want a transport error")
	}
	h.s.SetFailureRate(1, 502, h.clock.Now().Add(time.Minute))
	if r := h.sim(tok, http.MethodGet, p, "", ""); r.status != 502 {
		t.Fatalf("failure rate: %d", r.status)
	}
	h.clock.Step(time.Minute)
	if r := h.sim(tok, http.MethodGet, p, "", ""); r.status != 200 {
		t.Fatalf("failure rate after until: %d", r.status)
	}
	h.s.RejectField("/attributes/url", "https://bad", "The url is not reachable.")
	r = h.sim(tok, http.MethodPost, p, "application/json", `{"name":"R","attributes":{"url":"https://bad"}}`)
	if r.status != 400 || errorTexts(t, r)[0] != "The url is not reachable." {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	id := h.create(tok, p, `{"name":"R","attributes":{"url":"https://ok"}}`)["id"].(string)
	r = h.sim(tok, http.MethodPatch, p+"/"+id, "application/json-patch+json", `[{"op":"replace","path":"/attributes/url","value":"https://bad"}]`)
	if r.status != 400 {
		t.Fatalf("reject on patch: %d", r.status)
	}
	h.s.ClearFaults()
	h.s.SetLatency(50 * time.Millisecond)
	start := time.Now()
	h.sim(tok, http.MethodGet, p, "", "")
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("latency not applied")
	}
	h.s.SetLatency(0)
}

func TestDelayCreateResponse(t *testing.T) {
	h := start(t, Options{})
	tok := h.token(testClient, testSecret)
	h.s.DelayCreateResponse(2 * time.Second)
	req, _ := http.NewRequest(http.MethodPost, h.url+"/v2024/sim-integrations", strings.NewReader(`{"name":"slow"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-SailPoint-Experimental", "true")
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := c.Do(req); err == nil {
		t.Fatal("want a client timeout")
	}
	if objs := h.s.Objects(); len(objs) != 1 || objs[0].Doc["name"] != "slow" {
		t.Fatalf("the create must be committed: %v", objs)
	}
}

func TestStoreAccessAndLog(t *testing.T) {
	h := start(t, Options{Shape: ShapeEcho})
	id := h.s.Insert(map[string]any{"name": "direct", "id": "0123456789abcdef0123456789abcdef", "created": "x"})
	if id != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("id %s", id)
	}
	o, _ := h.s.Get(id)
	h.clock.Step(time.Second)
	if !h.s.Edit(id, func(d map[string]any) { d["description"] = "edited" }) {
		t.Fatal("edit")
	}
	o2, _ := h.s.Get(id)
	if o2.Doc["description"] != "edited" || !o2.Modified.After(o.Modified) || o2.Doc["created"] != nil {
		t.Fatalf("edit result %+v", o2)
	}
	o2.Doc["description"] = "mutating a copy"
	if o3, _ := h.s.Get(id); o3.Doc["description"] != "edited" {
		t.Fatal("Get must return a copy")
	}
	tok := h.token(testClient, testSecret)
	h.sim(tok, http.MethodGet, "/v2024/sim-integrations/"+id, "", "")
	h.sim(tok, http.MethodPost, "/v2024/sim-integrations", "application/json", `{"name":"logged"}`)
	if !h.s.Remove(id) || h.s.Remove(id) || h.s.Edit(id, func(map[string]any) {}) {
		t.Fatal("remove")
	}
	reqs := h.s.Requests(SIMOnly())
	if len(reqs) != 2 || reqs[0].Method != "GET" || reqs[1].Method != "POST" || reqs[0].Seq >= reqs[1].Seq {
		t.Fatalf("log %+v", reqs)
	}
	if reqs[0].Header.Get("Authorization") != "REDACTED" || reqs[0].ClientID != testClient ||
		reqs[0].Release != "v2024" || reqs[0].Status != 200 || string(reqs[1].Body) != `{"name":"logged"}` {
		t.Fatalf("entry %+v", reqs[0])
	}
	if n := h.s.CountRequests("POST", "/v2024/"); n != 1 {
		t.Fatalf("count %d", n)
	}
	if n := h.s.CountRequests("", "/oauth/token"); n != 1 {
		t.Fatalf("token count %d", n)
	}
	h.s.ResetLog()
	if len(h.s.Requests()) != 0 {
		t.Fatal("reset")
	}
}

func TestAdminAPI(t *testing.T) {
	h := start(t, Options{Shape: ShapeEcho})
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	r := h.raw("POST", "/_admin/objects", jsonHdr, `{"name":"adm","attributes":{"a":"1"}}`)
	id := r.json(t)["id"].(string)
	if r.status != 200 || !hexID.MatchString(id) {
		t.Fatalf("insert %d %s", r.status, r.body)
	}
	if r := h.raw("PATCH", "/_admin/objects/"+id, jsonHdr, `{"description":"oob","attributes":{"a":null,"b":"2"}}`); r.status != 200 {
		t.Fatalf("merge edit %d %s", r.status, r.body)
	}
	o, _ := h.s.Get(id)
	if o.Doc["description"] != "oob" || !jsonEqual(o.Doc["attributes"], map[string]any{"b": "2"}) {
		t.Fatalf("merged %v", o.Doc)
	}
	if r := h.raw("PATCH", "/_admin/objects/"+id, jsonHdr, `[]`); r.status != 400 {
		t.Fatalf("bad merge patch %d", r.status)
	}
	var objs []Object
	if r := h.raw("GET", "/_admin/objects", nil, ""); json.Unmarshal(r.body, &objs) != nil || len(objs) != 1 || objs[0].ID != id {
		t.Fatalf("objects %s", r.body)
	}
	if r := h.raw("POST", "/_admin/faults", jsonHdr, `{"count":1,"status":418,"match":{"method":"GET"}}`); r.status != 204 {
		t.Fatalf("fault %d %s", r.status, r.body)
	}
	tok := h.token(testClient, testSecret)
	if r := h.sim(tok, "GET", "/v2024/sim-integrations", "", ""); r.status != 418 {
		t.Fatalf("admin fault not applied: %d", r.status)
	}
	if r := h.raw("POST", "/_admin/faults", jsonHdr, `{"count":0,"status":500}`); r.status != 400 {
		t.Fatalf("invalid fault accepted: %d", r.status)
	}
	var logged []map[string]any
	r = h.raw("GET", "/_admin/requests?method=GET&path=/v2024/", nil, "")
	if json.Unmarshal(r.body, &logged) != nil || len(logged) != 1 || logged[0]["status"] != 418.0 {
		t.Fatalf("requests %s", r.body)
	}
	h.raw("DELETE", "/_admin/requests", nil, "")
	if len(h.s.Requests()) != 0 {
		t.Fatal("log not cleared")
	}
	h.raw("POST", "/_admin/revoke-tokens", nil, "")
	if r := h.sim(tok, "GET", "/v2024/sim-integrations", "", ""); r.status != 401 {
		t.Fatalf("revoked token accepted: %d", r.status)
	}
	r = h.raw("POST", "/_admin/config", jsonHdr, `{"shape":"dto","rateLimit":{"requests":1,"period":"1m"},"latency":"1ms","maskedAttributes":["b"]}`)
	if r.status != 200 {
		t.Fatalf("config %d %s", r.status, r.body)
	}
	c := h.s.Config()
	if c.Shape != ShapeDTO || c.RateLimit.Requests != 1 || time.Duration(c.RateLimit.Period) != time.Minute ||
		time.Duration(c.Latency) != time.Millisecond || c.PatchForms != PatchFormsBoth || c.MaskedAttributes[0] != "b" {
		t.Fatalf("config %+v", c)
	}
	if r := h.raw("POST", "/_admin/config", jsonHdr, `{"shape":"xml"}`); r.status != 400 {
		t.Fatalf("bad config accepted: %d", r.status)
	}
	tok = h.token(testClient, testSecret)
	got := h.sim(tok, "GET", "/v2024/sim-integrations/"+id, "", "").json(t)
	if got["managedSources"] == nil || got["attributes"].(map[string]any)["b"] != Masked {
		t.Fatalf("config shape/mask not applied: %v", got)
	}
	if r := h.sim(tok, "GET", "/v2024/sim-integrations", "", ""); r.status != 429 {
		t.Fatalf("config rate limit not applied: %d", r.status)
	}
	if r := h.raw("DELETE", "/_admin/objects/"+id, nil, ""); r.status != 204 || len(h.s.Objects()) != 0 {
		t.Fatalf("admin delete %d", r.status)
	}
	if r := h.raw("DELETE", "/_admin/objects/"+id, nil, ""); r.status != 404 {
		t.Fatalf("admin delete unknown %d", r.status)
	}
	if r := h.raw("GET", "/_admin/config", nil, ""); r.json(t)["rateLimit"].(map[string]any)["period"] != "1m0s" {
		t.Fatalf("config JSON %s", r.body)
	}
}

func TestConcurrentUse(t *testing.T) {
	h := start(t, Options{})
	tok := h.token(testClient, testSecret)
	done := make(chan bool)
	for range 8 {
		go func() {
			defer func() { done <- true }()
			for range 5 {
				r := h.sim(tok, http.MethodPost, "/v2024/sim-integrations", "application/json", `{"name":"same"}`)
				if r.status != 200 && r.status != 400 {
					t.Errorf("status %d", r.status)
				}
				h.s.Objects()
				h.s.Requests()
			}
		}()
	}
	for range 8 {
		<-done
	}
	if n := len(h.s.Objects()); n != 1 {
		t.Fatalf("unique names under concurrency: %d objects", n)
	}
}

func TestQueryRedaction(t *testing.T) {
	if got := redactQuery("client_id=a&client_secret=b"); strings.Contains(got, "=b") {
		t.Fatalf("not redacted: %s", got)
	}
	if v, _ := url.ParseQuery(redactQuery("x=1")); v.Get("x") != "1" {
		t.Fatal("other params kept")
	}
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func withoutServerFields(m map[string]any) map[string]any {
	delete(m, "id")
	delete(m, "created")
	delete(m, "modified")
	return m
}

// TestRejectionEcho: a rejection can quote the submitted or the stored value (raw, as JSON, or
// URL-encoded) and answer with another status, directly and through the admin API.
func TestRejectionEcho(t *testing.T) {
	h := start(t, Options{MaskedAttributes: []string{"password"}})
	tok := h.token(testClient, testSecret)
	p := "/v2024/sim-integrations"
	const secret = "pa  ss\"<w>\nord&é"
	h.s.Reject(Rejection{Pointer: "/description", Value: "raw", Message: "Invalid password {echo} for {echo}",
		Echo: "/attributes/password"})
	h.s.Reject(Rejection{Pointer: "/description", Value: "json", Message: "bad attributes", Echo: "/attributes",
		EchoForm: EchoJSON})
	h.s.Reject(Rejection{Pointer: "/description", Value: "url", Message: "bad value {echo}.", Echo: "/attributes/password",
		EchoForm: EchoURL, Status: 503})
	h.s.Reject(Rejection{Pointer: "/description", Value: "missing", Message: "nothing [{echo}]", Echo: "/attributes/nope"})
	body := func(desc string) string {
		b, _ := json.Marshal(map[string]any{"name": "E-" + desc, "description": desc,
			"attributes": map[string]any{"password": secret}})
		return string(b)
	}
	for _, c := range []struct {
		desc   string
		status int
		text   string
	}{
		{"raw", 400, "Invalid password " + secret + " for " + secret},
		{"json", 400, `bad attributes: {"password":"pa  ss\"\u003cw\u003e\nord\u0026é"}`},
		{"url", 503, "bad value " + url.QueryEscape(secret) + "."},
		{"missing", 400, "nothing []"},
	} {
		r := h.sim(tok, http.MethodPost, p, "application/json", body(c.desc))
		if r.status != c.status {
			t.Fatalf("%s: status %d %s", c.desc, r.status, r.body)
		}
		if got := errorTexts(t, r); len(got) != 1 || got[0] != c.text {
			t.Errorf("%s: texts %q, want %q", c.desc, got, c.text)
		}
	}
	if n := len(h.s.Objects()); n != 0 {
		t.Fatalf("rejected creates stored %d objects", n)
	}

	// A PATCH that only changes the description gets the stored (masked on reads) value quoted.
	id := h.create(tok, p, body("stored"))["id"].(string)
	if got := h.sim(tok, http.MethodGet, p+"/"+id, "", "").json(t)["attributes"].(map[string]any)["password"]; got != Masked {
		t.Fatalf("password not masked on read: %v", got)
	}
	r := h.sim(tok, http.MethodPatch, p+"/"+id, "application/json-patch+json",
		`[{"op":"replace","path":"/description","value":"raw"}]`)
	if r.status != 400 || errorTexts(t, r)[0] != "Invalid password "+secret+" for "+secret {
		t.Fatalf("patch echo: %d %s", r.status, r.body)
	}

	// The admin API takes the same fields and refuses bad ones.
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	if r := h.raw("POST", "/_admin/reject-field", jsonHdr,
		`{"pointer":"/description","value":"admin","message":"no: {echo}","echo":"/name","status":500}`); r.status != 204 {
		t.Fatalf("admin reject: %d %s", r.status, r.body)
	}
	r = h.sim(tok, http.MethodPost, p, "application/json", `{"name":"adm-echo","description":"admin"}`)
	if r.status != 500 || errorTexts(t, r)[0] != "no: adm-echo" {
		t.Fatalf("admin echo: %d %s", r.status, r.body)
	}
	for _, bad := range []string{`{"pointer":"/a","value":1,"status":200}`, `{"pointer":"/a","value":1,"echoForm":"xml"}`} {
		if r := h.raw("POST", "/_admin/reject-field", jsonHdr, bad); r.status != 400 {
			t.Errorf("admin reject %s accepted: %d", bad, r.status)
		}
	}
	h.s.ClearFaults()
	if r := h.sim(tok, http.MethodPost, p, "application/json", body("raw")); r.status != 200 {
		t.Fatalf("after ClearFaults: %d %s", r.status, r.body)
	}
}

// TestRejectionRefusesDelete: a rejection that matches a stored document refuses its DELETE, quoting
// the stored value, and leaves the object in place.
func TestRejectionRefusesDelete(t *testing.T) {
	h := start(t, Options{})
	tok := h.token(testClient, testSecret)
	p := "/v2024/sim-integrations"
	id := h.create(tok, p, `{"name":"D","description":"keep-me","attributes":{"password":"stored-pw-123"}}`)["id"].(string)
	h.s.Reject(Rejection{Pointer: "/description", Value: "keep-me", Status: 500,
		Message: "Cannot delete the integration with attributes {echo}", Echo: "/attributes"})
	r := h.sim(tok, http.MethodDelete, p+"/"+id, "", "")
	if r.status != 500 {
		t.Fatalf("DELETE: status %d %s", r.status, r.body)
	}
	if got := errorTexts(t, r); len(got) != 1 || !strings.Contains(got[0], "stored-pw-123") {
		t.Errorf("texts %q, want the stored password quoted", got)
	}
	if _, ok := h.s.Get(id); !ok {
		t.Fatal("a refused DELETE removed the object")
	}
}
