package fake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// lookup sends an authenticated GET, without the experimental header (the lookups need none).
func (h *harness) lookup(tok, path string, q url.Values) resp {
	h.t.Helper()
	if q != nil {
		path += "?" + q.Encode()
	}
	return h.raw(http.MethodGet, path, map[string]string{"Authorization": "Bearer " + tok}, "")
}

func (r resp) list(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil || out == nil {
		t.Fatalf("body %q is not a JSON array: %v", r.body, err)
	}
	return out
}

func names(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		out = append(out, it["name"].(string))
	}
	return out
}

func seedReferences(s *Server) (adID, vaID string) {
	vaID = s.AddManagedCluster(ManagedCluster{Name: "Production VA Cluster", Operational: true})
	s.AddManagedCluster(ManagedCluster{Name: "Test VA", Status: "WARNING"})
	adID = s.AddSource(Source{Name: "Active Directory", Cluster: vaID})
	s.AddSource(Source{Name: "active directory EMEA", Type: "OpenLDAP - Direct", ConnectorName: "OpenLDAP"})
	s.AddSource(Source{Name: "Workday", Type: "Workday", ConnectorName: "Workday"})
	s.AddSource(Source{Name: `HR "Core" \ #1 & 100%`})
	s.AddSource(Source{Name: "IdentityNow", IdentityNow: true})
	return adID, vaID
}

func TestLookupRoutesInEveryRelease(t *testing.T) {
	h := start(t, Options{})
	adID, vaID := seedReferences(h.s)
	tok := h.token(testClient, testSecret)
	for _, tc := range []struct{ path, id, release string }{
		{"/v3/sources", adID, "v3"}, {"/beta/sources", adID, "beta"}, {"/v2024/sources", adID, "v2024"},
		{"/v2025/sources", adID, "v2025"}, {"/v2026/sources", adID, "v2026"}, {"/sources/v1", adID, "v1"},
		{"/v3/managed-clusters", vaID, "v3"}, {"/beta/managed-clusters", vaID, "beta"},
		{"/v2024/managed-clusters", vaID, "v2024"}, {"/v2025/managed-clusters", vaID, "v2025"},
		{"/v2026/managed-clusters", vaID, "v2026"}, {"/managed-clusters/v1", vaID, "v1"},
	} {
		r := h.lookup(tok, tc.path, nil)
		if r.status != http.StatusOK || len(r.list(t)) == 0 {
			t.Errorf("GET %s: %d %s", tc.path, r.status, r.body)
		}
		one := h.lookup(tok, tc.path+"/"+tc.id, nil)
		if one.status != http.StatusOK || one.json(t)["id"] != tc.id {
			t.Errorf("GET %s/{id}: %d %s", tc.path, one.status, one.body)
		}
		if r := h.lookup(tok, tc.path+"/nope", nil); r.status != http.StatusNotFound || len(errorTexts(t, r)) != 1 {
			t.Errorf("GET %s/nope: %d, want 404 ErrorResponseDto", tc.path, r.status)
		}
		last := h.s.Requests()[len(h.s.Requests())-1]
		if last.Release != tc.release || last.API == APISIM || last.API == "" {
			t.Errorf("%s logged as release %q api %q", tc.path, last.Release, last.API)
		}
	}
	if n := len(h.s.Requests(SIMOnly())); n != 0 {
		t.Errorf("SIMOnly counts %d lookups", n)
	}
	for _, p := range []string{"/v3/sim-integrations", "/v1/sources", "/sources/v2", "/v3/sources/a/b"} {
		if r := h.lookup(tok, p, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
	if r := h.raw(http.MethodGet, "/v3/sources", nil, ""); r.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", r.status)
	}
	if r := h.raw(http.MethodDelete, "/v3/sources/"+adID, map[string]string{"Authorization": "Bearer " + tok}, ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d, want 405 (the fake is read-only)", r.status)
	}
}

func TestSourceBodiesCarryWhatTheSDKRequires(t *testing.T) {
	h := start(t, Options{})
	_, vaID := seedReferences(h.s)
	tok := h.token(testClient, testSecret)
	src := h.lookup(tok, "/v3/sources", url.Values{"filters": {`name eq "Active Directory"`}}).list(t)
	if len(src) != 1 {
		t.Fatalf("got %d sources", len(src))
	}
	for _, k := range []string{"name", "owner", "connector"} {
		if src[0][k] == nil {
			t.Errorf("source lacks %s: %v", k, src[0])
		}
	}
	if c, _ := src[0]["cluster"].(map[string]any); c["id"] != vaID || c["name"] != "Production VA Cluster" || c["type"] != "CLUSTER" {
		t.Errorf("cluster reference %v, want the managed cluster's id and name", src[0]["cluster"])
	}
	cl := h.lookup(tok, "/v2025/managed-clusters", url.Values{"filters": {`name eq "production va cluster"`}}).list(t)
	if len(cl) != 1 || cl[0]["id"] != vaID {
		t.Fatalf("clusters %v", cl)
	}
	for _, k := range []string{"id", "clientType", "ccgVersion"} {
		if cl[0][k] == nil {
			t.Errorf("cluster lacks %s: %v", k, cl[0])
		}
	}
}

func TestLookupFilters(t *testing.T) {
	h := start(t, Options{})
	seedReferences(h.s)
	tok := h.token(testClient, testSecret)
	for _, tc := range []struct {
		path, filter string
		want         []string // names, in order; nil: 400
	}{
		{"/v3/sources", `name eq "active DIRECTORY"`, []string{"Active Directory"}},
		{"/v3/sources", `name in ("workday","ACTIVE DIRECTORY")`, []string{"Active Directory", "Workday"}},
		{"/v3/sources", `name sw "active"`, []string{"Active Directory", "active directory EMEA"}},
		{"/v3/sources", `name co "DIRECTORY" and not type eq "OpenLDAP - Direct"`, []string{"Active Directory"}},
		{"/v3/sources", `name eq "Workday" or (name co "emea" and connectorName eq "openldap")`, []string{"active directory EMEA", "Workday"}},
		{"/v3/sources", `name eq "HR \"Core\" \\ #1 & 100%"`, []string{`HR "Core" \ #1 & 100%`}},
		{"/v3/sources", `name eq "IdentityNow"`, []string{}}, // hidden without includeIDNSource
		{"/v3/sources", `name ne "x" and name gt "v"`, []string{"Workday"}},
		{"/v3/sources", `name EQ "Workday"`, nil},     // operators are lowercase only
		{"/v3/sources", `name le "Workday"`, nil},     // not an operator of name
		{"/v3/sources", `owner.name eq "x"`, nil},     // outside the fake's subset
		{"/v3/sources", `name eq "unterminated`, nil}, // syntax
		{"/v3/sources", `name eq Workday`, nil},       // strings are quoted
		{"/v3/sources", `(name eq "Workday"`, nil},    // syntax
		{"/v3/sources", `name in "Workday"`, nil},     // in takes a list
		{"/v2025/managed-clusters", `name eq "TEST va"`, []string{"Test VA"}},
		{"/v2025/managed-clusters", `name eq "Test VA" or name eq "Production VA Cluster"`, []string{"Production VA Cluster", "Test VA"}},
		{"/v2025/managed-clusters", `status eq "warning"`, []string{"Test VA"}},
		{"/v2025/managed-clusters", `operational eq true`, []string{"Production VA Cluster"}},
		{"/v2025/managed-clusters", `name in ("Test VA")`, nil}, // managed clusters take eq only
		{"/v2025/managed-clusters", `name co "VA"`, nil},
		{"/v2025/managed-clusters", `id eq "x"`, nil},
	} {
		r := h.lookup(tok, tc.path, url.Values{"filters": {tc.filter}})
		if tc.want == nil {
			if r.status != http.StatusBadRequest || len(errorTexts(t, r)) == 0 {
				t.Errorf("%s %s: %d %s, want 400", tc.path, tc.filter, r.status, r.body)
			}
			continue
		}
		if r.status != http.StatusOK {
			t.Errorf("%s %s: %d %s", tc.path, tc.filter, r.status, r.body)
			continue
		}
		got := names(r.list(t))
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tc.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: %v, want %v", tc.path, tc.filter, got, want)
		}
	}
	all := h.lookup(tok, "/v3/sources", url.Values{"includeIDNSource": {"true"}, "filters": {`name eq "identitynow"`}})
	if got := names(all.list(t)); !slices.Equal(got, []string{"IdentityNow"}) {
		t.Errorf("includeIDNSource=true: %v", got)
	}
}

func TestLookupPagingAndSorting(t *testing.T) {
	h := start(t, Options{})
	for i := range 260 {
		h.s.AddSource(Source{Name: "src-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)})
	}
	tok := h.token(testClient, testSecret)
	first := h.lookup(tok, "/v3/sources", url.Values{"count": {"true"}, "filters": {`name sw "src-"`}})
	if n := len(first.list(t)); n != 250 || first.header.Get("X-Total-Count") != "260" {
		t.Errorf("first page: %d items, X-Total-Count %q; want 250 and 260", n, first.header.Get("X-Total-Count"))
	}
	rest := h.lookup(tok, "/v3/sources", url.Values{"offset": {"250"}, "limit": {"250"}})
	if n := len(rest.list(t)); n != 10 || rest.header.Get("X-Total-Count") != "" {
		t.Errorf("second page: %d items, X-Total-Count %q; want 10 and none without count=true", n, rest.header.Get("X-Total-Count"))
	}
	if r := h.lookup(tok, "/v3/sources", url.Values{"offset": {"900"}}); r.status != 200 || string(r.body) != "[]" {
		t.Errorf("past the end: %d %s, want []", r.status, r.body)
	}
	for _, bad := range []url.Values{{"limit": {"251"}}, {"limit": {"-1"}}, {"offset": {"x"}}, {"sorters": {"owner"}}} {
		if r := h.lookup(tok, "/v3/sources", bad); r.status != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", bad, r.status)
		}
	}
	sorted := names(h.lookup(tok, "/v3/sources", url.Values{"sorters": {"-name"}, "limit": {"3"}}).list(t))
	if !slices.Equal(sorted, []string{"src-z" + strings.Repeat("x", 9), "src-z" + strings.Repeat("x", 8), "src-z" + strings.Repeat("x", 7)}) {
		t.Errorf("sorters=-name: %v", sorted)
	}
}

func TestLookupScopes(t *testing.T) {
	h := start(t, Options{})
	seedReferences(h.s)
	tok := h.token(testClient, testSecret)
	h.s.SetScopes(testClient, []string{"idn:sources:read"})
	if r := h.lookup(tok, "/v3/sources", nil); r.status != http.StatusOK {
		t.Errorf("sources with idn:sources:read: %d", r.status)
	}
	if r := h.lookup(tok, "/v2025/managed-clusters", nil); r.status != http.StatusForbidden || len(errorTexts(t, r)) != 1 {
		t.Errorf("clusters without idn:remote-client:read: %d %s, want 403 ErrorResponseDto", r.status, r.body)
	}
	h.s.SetScopes(testClient, nil)
	if r := h.lookup(tok, "/v2025/managed-clusters", nil); r.status != http.StatusOK {
		t.Errorf("after SetScopes(nil): %d", r.status)
	}
}

func TestLookupRateLimitPerAPIVersion(t *testing.T) {
	h := start(t, Options{RateLimit: RateLimit{Requests: 2, Period: 10 * time.Second, Escalation: EscalationNone}})
	tok := h.token(testClient, testSecret)
	for range 2 {
		if r := h.lookup(tok, "/v3/sources", nil); r.status != http.StatusOK {
			t.Fatalf("v3: %d", r.status)
		}
	}
	if r := h.lookup(tok, "/v3/sources", nil); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("third v3 request: %d, want 429 with Retry-After", r.status)
	}
	if r := h.lookup(tok, "/v3/managed-clusters", nil); r.status != http.StatusTooManyRequests {
		t.Errorf("v3 managed clusters share v3's limit: %d", r.status)
	}
	if r := h.lookup(tok, "/v2025/managed-clusters", nil); r.status != http.StatusOK {
		t.Errorf("v2025 has a limit of its own: %d", r.status)
	}
	if r := h.sim(tok, http.MethodGet, "/v2025/sim-integrations", "", ""); r.status != http.StatusOK {
		t.Errorf("the v2025 SIM list shares v2025's limit (1 of 2 used): %d", r.status)
	}
	if r := h.sim(tok, http.MethodGet, "/v2025/sim-integrations", "", ""); r.status != http.StatusTooManyRequests {
		t.Errorf("third v2025 request (lookup and SIM together): %d, want 429", r.status)
	}
}

func TestLookupAdminAPI(t *testing.T) {
	h := start(t, Options{})
	post := func(path, body string) string {
		r := h.raw(http.MethodPost, path, nil, body)
		if r.status != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	va := post("/_admin/managed-clusters", `{"name":"VA"}`)
	ad := post("/_admin/sources", `{"id":"ad-1","name":"AD","cluster":"`+va+`"}`)
	if ad != "ad-1" {
		t.Errorf("id %q, want the one given", ad)
	}
	if r := h.raw(http.MethodPatch, "/_admin/sources/ad-1", nil, `{"name":"AD (old)"}`); r.status != http.StatusNoContent {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	if got := h.s.Sources(); len(got) != 1 || got[0].Name != "AD (old)" || got[0].Cluster != va || got[0].ID != "ad-1" {
		t.Errorf("after the rename: %+v", got)
	}
	if r := h.raw(http.MethodPut, "/_admin/scopes/"+testClient, nil, `["idn:remote-client:read"]`); r.status != http.StatusNoContent {
		t.Fatalf("scopes: %d", r.status)
	}
	tok := h.token(testClient, testSecret)
	if r := h.lookup(tok, "/v3/sources", nil); r.status != http.StatusForbidden {
		t.Errorf("sources without idn:sources:read: %d", r.status)
	}
	if r := h.raw(http.MethodDelete, "/_admin/sources/ad-1", nil, ""); r.status != http.StatusNoContent || len(h.s.Sources()) != 0 {
		t.Errorf("delete: %d, %d left", r.status, len(h.s.Sources()))
	}
	if r := h.raw(http.MethodDelete, "/_admin/managed-clusters/"+va, nil, ""); r.status != http.StatusNoContent || len(h.s.ManagedClusters()) != 0 {
		t.Errorf("delete cluster: %d", r.status)
	}
	if r := h.raw(http.MethodDelete, "/_admin/sources/ad-1", nil, ""); r.status != http.StatusNotFound {
		t.Errorf("delete twice: %d", r.status)
	}
}
