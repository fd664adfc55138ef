package tenant

import (
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
