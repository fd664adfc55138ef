package export

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/diff"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

var acme = simv1alpha1.TenantReference{Kind: simv1alpha1.TenantKindTenant, Name: "acme"}

func TestDNSName(t *testing.T) {
	tests := map[string]string{
		"ServiceNow SIM":               "servicenow-sim",
		"  --ServiceNow__SIM!!--  ":    "servicenow-sim",
		"HR Tickets (EMEA)":            "hr-tickets-emea",
		"Ünïcode":                      "n-code",
		"日本":                           "sim-integration",
		"":                             "sim-integration",
		"a" + strings.Repeat("b", 70):  "a" + strings.Repeat("b", 62),
		strings.Repeat("x", 62) + " y": strings.Repeat("x", 62), // no trailing '-' after the cut
		"123":                          "123",
	}
	for in, want := range tests {
		if got := DNSName(in); got != want {
			t.Errorf("DNSName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUniqueName(t *testing.T) {
	used := map[string]bool{}
	var got []string
	for _, base := range []string{"a", "a", "a", "a-2", strings.Repeat("z", 63), strings.Repeat("z", 63)} {
		n := uniqueName(base, used)
		used[n] = true
		got = append(got, n)
	}
	want := []string{"a", "a-2", "a-3", "a-2-2", strings.Repeat("z", 63), strings.Repeat("z", 61) + "-2"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSecretKey(t *testing.T) {
	used := map[string]bool{}
	var got []string
	for _, attr := range []string{"password", "auth token", "auth_token", "..x", ".", "pässword"} {
		got = append(got, secretKey(attr, used))
	}
	want := []string{"password", "auth_token", "auth_token_2", "key..x", "key.", "p_ssword"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestIsSecretAttribute(t *testing.T) {
	tests := []struct {
		key  string
		v    any
		want bool
	}{
		{"password", "x", true},
		{"PASSWORD", "x", true},
		{"clientSecret", "x", true},
		{"servicenowApiKey", "x", true},
		{"refresh_token", "x", true},
		{"privateKey", "x", true},
		{"passphrase", "********", true},
		{"passphrase", "*", true},
		{"passphrase", "x", false},
		{"pin", "1234", false},
		{"url", "https://x", false},
		{"uid", "svc", false},
		{"keys", "x", false},
		{"oauth", map[string]any{"clientSecret": "x"}, true},
		{"oauth", map[string]any{"clientId": "x"}, false},
		{"list", []any{"a", "****"}, true},
		{"count", 3.0, false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := IsSecretAttribute(tt.key, tt.v, DefaultSecretKeys); got != tt.want {
			t.Errorf("IsSecretAttribute(%q, %v) = %v, want %v", tt.key, tt.v, got, tt.want)
		}
	}
	if !IsSecretAttribute("pin", "1234", []string{"PIN"}) {
		t.Error("an explicit key is compared without case")
	}
}

func TestConvertSkipsWhatTheSchemaRefuses(t *testing.T) {
	items := []identitynow.Integration{
		{ID: "1", Name: strings.Repeat("n", 129), Fields: map[string]any{}},
		{ID: "2", Name: "long description", Fields: map[string]any{"description": strings.Repeat("d", 2049)}},
		{ID: "", Name: "no id", Fields: map[string]any{}},
		{ID: "4", Name: "", Fields: map[string]any{}},
		{ID: "5", Name: "ok", Fields: map[string]any{
			"type": "", "sources": "not a list", "statusMap": map[string]any{"n": 1.0},
			"beforeProvisioningRule": map[string]any{"name": "no id"},
			"attributes":             map[string]any{"password": "leaked-if-printed"},
		}},
		{ID: "6", Name: "ok too", Fields: map[string]any{"description": strings.Repeat("é", 2048)}},
	}
	res := Convert(items, Options{TenantRef: acme})
	var names []string
	for _, m := range res.Manifests {
		names = append(names, m.Integration.Spec.Name)
	}
	if !slices.Equal(names, []string{"ok", "ok too"}) {
		t.Fatalf("exported %q; warnings %q", names, res.Warnings)
	}
	all := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"skipped integration \"nnn", "skipped integration \"long description\"",
		"skipped integration \"no id\"", "(id 4)", "type is empty", "sources is not a list", "statusMap.n is not a string",
		"beforeProvisioningRule has no id"} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning %q in\n%s", want, all)
		}
	}
	if strings.Contains(all, "leaked-if-printed") {
		t.Error("a warning holds an attribute value")
	}
	ok := res.Manifests[0].Integration.Spec
	if ok.Type != "" || ok.Sources != nil || ok.StatusMap["n"] != "1" || ok.BeforeProvisioningRule != nil || ok.Attributes != nil {
		t.Errorf("spec %+v", ok)
	}
}

// TestExportedSpecMatchesRemote checks that the exported spec, once its Secrets hold the real values,
// describes the remote object exactly: adopting it with managementPolicy Manage sends no write. The
// desired document is built as the operator builds it (internal/controller/desired.go).
func TestExportedSpecMatchesRemote(t *testing.T) {
	fields := map[string]any{
		"name": "ServiceNow SIM", "description": "Tickets", "type": "ServiceNow Service Desk", "cluster": "xyzzy999",
		"sources":   []any{"b", "a"},
		"statusMap": map[string]any{"closed_complete": "Committed"},
		"request":   map[string]any{"short_description": "x"},
		"attributes": map[string]any{"url": "https://x", "lastSyncDate": 1470348809380.0, "nested": map[string]any{"a": []any{1.0, "b"}},
			"password": "pw", "apiKey": "k"},
		"beforeProvisioningRule": map[string]any{"type": "RULE", "id": "r1", "name": "Rule"},
	}
	it := identitynow.Integration{ID: "62945a496ef440189b1f03e3623411c8", Name: "ServiceNow SIM", Fields: fields}
	res := Convert([]identitynow.Integration{it}, Options{TenantRef: acme})
	if len(res.Manifests) != 1 {
		t.Fatalf("warnings %q", res.Warnings)
	}
	spec := res.Manifests[0].Integration.Spec

	// Round-trip through YAML, as the manifests reach the cluster.
	out, err := res.YAML(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), `"pw"`) || strings.Contains(string(out), ": pw") || strings.Contains(string(out), ": k\n") {
		t.Fatalf("secret value in the output:\n%s", out)
	}

	attrs := map[string]any{}
	if err := json.Unmarshal(spec.Attributes.Raw, &attrs); err != nil {
		t.Fatal(err)
	}
	remoteAttrs := fields["attributes"].(map[string]any)
	for _, sa := range spec.SecretAttributes {
		attrs[sa.Name] = remoteAttrs[sa.Name] // what the user puts in the Secret
	}
	d := identitynow.Details{
		Name: spec.Name, Description: spec.Description, Type: &spec.Type, Cluster: spec.Cluster,
		Sources: spec.Sources, StatusMap: spec.StatusMap, Request: spec.Request, Attributes: attrs,
		BeforeProvisioningRule: &identitynow.RuleRef{Type: spec.BeforeProvisioningRule.Type,
			ID: spec.BeforeProvisioningRule.ID, Name: spec.BeforeProvisioningRule.Name},
	}
	raw, _ := json.Marshal(d)
	desired := map[string]any{}
	if err := json.Unmarshal(raw, &desired); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(desired)); len(got) != len(fields) {
		t.Fatalf("desired keys %q, remote keys %d", got, len(fields))
	}
	if r := diff.Compute(fields, desired); !r.Empty() {
		t.Fatalf("adopting the export would write: %+v", r.Operations)
	}
}

func TestConvertIsDeterministic(t *testing.T) {
	var items []identitynow.Integration
	for _, n := range []string{"b", "B", "a", "A!", "a?"} {
		items = append(items, identitynow.Integration{ID: "id-" + n, Name: n, Fields: map[string]any{
			"attributes": map[string]any{"token": "t", "z": "1", "y": "2"},
		}})
	}
	first, _ := Convert(items, Options{TenantRef: acme}).YAML([]string{"h"})
	slices.Reverse(items)
	second, _ := Convert(items, Options{TenantRef: acme}).YAML([]string{"h"})
	if string(first) != string(second) {
		t.Fatalf("input order changes the output:\n%s\n---\n%s", first, second)
	}
}

func TestConvertByName(t *testing.T) {
	items := []identitynow.Integration{
		{ID: "i1", Name: "HR", Fields: map[string]any{"cluster": "va-1", "sources": []any{"wd", "ad", "ad"}}},
		{ID: "i2", Name: "Finance", Fields: map[string]any{"cluster": "va-2", "sources": []any{"ad", "gone"}}},
		{ID: "i3", Name: "Shared", Fields: map[string]any{"cluster": "va-1", "sources": []any{"hr-a"}}},
	}
	names := &Names{
		Sources:          map[string]string{"ad": "Active Directory", "wd": "Workday", "hr-a": "HR"},
		Clusters:         map[string]string{"va-1": "Production VA", "va-2": "Twin VA"},
		AmbiguousSources: map[string]bool{"hr": true}, AmbiguousClusters: map[string]bool{"twin va": true},
	}
	res := Convert(items, Options{TenantRef: acme, ByName: names})
	if len(res.Manifests) != 3 {
		t.Fatalf("manifests %d, warnings %q", len(res.Manifests), res.Warnings)
	}
	byRemote := map[string]simv1alpha1.SimIntegration{}
	for _, m := range res.Manifests {
		byRemote[m.Integration.Spec.Name] = m.Integration
		if m.Integration.Annotations[simv1alpha1.AnnotationExternalID] != "" || m.Integration.Spec.AdoptionPolicy != simv1alpha1.AdoptionPolicyAdoptByName {
			t.Errorf("%s: by name, the object adopts by name rather than by the exported tenant's id: %+v",
				m.Integration.Name, m.Integration.ObjectMeta)
		}
	}
	hr := byRemote["HR"].Spec
	if hr.Sources != nil || hr.Cluster != nil ||
		!slices.Equal(hr.SourceRefs, []simv1alpha1.SourceReference{{Name: "Active Directory"}, {Name: "Workday"}}) ||
		hr.ClusterRef == nil || hr.ClusterRef.Name != "Production VA" {
		t.Errorf("HR: %+v", hr)
	}
	fin := byRemote["Finance"].Spec
	if !slices.Equal(fin.Sources, []string{"ad", "gone"}) || fin.SourceRefs != nil || fin.Cluster == nil || *fin.Cluster != "va-2" || fin.ClusterRef != nil {
		t.Errorf("Finance keeps ids for a source without a name and a cluster whose name is shared: %+v", fin)
	}
	if sh := byRemote["Shared"].Spec; sh.SourceRefs != nil || !slices.Equal(sh.Sources, []string{"hr-a"}) || sh.ClusterRef == nil {
		t.Errorf("Shared keeps the id of a source whose name is ambiguous: %+v", sh)
	}
	all := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"source gone has no name", "managed cluster va-2", "source hr-a"} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning %q in\n%s", want, all)
		}
	}
	plain := Convert(items, Options{TenantRef: acme})
	if plain.Manifests[0].Integration.Annotations[simv1alpha1.AnnotationExternalID] == "" || plain.Manifests[0].Integration.Spec.SourceRefs != nil {
		t.Error("without ByName the export is by id, as before")
	}
}
