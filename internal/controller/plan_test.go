package controller

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

func TestComputePlan(t *testing.T) {
	secrets := map[string]PlanSecret{"password": {Value: "hunter2", Secret: "sn", Key: "password", ResourceVersion: "1"}}
	listed := func(items ...identitynow.Integration) func() []identitynow.Integration {
		return func() []identitynow.Integration { return items }
	}
	for _, tc := range []struct {
		name   string
		obj    *simv1alpha1.SimIntegration
		tenant simv1alpha1.TenantSpec
		remote func() []identitynow.Integration
		owner  string
		want   Plan
		// body is a substring of the JSON of the plan (the secret must show as its placeholder)
		body string
	}{{
		name:   "create, the secret shown as where it comes from",
		obj:    syncSim(nil),
		remote: listed(),
		want:   Plan{Action: PlanCreate},
		body:   `"password":"(from Secret sn key password)"`,
	}, {
		name:   "in sync: nothing",
		obj:    syncedSim(t, "id-1", nil),
		remote: listed(remoteHR("id-1", nil)),
		want:   Plan{Action: PlanNone, ID: "id-1"},
	}, {
		name:   "patch: the operations the operator sends",
		obj:    syncedSim(t, "id-1", func(s *simv1alpha1.SimIntegration) { s.Spec.Description = new("Tickets, triaged") }),
		remote: listed(remoteHR("id-1", nil)),
		want: Plan{Action: PlanPatch, ID: "id-1", Paths: []string{"/description"},
			Operations: []identitynow.Operation{{Operation: "replace", Path: "/description", Value: "Tickets, triaged"}}},
	}, {
		name:   "put for updateStrategy Put, the secret shown as where it comes from",
		obj:    syncSim(func(s *simv1alpha1.SimIntegration) { s.Status.ID = "id-1" }),
		tenant: simv1alpha1.TenantSpec{UpdateStrategy: simv1alpha1.UpdateStrategyPut},
		remote: listed(remoteHR("id-1", nil)),
		want:   Plan{Action: PlanPut, ID: "id-1", Paths: []string{"/attributes"}},
		body:   `"password":"(from Secret sn key password)"`,
	}, {
		name:   "a foreign object of the same name: NameConflict",
		obj:    syncSim(nil),
		remote: listed(remoteHR("theirs", nil)),
		want:   Plan{Action: PlanStall, Reason: simv1alpha1.ReasonNameConflict},
	}, {
		name:   "an object another SimIntegration manages: AlreadyManaged",
		obj:    syncSim(func(s *simv1alpha1.SimIntegration) { s.Spec.AdoptionPolicy = simv1alpha1.AdoptionPolicyAdoptByName }),
		remote: listed(remoteHR("theirs", nil)),
		owner:  "team-b/hr",
		want:   Plan{Action: PlanStall, Reason: simv1alpha1.ReasonAlreadyManaged},
	}, {
		name:   "the placeholder of sim-operator-export is refused: InvalidSpec",
		obj:    syncSim(nil),
		remote: listed(),
		want:   Plan{Action: PlanStall, Reason: simv1alpha1.ReasonInvalidSpec},
	}, {
		name:   "a frozen tenant: the differences, nothing sent",
		obj:    syncedSim(t, "id-1", func(s *simv1alpha1.SimIntegration) { s.Spec.Description = new("Tickets, triaged") }),
		tenant: simv1alpha1.TenantSpec{Suspend: true},
		remote: listed(remoteHR("id-1", nil)),
		want:   Plan{Action: PlanNone, ID: "id-1", Paths: []string{"/description"}, Reason: simv1alpha1.ReasonTenantSuspended},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			in := PlanInput{Object: tc.obj, Secrets: secrets, Tenant: tc.tenant, Remote: viewOf(t, tc.remote()...)}
			if strings.Contains(tc.name, "placeholder") {
				in.Secrets = map[string]PlanSecret{"password": {Value: "REPLACE_ME", Secret: "sn", Key: "password"}}
			}
			if tc.owner != "" {
				in.ClaimedBy = func(string) string { return tc.owner }
			}
			got, err := ComputePlan(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(got)
			if strings.Contains(string(raw), "hunter2") {
				t.Fatalf("a plan must never hold a secret value: %s", raw)
			}
			if tc.body != "" && !strings.Contains(string(raw), tc.body) {
				t.Errorf("plan %s lacks %s", raw, tc.body)
			}
			got.Create, got.Put, got.Message = nil, nil, ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
