package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/export"
	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

const (
	clientID     = "id"
	clientSecret = "export-test-client-secret-xyz"
	hrName       = "  HR  Tickets (EMEA) / Ünïcode  " +
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
)

// Values that must never appear in the output.
var secretValues = []string{
	"hunter2-plain-password",
	"masked-stored-passphrase",
	"nested-oauth-client-secret",
	"custom-pin-value",
	"api-key-value-0001",
	"bearer-token-value",
	clientSecret,
}

// seed inserts the test integrations and returns their ids by name.
func seed(s *fake.Server) map[string]string {
	docs := []map[string]any{
		{
			"name": "ServiceNow SIM", "description": "Tickets for access requests", "type": "ServiceNow Service Desk",
			"cluster": "xyzzy999", "sources": []any{"src-b", "src-a", "src-b"},
			"statusMap": map[string]any{"closed_complete": "Committed", "in_process": "Queued"},
			"request":   map[string]any{"short_description": "SailPoint Access Request $!plan.arguments.identityRequestId"},
			"attributes": map[string]any{
				"uid": "svc-sailpoint", "url": "https://acme.service-now.com", "lastSyncDate": 1470348809380.0,
				"password": "hunter2-plain-password", "ServiceNowApiKey": "api-key-value-0001",
			},
			"beforeProvisioningRule": map[string]any{
				"type": "RULE", "id": "2c918085708c274401708c2a8a760001", "name": "Example Rule",
			},
		},
		{
			// Same DNS name as the first: de-duplicated.
			"name": "servicenow-sim", "description": "second",
			"attributes": map[string]any{"url": "https://b.service-now.com", "passphrase": "masked-stored-passphrase"},
		},
		{
			"name": "ServiceNow_SIM!!", "description": "third",
			"attributes": map[string]any{
				"oauth": map[string]any{"clientSecret": "nested-oauth-client-secret", "clientId": "oauth-client"},
				"pin":   "custom-pin-value", "auth token": "bearer-token-value",
			},
		},
		{
			"name":       hrName,
			"attributes": map[string]any{"url": "https://hr.service-now.com"},
		},
	}
	ids := map[string]string{}
	for _, d := range docs {
		ids[d["name"].(string)] = s.Insert(d)
	}
	return ids
}

type exported struct {
	out, stderr []byte
	sims        []simv1alpha1.SimIntegration
	secrets     []corev1.Secret
	kinds       []string
}

func runExport(t *testing.T, url string, extra ...string) exported {
	t.Helper()
	args := append([]string{"--base-url", url, "--allow-insecure-http", "--tenant-ref-name", "acme",
		"--namespace", "iam"}, extra...)
	env := map[string]string{envClientID: clientID, envClientSecret: clientSecret}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	return decode(t, stdout.Bytes(), stderr.Bytes())
}

func decode(t *testing.T, out, stderr []byte) exported {
	t.Helper()
	e := exported{out: out, stderr: stderr}
	for _, doc := range strings.Split(string(out), "\n---\n")[1:] {
		var tm struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("document does not parse: %v\n%s", err, doc)
		}
		e.kinds = append(e.kinds, tm.Kind)
		switch tm.Kind {
		case "SimIntegration":
			var s simv1alpha1.SimIntegration
			if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
				t.Fatalf("does not decode into SimIntegration: %v\n%s", err, doc)
			}
			e.sims = append(e.sims, s)
		case "Secret":
			var s corev1.Secret
			if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
				t.Fatalf("does not decode into Secret: %v\n%s", err, doc)
			}
			e.secrets = append(e.secrets, s)
		default:
			t.Fatalf("unexpected kind %q", tm.Kind)
		}
	}
	return e
}

func (e exported) sim(t *testing.T, remoteName string) simv1alpha1.SimIntegration {
	t.Helper()
	for _, s := range e.sims {
		if s.Spec.Name == remoteName {
			return s
		}
	}
	t.Fatalf("no SimIntegration for %q in\n%s", remoteName, e.out)
	return simv1alpha1.SimIntegration{}
}

func (e exported) secret(t *testing.T, name string) corev1.Secret {
	t.Helper()
	for _, s := range e.secrets {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Secret %q in\n%s", name, e.out)
	return corev1.Secret{}
}

func secretRefs(s simv1alpha1.SimIntegration) map[string]string {
	out := map[string]string{}
	for _, sa := range s.Spec.SecretAttributes {
		out[sa.Name] = sa.SecretKeyRef.Name + "/" + sa.SecretKeyRef.Key
	}
	return out
}

func attributes(t *testing.T, s simv1alpha1.SimIntegration) map[string]any {
	t.Helper()
	if s.Spec.Attributes == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(s.Spec.Attributes.Raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExportAgainstFake(t *testing.T) {
	for _, shape := range []fake.Shape{fake.ShapeEcho, fake.ShapeDTO} {
		t.Run(string(shape), func(t *testing.T) {
			s := fake.NewServer(fake.Options{
				Clients: map[string]string{clientID: clientSecret}, Shape: shape,
				MaskedAttributes: []string{"passphrase"},
			})
			url := s.Start()
			t.Cleanup(s.Close)
			ids := seed(s)

			e := runExport(t, url, "--secret-attributes", "password,pin")

			// Never a secret value, in any form.
			for _, v := range secretValues {
				if bytes.Contains(e.out, []byte(v)) || bytes.Contains(e.stderr, []byte(v)) {
					t.Errorf("secret value %q in the output", v)
				}
			}
			if bytes.Contains(e.out, []byte(fake.Masked)) {
				t.Errorf("masked value in the output")
			}

			// Only reads were sent.
			for _, q := range s.Requests(fake.SIMOnly()) {
				if q.Method != http.MethodGet {
					t.Errorf("export sent %s %s", q.Method, q.Path)
				}
			}

			// Names: sanitised, de-duplicated, sorted; every object adopts its remote id.
			var names []string
			for _, sim := range e.sims {
				names = append(names, sim.Name)
				if sim.Namespace != "iam" || sim.Spec.TenantRef != (simv1alpha1.TenantReference{Kind: "Tenant", Name: "acme"}) {
					t.Errorf("%s: namespace %q tenantRef %+v", sim.Name, sim.Namespace, sim.Spec.TenantRef)
				}
				if got, want := sim.Annotations[simv1alpha1.AnnotationExternalID], ids[sim.Spec.Name]; got != want {
					t.Errorf("%s: external-id %q, want %q", sim.Name, got, want)
				}
				if len(sim.Name) > 63 {
					t.Errorf("%s: longer than 63", sim.Name)
				}
				if sim.Spec.ManagementPolicy != "" {
					t.Errorf("%s: managementPolicy %q without --observe-only", sim.Name, sim.Spec.ManagementPolicy)
				}
			}
			long := "hr-tickets-emea-n-code-" + strings.Repeat("x", 40)
			want := []string{long, "servicenow-sim", "servicenow-sim-2", "servicenow-sim-3"}
			if !slices.Equal(names, want) {
				t.Fatalf("names %q, want %q", names, want)
			}
			wantKinds := "SimIntegration,Secret,SimIntegration,Secret,SimIntegration,Secret,SimIntegration"
			if k := strings.Join(e.kinds, ","); k != wantKinds {
				t.Errorf("document order %s", k)
			}

			// The first integration: every field copied, credentials by reference.
			first := e.sim(t, "ServiceNow SIM")
			if first.Name != "servicenow-sim" {
				t.Errorf("first gets %q", first.Name)
			}
			sp := first.Spec
			if *sp.Description != "Tickets for access requests" || *sp.Cluster != "xyzzy999" ||
				!slices.Equal(sp.Sources, []string{"src-a", "src-b"}) ||
				sp.BeforeProvisioningRule == nil || sp.BeforeProvisioningRule.ID != "2c918085708c274401708c2a8a760001" ||
				sp.BeforeProvisioningRule.Type != "RULE" || sp.BeforeProvisioningRule.Name != "Example Rule" {
				t.Errorf("first spec %+v", sp)
			}
			if shape == fake.ShapeEcho {
				if sp.Type != "ServiceNow Service Desk" || sp.StatusMap["closed_complete"] != "Committed" ||
					sp.Request["short_description"] == "" {
					t.Errorf("echo shape: type %q statusMap %v request %v", sp.Type, sp.StatusMap, sp.Request)
				}
			} else if sp.StatusMap != nil || sp.Request != nil {
				// The documented response shape does not return them: left unmanaged.
				t.Errorf("dto shape: statusMap %v request %v", sp.StatusMap, sp.Request)
			}
			attrs := attributes(t, first)
			if attrs["uid"] != "svc-sailpoint" || attrs["url"] != "https://acme.service-now.com" ||
				attrs["lastSyncDate"] != 1470348809380.0 || len(attrs) != 3 {
				t.Errorf("plain attributes %v", attrs)
			}
			wantRefs := map[string]string{
				"password":         "servicenow-sim-credentials/password",
				"ServiceNowApiKey": "servicenow-sim-credentials/ServiceNowApiKey",
			}
			if got := secretRefs(first); !mapsEqual(got, wantRefs) {
				t.Errorf("secretAttributes %v, want %v", got, wantRefs)
			}
			sec := e.secret(t, "servicenow-sim-credentials")
			if sec.Namespace != "iam" || sec.Type != corev1.SecretTypeOpaque ||
				!mapsEqual(sec.StringData, map[string]string{"password": "REPLACE_ME", "ServiceNowApiKey": "REPLACE_ME"}) ||
				len(sec.Data) != 0 {
				t.Errorf("placeholder Secret %+v", sec)
			}

			// A masked value makes an attribute a credential, whatever its key.
			second := e.sim(t, "servicenow-sim")
			wantRefs = map[string]string{"passphrase": "servicenow-sim-3-credentials/passphrase"}
			if got := secretRefs(second); !mapsEqual(got, wantRefs) {
				t.Errorf("masked attribute: %v", got)
			}
			if a := attributes(t, second); len(a) != 1 || a["url"] != "https://b.service-now.com" {
				t.Errorf("second attributes %v", a)
			}

			// --secret-attributes keys, pattern matches and nested credentials; invalid Secret keys fixed.
			third := e.sim(t, "ServiceNow_SIM!!")
			wantRefs = map[string]string{
				"auth token": "servicenow-sim-2-credentials/auth_token",
				"oauth":      "servicenow-sim-2-credentials/oauth",
				"pin":        "servicenow-sim-2-credentials/pin",
			}
			if got := secretRefs(third); !mapsEqual(got, wantRefs) || third.Spec.Attributes != nil {
				t.Errorf("third: secretAttributes %v, attributes %v", got, attributes(t, third))
			}
			if !bytes.Contains(e.stderr, []byte(`credential attribute "oauth" holds a JSON object`)) {
				t.Errorf("no warning for the nested credential: %s", e.stderr)
			}

			// No credentials: no Secret, no secretAttributes.
			hr := e.sim(t, hrName)
			if hr.Spec.SecretAttributes != nil || len(e.secrets) != 3 {
				t.Errorf("hr: %+v, %d secrets", hr.Spec.SecretAttributes, len(e.secrets))
			}

			// Deterministic.
			again := runExport(t, url, "--secret-attributes", "password,pin")
			if !bytes.Equal(e.out, again.out) {
				t.Errorf("second run differs:\n%s\n---\n%s", e.out, again.out)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestExportObserveOnlyToFile(t *testing.T) {
	s := fake.NewServer(fake.Options{Clients: map[string]string{clientID: clientSecret}, Shape: fake.ShapeEcho})
	url := s.Start()
	t.Cleanup(s.Close)
	seed(s)
	path := filepath.Join(t.TempDir(), "sims.yaml")
	e := runExport(t, url, "--observe-only", "--output", path, "--tenant-ref-kind", "ClusterTenant")
	if len(e.out) != 0 {
		t.Fatalf("stdout not empty with --output")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e = decode(t, data, e.stderr)
	if len(e.sims) != 4 {
		t.Fatalf("%d SimIntegrations", len(e.sims))
	}
	for _, sim := range e.sims {
		if sim.Spec.ManagementPolicy != simv1alpha1.ManagementPolicyObserveOnly ||
			sim.Spec.TenantRef.Kind != simv1alpha1.TenantKindClusterTenant {
			t.Errorf("%s: %q %q", sim.Name, sim.Spec.ManagementPolicy, sim.Spec.TenantRef.Kind)
		}
	}
	// The default list catches "password"; "pin" is not a credential without --secret-attributes.
	third := e.sim(t, "ServiceNow_SIM!!")
	if a := attributes(t, third); a["pin"] != "custom-pin-value" {
		t.Errorf("pin: %v", a)
	}
	if !strings.HasPrefix(string(data), "# Exported by sim-operator-export from "+url) ||
		!strings.Contains(string(data), export.Placeholder) {
		t.Errorf("header:\n%s", data)
	}
}

func TestExportEmptyTenant(t *testing.T) {
	s := fake.NewServer(fake.Options{Clients: map[string]string{clientID: clientSecret}})
	url := s.Start()
	t.Cleanup(s.Close)
	e := runExport(t, url)
	if len(e.sims) != 0 || !bytes.Contains(e.out, []byte("no SIM integration")) {
		t.Fatalf("empty tenant:\n%s", e.out)
	}
}

func TestExportUsageAndErrors(t *testing.T) {
	s := fake.NewServer(fake.Options{Clients: map[string]string{clientID: clientSecret}})
	url := s.Start()
	t.Cleanup(s.Close)
	good := map[string]string{envClientID: clientID, envClientSecret: clientSecret}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"no credentials", []string{"--base-url", url, "--tenant-ref-name", "acme", "--allow-insecure-http"},
			nil, exitUsage, "SAIL_CLIENT_ID"},
		{"no base url", []string{"--tenant-ref-name", "acme"}, good, exitUsage, "--base-url is required"},
		{"no tenant", []string{"--base-url", url}, good, exitUsage, "--tenant-ref-name is required"},
		{"bad kind", []string{"--base-url", url, "--tenant-ref-name", "a", "--tenant-ref-kind", "Cluster"},
			good, exitUsage, "want Tenant or ClusterTenant"},
		{"bad release", []string{"--base-url", url, "--tenant-ref-name", "a", "--api-release", "v3"},
			good, exitUsage, "--api-release"},
		{"bad namespace", []string{"--base-url", url, "--tenant-ref-name", "a", "--namespace", "IAM"},
			good, exitUsage, "--namespace"},
		{"secret as argument", []string{"--base-url", url, "--tenant-ref-name", "a", "s3cr3t"},
			good, exitUsage, "unexpected argument"},
		{"http refused", []string{"--base-url", url, "--tenant-ref-name", "acme"}, good, exitError, "http://"},
		{"wrong secret", []string{"--base-url", url, "--tenant-ref-name", "acme", "--allow-insecure-http"},
			map[string]string{envClientID: clientID, envClientSecret: "wrong-secret-value"}, exitError, "Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tt.code, stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("output on failure: %s", stdout.String())
			}
			if strings.Contains(stderr.String(), "wrong-secret-value") {
				t.Errorf("client secret in the error: %s", stderr.String())
			}
		})
	}
}

// TestExportByName: --by-name turns the seeded tenant's ids into names, keeps an id whose name is
// not the object's own, adopts by name and sends only reads.
func TestExportByName(t *testing.T) {
	s := fake.NewServer(fake.Options{Clients: map[string]string{clientID: clientSecret}})
	url := s.Start()
	t.Cleanup(s.Close)
	s.AddManagedCluster(fake.ManagedCluster{ID: "xyzzy999", Name: "Production VA"})
	s.AddSource(fake.Source{ID: "src-a", Name: "Active Directory"})
	s.AddSource(fake.Source{ID: "src-b", Name: "Workday"})
	seed(s)
	e := runExport(t, url, "--by-name")
	sp := e.sim(t, "ServiceNow SIM")
	if sp.Spec.Sources != nil || sp.Spec.Cluster != nil ||
		!slices.Equal(sp.Spec.SourceRefs, []simv1alpha1.SourceReference{{Name: "Active Directory"}, {Name: "Workday"}}) ||
		sp.Spec.ClusterRef == nil || sp.Spec.ClusterRef.Name != "Production VA" {
		t.Errorf("by name: %+v", sp.Spec)
	}
	for _, sim := range e.sims {
		if sim.Annotations[simv1alpha1.AnnotationExternalID] != "" || sim.Spec.AdoptionPolicy != simv1alpha1.AdoptionPolicyAdoptByName {
			t.Errorf("%s adopts by the exported tenant's id: %+v %q", sim.Name, sim.Annotations, sim.Spec.AdoptionPolicy)
		}
	}
	if !bytes.Contains(e.out, []byte("by name")) {
		t.Errorf("the header does not say the export is by name:\n%s", e.out[:200])
	}
	for _, q := range s.Requests() {
		if q.Method != http.MethodGet && q.Path != "/oauth/token" {
			t.Errorf("export sent %s %s", q.Method, q.Path)
		}
	}
	if n := len(s.Requests(fake.ByAPI(fake.APISources))); n != 2 {
		t.Errorf("%d sources lookups, want 2 (by id, then by name for ambiguity)", n)
	}

	s.AddSource(fake.Source{Name: "workday"}) // now two sources share the name
	e = runExport(t, url, "--by-name")
	if sp := e.sim(t, "ServiceNow SIM").Spec; sp.SourceRefs != nil || !slices.Equal(sp.Sources, []string{"src-a", "src-b"}) {
		t.Errorf("an ambiguous name keeps the ids: %+v", sp)
	}
	if !bytes.Contains(e.stderr, []byte("src-b has no name of its own")) {
		t.Errorf("no warning for the ambiguous source:\n%s", e.stderr)
	}
}
