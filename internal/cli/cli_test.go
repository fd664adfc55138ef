package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

const simDoc = `apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: %s}
spec: {tenantRef: {name: acme}}
`

func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", strings.ReplaceAll(simDoc, "%s", "a")+"---\n"+strings.ReplaceAll(simDoc, "%s", "b")+"---\n")
	write("notes.txt", "not a manifest")
	write("sub/c.json", `{"apiVersion":"v1","kind":"List","items":[`+
		`{"apiVersion":"sim.identitynow.io/v1alpha1","kind":"SimIntegration","metadata":{"name":"c"}}]}`)
	names := func(ms []manifest) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.obj.GetName())
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		paths     []string
		recursive bool
		stdin     string
		want      []string
	}{
		{"a directory: its manifests only", []string{dir}, false, "", []string{"a", "b"}},
		{"-R: and its subdirectories, lists unpacked", []string{dir}, true, "", []string{"a", "b", "c"}},
		{"a file", []string{filepath.Join(dir, "sub", "c.json")}, false, "", []string{"c"}},
		{"standard input", []string{"-"}, false, strings.ReplaceAll(simDoc, "%s", "d"), []string{"d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := readManifests(tc.paths, tc.recursive, strings.NewReader(tc.stdin))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, names(ms)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if _, err := readManifests(nil, false, nil); err == nil {
		t.Error("no -f: no error")
	}
	write("bad.yaml", "kind: SimIntegration\n")
	if _, err := readManifests([]string{filepath.Join(dir, "bad.yaml")}, false, nil); err == nil ||
		!strings.Contains(err.Error(), "apiVersion and kind") {
		t.Errorf("an object without apiVersion: %v", err)
	}
}

func TestParseTenantRef(t *testing.T) {
	for in, want := range map[string]tenantRef{
		"acme":                      {simv1alpha1.TenantKindTenant, "acme"},
		"tenant/acme":               {simv1alpha1.TenantKindTenant, "acme"},
		"ClusterTenant/acme-shared": {simv1alpha1.TenantKindClusterTenant, "acme-shared"},
		"clustertenants/x":          {simv1alpha1.TenantKindClusterTenant, "x"},
	} {
		got, err := parseTenantRef(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"secret/acme", "tenant/"} {
		if _, err := parseTenantRef(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	ref := tenantRef{simv1alpha1.TenantKindTenant, "acme"}
	if !ref.refersTo(simv1alpha1.TenantReference{Name: "acme"}, "iam", "iam") ||
		ref.refersTo(simv1alpha1.TenantReference{Name: "acme"}, "other", "iam") ||
		ref.refersTo(simv1alpha1.TenantReference{Kind: simv1alpha1.TenantKindClusterTenant, Name: "acme"}, "iam", "iam") {
		t.Error("refersTo: a Tenant serves its own namespace, and only under its own kind")
	}
}

func TestPlanRequestsAndSummary(t *testing.T) {
	ops := []identitynow.Operation{{Operation: "replace", Path: "/description", Value: "new"}}
	rule := []identitynow.Operation{{Operation: "replace", Path: "/beforeProvisioningRule", Value: map[string]any{"id": "r2"}}}
	for _, tc := range []struct {
		name string
		spec simv1alpha1.TenantSpec
		plan controller.Plan
		want []string
	}{
		{"create on v2024", simv1alpha1.TenantSpec{BaseURL: "https://a.example"},
			controller.Plan{Action: controller.PlanCreate, Create: &identitynow.Details{Name: "n"}},
			[]string{`POST /v2024/sim-integrations {"name":"n"}`}},
		{"patch and rule on v1, array format, a base path", simv1alpha1.TenantSpec{BaseURL: "https://a.example/api/",
			APIRelease: simv1alpha1.APIReleaseV1, PatchFormat: simv1alpha1.PatchFormatArray},
			controller.Plan{Action: controller.PlanPatch, ID: "x", Operations: ops, RuleOperations: rule},
			[]string{`PATCH /api/sim-integrations/v1/x [{"op":"replace","path":"/description","value":"new"}]`,
				`PATCH /api/sim-integrations/v1/x/beforeProvisioningRule [{"op":"replace","path":"/beforeProvisioningRule","value":{"id":"r2"}}]`}},
		{"put on v2025", simv1alpha1.TenantSpec{BaseURL: "https://a.example", APIRelease: simv1alpha1.APIReleaseV2025},
			controller.Plan{Action: controller.PlanPut, ID: "x", Put: &identitynow.Details{Name: "n"}},
			[]string{`PUT /v2025/sim-integrations/x {"name":"n"}`}},
		{"patch in the Operations format", simv1alpha1.TenantSpec{BaseURL: "https://a.example"},
			controller.Plan{Action: controller.PlanPatch, ID: "x", Operations: ops},
			[]string{`PATCH /v2024/sim-integrations/x {"operations":[{"op":"replace","path":"/description","value":"new"}]}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := diffItem{tenantSpec: tc.spec}
			it.setPlan(tc.plan)
			var got []string
			for _, r := range it.Requests {
				got = append(got, r.Method+" "+r.Path+" "+string(r.Body))
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}

	rep := &diffReport{}
	rep.add(diffItem{Action: actionNone})
	if rep.Differences {
		t.Error("nothing to send is no difference")
	}
	rep.add(diffItem{Action: actionNone, Reason: simv1alpha1.ReasonSuspended})
	rep.add(diffItem{Action: actionNone, Reason: simv1alpha1.ReasonObserved, ID: "x", Paths: []string{"/description"}})
	if rep.Differences {
		t.Error("a suspended object, or an observer's drift, is no difference: nothing will be sent")
	}
	rep.add(diffItem{Action: actionNone, Reason: simv1alpha1.ReasonTenantSuspended, ID: "x", Paths: []string{"/description"}})
	if !rep.Differences || rep.Summary.Held != 1 {
		t.Errorf("a change a frozen tenant holds back is a difference: %+v", rep.Summary)
	}
	rep.add(diffItem{Action: actionStall, Reason: simv1alpha1.ReasonNameConflict})
	rep.add(diffItem{Action: actionError, Error: "boom"})
	want := diffSummary{NoChanges: 3, Held: 1, Stalled: 1, Errors: 1}
	if rep.Summary != want {
		t.Errorf("summary %+v, want %+v", rep.Summary, want)
	}
}

func TestRenderPlan(t *testing.T) {
	rep := &diffReport{}
	create := diffItem{Kind: "SimIntegration", Namespace: "iam", Name: "sn", RemoteName: "ServiceNow SIM", Tenant: "Tenant/acme",
		tenantSpec: simv1alpha1.TenantSpec{BaseURL: "https://a.example"}}
	create.setPlan(controller.Plan{Action: controller.PlanCreate, Create: &identitynow.Details{Name: "ServiceNow SIM",
		Attributes: map[string]any{"password": "(from Secret sn key password)"}}})
	patch := diffItem{Kind: "SimIntegration", Namespace: "iam", Name: "hr", tenantSpec: simv1alpha1.TenantSpec{BaseURL: "https://a.example"}}
	patch.setPlan(controller.Plan{Action: controller.PlanPatch, ID: "id1", Paths: []string{"/attributes", "/description"},
		Operations: []identitynow.Operation{{Operation: "replace", Path: "/description", Value: "x"}, {Operation: "remove", Path: "/attributes/uid"}}})
	rep.add(create)
	rep.add(patch)
	var b bytes.Buffer
	if err := renderPlan(&b, rep, plainPalette); err != nil {
		t.Fatal(err)
	}
	want := `+ SimIntegration iam/sn will be created as "ServiceNow SIM" in Tenant/acme
    POST /v2024/sim-integrations
    {
      "name": "ServiceNow SIM",
      "attributes": {
        "password": "(from Secret sn key password)"
      }
    }

~ SimIntegration iam/hr will be updated (remote id1) at /attributes, /description
    PATCH /v2024/sim-integrations/id1
      replace /description = "x"
      remove  /attributes/uid

Plan: 1 to create, 1 to update, 0 without changes.
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	var out bytes.Buffer
	if err := writeJSON(&out, rep); err != nil {
		t.Fatal(err)
	}
	var back diffReport
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back.Items) != 2 || !back.Differences {
		t.Errorf("-o json: %v\n%s", err, out.String())
	}
}
