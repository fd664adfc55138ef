package identitynow

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

func collect(t *testing.T, list func(each func(Named)) error) []Named {
	t.Helper()
	var out []Named
	if err := list(func(n Named) { out = append(out, n) }); err != nil {
		t.Fatalf("list: %v", err)
	}
	return out
}

func lookups(fk *fake.Server, api string) []fake.LoggedRequest {
	return fk.Requests(fake.ByAPI(api))
}

func filterOf(t *testing.T, r fake.LoggedRequest) string {
	t.Helper()
	q, err := url.ParseQuery(r.Query)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("limit") != "250" {
		t.Errorf("limit %q, want 250", q.Get("limit"))
	}
	return q.Get("filters")
}

func TestLookupsFilterByNameOnTheirOwnRoutes(t *testing.T) {
	for _, tc := range []struct {
		release                Release
		sourcesPath, clustPath string
	}{
		{ReleaseV2024, "/v3/sources", "/v2025/managed-clusters"},
		{ReleaseV2026, "/v3/sources", "/v2025/managed-clusters"},
		{ReleaseV1, "/sources/v1", "/managed-clusters/v1"},
	} {
		t.Run(string(tc.release), func(t *testing.T) {
			e := newEnv(t, fake.Options{})
			ad := e.fk.AddSource(fake.Source{Name: "Active Directory"})
			e.fk.AddSource(fake.Source{Name: "Workday"})
			e.fk.AddSource(fake.Source{Name: `HR "Core"`})
			va := e.fk.AddManagedCluster(fake.ManagedCluster{Name: "Production VA"})
			e.fk.AddManagedCluster(fake.ManagedCluster{Name: "Test VA"})
			c := e.client(func(c *Config) { c.Release = tc.release })

			got := collect(t, func(each func(Named)) error {
				return c.ListSources(t.Context(), []string{"active directory"}, each)
			})
			if len(got) != 1 || got[0] != (Named{ID: ad, Name: "Active Directory"}) {
				t.Errorf("one name: %v", got)
			}
			got = collect(t, func(each func(Named)) error {
				return c.ListSources(t.Context(), []string{"Workday", `HR "Core"`, "workday", "Missing"}, each)
			})
			if n := names(got); !slices.Equal(n, []string{"Workday", `HR "Core"`}) && !slices.Equal(n, []string{`HR "Core"`, "Workday"}) {
				t.Errorf("several names: %v", n)
			}
			reqs := lookups(e.fk, fake.APISources)
			if len(reqs) != 2 || reqs[0].Path != tc.sourcesPath || reqs[0].Header.Get("Authorization") == "" {
				t.Fatalf("source requests %+v", reqs)
			}
			if f := filterOf(t, reqs[0]); f != `name eq "active directory"` {
				t.Errorf("filter %q", f)
			}
			if f := filterOf(t, reqs[1]); f != `name in ("HR \"Core\"","Missing","Workday")` {
				t.Errorf("filter %q: the names once each (without case), sorted, escaped", f)
			}

			got = collect(t, func(each func(Named)) error {
				return c.ListManagedClusters(t.Context(), []string{"Production VA", "test va"}, each)
			})
			if len(got) != 2 || !slices.Contains(got, Named{ID: va, Name: "Production VA"}) {
				t.Errorf("clusters: %v", got)
			}
			creqs := lookups(e.fk, fake.APIManagedClusters)
			if len(creqs) != 1 || creqs[0].Path != tc.clustPath {
				t.Fatalf("cluster requests %+v", creqs)
			}
			if f := filterOf(t, creqs[0]); f != `name eq "Production VA" or name eq "test va"` {
				t.Errorf("cluster filter %q: eq joined with or, the only operator the API takes", f)
			}
		})
	}
}

func names(ns []Named) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

func TestLookupPagesAndSplitsLongFilters(t *testing.T) {
	e := newEnv(t, fake.Options{})
	for range 260 {
		e.fk.AddSource(fake.Source{Name: "Shared"})
	}
	c := e.client(nil)
	if got := collect(t, func(each func(Named)) error { return c.ListSources(t.Context(), []string{"Shared"}, each) }); len(got) != 260 {
		t.Errorf("got %d sources over the pages, want 260", len(got))
	}
	reqs := lookups(e.fk, fake.APISources)
	if len(reqs) != 2 || !strings.Contains(reqs[1].Query, "offset=250") {
		t.Errorf("want 2 pages, the second at offset 250: %+v", reqs)
	}

	e.fk.ResetLog()
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("Source number %03d with a long name", i))
	}
	if err := c.ListSources(t.Context(), many, func(Named) {}); err != nil {
		t.Fatal(err)
	}
	reqs = lookups(e.fk, fake.APISources)
	if len(reqs) < 3 {
		t.Errorf("%d requests for 300 long names: the filter must be split", len(reqs))
	}
	asked := 0
	for _, r := range reqs {
		if len(r.Query) > maxFilterBytes+100 {
			t.Errorf("a query of %d bytes", len(r.Query))
		}
		asked += strings.Count(filterOf(t, r), `"`) / 2
	}
	if asked != 300 {
		t.Errorf("%d names asked for over the requests, want each of the 300 once", asked)
	}
}

func TestLookupIsBounded(t *testing.T) {
	e := newEnv(t, fake.Options{})
	for range MaxLookupResults + 1 {
		e.fk.AddSource(fake.Source{Name: "Everywhere"})
	}
	e.fk.AddSource(fake.Source{ID: strings.Repeat("x", maxNamedField+1), Name: "Long id"})
	c := e.client(nil)
	n := 0
	err := c.ListSources(t.Context(), []string{"Everywhere"}, func(Named) { n++ })
	if KindOf(err) != KindServer || !strings.Contains(err.Error(), "more than 10000") {
		t.Errorf("a lookup matching %d objects: %v, want an error naming the bound", MaxLookupResults+1, err)
	}
	got := collect(t, func(each func(Named)) error { return c.ListSources(t.Context(), []string{"Long id"}, each) })
	if len(got) != 0 {
		t.Errorf("an id longer than %d bytes is kept: %d", maxNamedField, len(got))
	}
}

func TestLookupsCountOnTheirOwnBudgets(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.fk.AddSource(fake.Source{Name: "AD"})
	clock := time.Now
	sim, sources, clusters := NewBudget(1, time.Hour, clock), NewBudget(1, time.Hour, clock), NewBudget(1, time.Hour, clock)
	c := e.client(func(c *Config) { c.Budget, c.SourcesBudget, c.ClustersBudget = sim, sources, clusters })
	if _, err := c.List(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.ListSources(t.Context(), []string{"AD"}, func(Named) {}); err != nil {
		t.Errorf("the sources lookup must not take the SIM budget's slot: %v", err)
	}
	if err := c.ListManagedClusters(t.Context(), []string{"VA"}, func(Named) {}); err != nil {
		t.Errorf("the clusters lookup has its own budget: %v", err)
	}
	err := c.ListSources(t.Context(), []string{"AD"}, func(Named) {})
	if KindOf(err) != KindRateLimited {
		t.Errorf("a second sources lookup within the hour: %v, want KindRateLimited", err)
	}

	if got := len(lookups(e.fk, fake.APISources)); got != 1 {
		t.Errorf("%d source requests sent, want 1 (the refused one is never sent)", got)
	}

	one := NewBudget(1, time.Hour, clock) // no lookup budgets: the lookups count on Budget
	shared := e.client(func(c *Config) { c.Budget = one })
	if _, err := shared.List(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := shared.ListSources(t.Context(), []string{"AD"}, func(Named) {}); KindOf(err) != KindRateLimited {
		t.Errorf("without SourcesBudget the lookup takes Budget's slots: %v", err)
	}
}

func TestLookupErrors(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.fk.SetScopes(testClientID, []string{"idn:sources:read"})
	c := e.client(nil)
	err := c.ListManagedClusters(t.Context(), []string{"VA"}, func(Named) {})
	if KindOf(err) != KindForbidden {
		t.Errorf("without idn:remote-client:read: %v, want KindForbidden", err)
	}
	e.fk.FailNext(1, fake.Match{PathContains: "/v3/sources"}, http.StatusTooManyRequests, 7*time.Second)
	err = c.ListSources(t.Context(), []string{"AD"}, func(Named) {})
	if KindOf(err) != KindRateLimited || RetryAfter(err) != 7*time.Second {
		t.Errorf("429: %v (retry after %s)", err, RetryAfter(err))
	}
}

func TestLookupsForExport(t *testing.T) {
	e := newEnv(t, fake.Options{})
	ad := e.fk.AddSource(fake.Source{Name: "Active Directory"})
	wd := e.fk.AddSource(fake.Source{Name: "Workday"})
	e.fk.AddSource(fake.Source{Name: "Other"})
	for i := range 260 {
		e.fk.AddManagedCluster(fake.ManagedCluster{Name: fmt.Sprint("VA ", i)})
	}
	c := e.client(nil)
	got := collect(t, func(each func(Named)) error { return c.ListSourcesByID(t.Context(), []string{wd, ad, "gone"}, each) })
	if len(got) != 2 || !slices.Contains(got, Named{ID: ad, Name: "Active Directory"}) {
		t.Errorf("by id: %v", got)
	}
	if f := filterOf(t, lookups(e.fk, fake.APISources)[0]); !strings.HasPrefix(f, "id in (") {
		t.Errorf("filter %q", f)
	}
	all := collect(t, func(each func(Named)) error { return c.ListAllManagedClusters(t.Context(), each) })
	if len(all) != 260 {
		t.Errorf("every cluster over the pages: %d", len(all))
	}
	for _, r := range lookups(e.fk, fake.APIManagedClusters) {
		if strings.Contains(r.Query, "filters") {
			t.Errorf("the list of every cluster sends no filter: %s", r.Query)
		}
	}
}
