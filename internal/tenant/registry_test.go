package tenant

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

func TestSharedBudgetUsesTheStrictestLimit(t *testing.T) {
	var budgets []*identitynow.Budget
	r := NewRegistry(RegistryOptions{NewRemote: func(cfg identitynow.Config) (Remote, error) {
		budgets = append(budgets, cfg.Budget)
		return nil, nil
	}})
	spec := func(requests int32) simv1alpha1.TenantSpec {
		return simv1alpha1.TenantSpec{BaseURL: "https://acme.api.identitynow.com", APIRelease: simv1alpha1.APIReleaseV2024,
			RateLimit: simv1alpha1.RateLimit{Requests: requests, Period: metav1.Duration{Duration: 10 * time.Second}}}
	}
	creds := Credentials{ClientID: "one-client", ClientSecret: "s"}
	limit := func() int {
		n, _ := budgets[len(budgets)-1].Limit()
		return n
	}
	connect := func(key string, requests int32) {
		t.Helper()
		if _, err := r.Connect(key, spec(requests), creds); err != nil {
			t.Fatal(err)
		}
	}

	connect("Tenant/team-a/acme", 100)
	connect("Tenant/team-b/acme", 50)
	if budgets[0] != budgets[1] {
		t.Fatal("two tenants with one client id, token URL and release must share one budget")
	}
	if limit() != 50 {
		t.Errorf("shared budget allows %d per 10s, want the stricter 50", limit())
	}
	connect("Tenant/team-a/acme", 80) // the laxer tenant changes: the stricter one still binds
	if limit() != 50 {
		t.Errorf("after the other tenant changed: %d, want 50", limit())
	}
	r.Forget("Tenant/team-b/acme")
	if limit() != 80 {
		t.Errorf("after the strict tenant went away: %d, want 80", limit())
	}
	connect("Tenant/team-a/acme", 200) // alone, a tenant may raise its own limit
	if limit() != 200 {
		t.Errorf("a tenant alone on its budget: %d, want 200", limit())
	}
}

// closingRemote records Close calls; every other method is unused here.
type closingRemote struct {
	Remote
	budget *identitynow.Budget
	closed bool
}

func (c *closingRemote) Close() { c.closed = true }

func newTestRegistry(remotes *[]*closingRemote) *Registry {
	return NewRegistry(RegistryOptions{NewRemote: func(cfg identitynow.Config) (Remote, error) {
		r := &closingRemote{budget: cfg.Budget}
		*remotes = append(*remotes, r)
		return r, nil
	}})
}

func acmeSpec(requests int32) simv1alpha1.TenantSpec {
	return simv1alpha1.TenantSpec{BaseURL: "https://acme.api.identitynow.com", APIRelease: simv1alpha1.APIReleaseV2024,
		RateLimit: simv1alpha1.RateLimit{Requests: requests, Period: metav1.Duration{Duration: 10 * time.Second}}}
}

// TestNoSharingWithoutTheSecret is the attack of a Tenant in namespace B naming A's token URL and
// client id with a wrong secret: it gets a budget and snapshot of its own, cannot lower A's limit,
// and its connection carries no snapshot until its own credentials are proven.
func TestNoSharingWithoutTheSecret(t *testing.T) {
	var remotes []*closingRemote
	r := newTestRegistry(&remotes)
	a, err := r.Connect("Tenant/team-a/acme", acmeSpec(100), Credentials{ClientID: "acme-client", ClientSecret: "right"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Proven() {
		t.Fatal("a connection is proven before its credentials produced a token")
	}
	if a, err = r.Prove("Tenant/team-a/acme", a); err != nil || !a.Proven() {
		t.Fatalf("Prove: %v", err)
	}
	b, err := r.Connect("Tenant/team-b/acme", acmeSpec(1), Credentials{ClientID: "acme-client", ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Snapshot != nil {
		t.Fatal("an unproven tenant holds a snapshot")
	}
	if _, ok := r.Lookup("Tenant/team-b/acme"); ok {
		t.Fatal("Lookup hands out an unproven connection")
	}
	if remotes[0].budget == remotes[1].budget {
		t.Fatal("a tenant with the wrong secret shares the budget of the right one")
	}
	if n, _ := remotes[0].budget.Limit(); n != 100 {
		t.Fatalf("A's budget allows %d per 10s after B connected, want A's own 100", n)
	}
	if b, err = r.Prove("Tenant/team-b/acme", b); err != nil {
		t.Fatal(err)
	}
	if b.Snapshot == a.Snapshot {
		t.Fatal("different secrets share one snapshot")
	}
}

// TestSameCredentialsShareOnlyOnceProven: a second tenant with the same credentials changes the
// shared limit and joins the snapshot only after Prove.
func TestSameCredentialsShareOnlyOnceProven(t *testing.T) {
	var remotes []*closingRemote
	r := newTestRegistry(&remotes)
	creds := Credentials{ClientID: "acme-client", ClientSecret: "right"}
	a, _ := r.Connect("Tenant/team-a/acme", acmeSpec(100), creds)
	a, _ = r.Prove("Tenant/team-a/acme", a)
	b, _ := r.Connect("Tenant/team-b/acme", acmeSpec(10), creds)
	if n, _ := remotes[0].budget.Limit(); n != 100 {
		t.Fatalf("unproven B set the shared limit to %d", n)
	}
	b, _ = r.Prove("Tenant/team-b/acme", b)
	if n, _ := remotes[0].budget.Limit(); n != 10 || remotes[0].budget != remotes[1].budget {
		t.Fatalf("proven B: shared=%t limit %d, want one budget at the strictest 10", remotes[0].budget == remotes[1].budget, n)
	}
	if a.Snapshot != b.Snapshot {
		t.Fatal("proven tenants with the same credentials and endpoint must share one snapshot")
	}
}

// TestRegistryDropsWhatNoTenantUses: 200 credential updates with long client ids leave one client,
// one budget per API version (SIM v2024, Sources v3, Managed Clusters v2025) and one snapshot;
// replaced clients are closed; Forget leaves nothing.
func TestRegistryDropsWhatNoTenantUses(t *testing.T) {
	var remotes []*closingRemote
	r := newTestRegistry(&remotes)
	const key = "Tenant/team-b/acme"
	for i := range 200 {
		id := fmt.Sprintf("%0250d", i)
		c, err := r.Connect(key, acmeSpec(100), Credentials{ClientID: id, ClientSecret: "s", ResourceVersion: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Prove(key, c); err != nil {
			t.Fatal(err)
		}
	}
	if conns, budgets, snaps := r.Len(); conns != 1 || budgets != 3 || snaps != 1 {
		t.Fatalf("after 200 credential updates: %d connections, %d budgets, %d snapshots; want 1, 3, 1", conns, budgets, snaps)
	}
	for i, rem := range remotes[:len(remotes)-1] {
		if !rem.closed {
			t.Fatalf("client %d was replaced but not closed", i)
		}
	}
	r.Forget(key)
	if conns, budgets, snaps := r.Len(); conns+budgets+snaps != 0 {
		t.Fatalf("after Forget: %d connections, %d budgets, %d snapshots; want none", conns, budgets, snaps)
	}
}

// TestLookupBudgetsPerAPIVersion: the lookups count on the budgets of their own API versions, shared
// with the SIM budget only when the versions are the same, and proven like it.
func TestLookupBudgetsPerAPIVersion(t *testing.T) {
	for _, tc := range []struct {
		release              simv1alpha1.APIRelease
		budgets              int
		sourcesSIM, clustSIM bool
	}{
		{simv1alpha1.APIReleaseV2024, 3, false, false},
		{simv1alpha1.APIReleaseV2025, 2, false, true},
		{simv1alpha1.APIReleaseV1, 1, true, true},
	} {
		var cfgs []identitynow.Config
		r := NewRegistry(RegistryOptions{NewRemote: func(cfg identitynow.Config) (Remote, error) {
			cfgs = append(cfgs, cfg)
			return &closingRemote{budget: cfg.Budget}, nil
		}})
		spec := acmeSpec(100)
		spec.APIRelease = tc.release
		c, err := r.Connect("Tenant/team-a/acme", spec, Credentials{ClientID: "id", ClientSecret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := cfgs[0]
		if _, budgets, _ := r.Len(); budgets != tc.budgets {
			t.Errorf("%s: %d budgets, want %d", tc.release, budgets, tc.budgets)
		}
		if cfg.SourcesBudget == nil || cfg.ClustersBudget == nil ||
			(cfg.SourcesBudget == cfg.Budget) != tc.sourcesSIM || (cfg.ClustersBudget == cfg.Budget) != tc.clustSIM {
			t.Errorf("%s: sources budget shared with SIM %t, clusters %t; want %t, %t", tc.release,
				cfg.SourcesBudget == cfg.Budget, cfg.ClustersBudget == cfg.Budget, tc.sourcesSIM, tc.clustSIM)
		}
		if n, _ := cfg.SourcesBudget.Limit(); n != 100 {
			t.Errorf("%s: the sources budget has the tenant's limit, got %d", tc.release, n)
		}
		proven, err := r.Prove("Tenant/team-a/acme", c)
		if err != nil || proven.Refs == nil || proven.Snapshot == nil {
			t.Fatalf("%s: a proven connection carries the references cache: %+v %v", tc.release, proven, err)
		}
		r.Forget("Tenant/team-a/acme")
		if _, budgets, _ := r.Len(); budgets != 0 {
			t.Errorf("%s: %d budgets after Forget", tc.release, budgets)
		}
	}
}

func TestValidClientID(t *testing.T) {
	for id, ok := range map[string]bool{
		"2c9180835d191a86015d28455b4a2329": true,
		"a":                                true,
		"":                                 false,
		strings.Repeat("x", 257):           false,
		strings.Repeat("x", 256):           true,
		"with space":                       false,
		"tab\tid":                          false,
		"newline\n":                        false,
		"ünïcode":                          false,
	} {
		if err := ValidClientID(id); (err == nil) != ok {
			t.Errorf("ValidClientID(%q) = %v, want ok=%t", id, err, ok)
		}
	}
}

// listingRemote answers ListEach with one object naming the remote that listed it.
type listingRemote struct {
	Remote
	name string
}

func (l *listingRemote) ListEach(_ context.Context, each func(identitynow.Integration)) error {
	each(identitynow.Integration{ID: l.name, Name: l.name})
	return nil
}

func (l *listingRemote) Close() {}

// TestSharedSnapshotListsThroughAUserAndGoesWithTheLast: a snapshot shared by two tenants lists at the
// shorter of their intervals through one of their clients; when that tenant leaves, it lists through
// the other's; when the last leaves, it is gone.
func TestSharedSnapshotListsThroughAUserAndGoesWithTheLast(t *testing.T) {
	n := 0
	r := NewRegistry(RegistryOptions{NewRemote: func(identitynow.Config) (Remote, error) {
		n++
		return &listingRemote{name: fmt.Sprintf("client-%d", n)}, nil
	}})
	creds := Credentials{ClientID: "one-client", ClientSecret: "s"}
	join := func(key string, poll time.Duration) *Connection {
		t.Helper()
		spec := acmeSpec(100)
		spec.PollInterval = metav1.Duration{Duration: poll}
		c, err := r.Connect(key, spec, creds)
		if err != nil {
			t.Fatal(err)
		}
		if c, err = r.Prove(key, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := join("Tenant/team-a/acme", 10*time.Minute)
	b := join("Tenant/team-b/acme", time.Minute)
	if a.Snapshot != b.Snapshot {
		t.Fatal("two proven tenants with one endpoint and credentials share one snapshot")
	}
	if a.Snapshot.interval != time.Minute {
		t.Errorf("interval = %s, want the shorter poll interval (1m)", a.Snapshot.interval)
	}
	r.Forget("Tenant/team-b/acme")
	a.Snapshot.Expire()
	v, err := a.Snapshot.Get(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.ByID("client-1"); !ok || a.Snapshot.interval != 10*time.Minute {
		t.Errorf("after the shorter-polling tenant left: listed through %v, interval %s; want team-a's client and 10m", v, a.Snapshot.interval)
	}
	r.Forget("Tenant/team-a/acme")
	if _, _, snaps := r.Len(); snaps != 0 {
		t.Errorf("%d snapshots after the last tenant left, want 0", snaps)
	}
}
