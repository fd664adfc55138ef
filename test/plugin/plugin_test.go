// Package plugin tests the kubectl plugin (cmd/kubectl-sim) as users run it: the real binary, built
// by the test, against a local kube-apiserver and etcd, the real manager binary and the fake
// IdentityNow API (test/harness). It checks that `kubectl sim diff` prints the very requests the
// operator then sends (compared with the fake's request log after applying the same manifests), that
// it only reads (one SIM list per tenant), that no secret value appears in any output, and that
// status, reconcile, suspend, resume and export act on the cluster as they say.
//
// It needs KUBEBUILDER_ASSETS (kube-apiserver, etcd and kubectl), which `make test` sets.
package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sim-operator/sim-operator/test/harness"
)

const (
	ciClientID     = "ci-reader"
	ciClientSecret = "ci-reader-secret-value-7c1e"
	rotatedSecret  = "rotated-servicenow-password-4b2d"
	placeholder    = "(from Secret servicenow-credentials key password)"
	takenName      = "Taken Elsewhere"
	// planner is a user with read access only (ClusterRole sim-plan).
	planner = "ci-planner"
)

// plan is `kubectl sim diff -o json`.
type plan struct {
	Items       []planItem     `json:"items"`
	Summary     map[string]int `json:"summary"`
	Differences bool           `json:"differences"`
}

type planItem struct {
	Namespace, Name, RemoteName, Tenant, Action, ID string
	Paths                                           []string
	Requests                                        []planRequest
	Reason, Message, Error                          string
}

type planRequest struct {
	Method, Path string
	Body         json.RawMessage
}

func (r planRequest) String() string { return r.Method + " " + r.Path + " " + string(r.Body) }

func (p plan) item(t *testing.T, ns, name string) planItem {
	t.Helper()
	for _, it := range p.Items {
		if it.Namespace == ns && it.Name == name {
			return it
		}
	}
	t.Fatalf("no item %s/%s in the plan", ns, name)
	return planItem{}
}

func TestPlugin(t *testing.T) {
	start := time.Now()
	assets, err := harness.AssetsFromEnv()
	if err != nil {
		t.Fatal("the plugin tests need kube-apiserver, etcd and kubectl: " + err.Error())
	}
	workDir := t.TempDir()
	ctx := context.Background()
	built := make(chan error, 1)
	var pluginBin string
	go func() {
		var err error
		pluginBin, err = build(ctx, workDir)
		built <- err
	}()
	env, err := harness.Start(ctx, harness.Config{
		Assets: assets, WorkDir: workDir,
		FakeArgs: []string{"--client", ciClientID + ":" + ciClientSecret},
		Progress: func(format string, args ...any) { t.Logf(format, args...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Log(harness.TailFile(env.ManagerLog, 40))
		}
	})
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	s := &suite{env: env, plugin: pluginBin, dir: workDir, secrets: []string{harness.SampleClientSecret,
		harness.SampleServiceNowPassword, ciClientSecret, rotatedSecret}}
	// A remote object the operator did not create, there before the operator first lists the tenant.
	s.insertRemote(t, map[string]any{"name": takenName, "description": "made in the UI"})
	if err := env.ApplySamples(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.PointTenantsAtFake(ctx); err != nil {
		t.Fatal(err)
	}
	s.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: iam}
---
apiVersion: sim.identitynow.io/v1alpha1
kind: Tenant
metadata: {name: put-tenant, namespace: default}
spec:
  baseURL: %s
  apiRelease: v2025
  updateStrategy: Put
  credentialsRef: {name: acme-api-client}
`, env.Fake.URL))
	// A read-only identity, as a CI job that posts plans would have: no create or update, so no dry run.
	s.apply(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: sim-plan}
rules:
- apiGroups: [sim.identitynow.io]
  resources: [simintegrations, tenants, clustertenants]
  verbs: [get, list]
- apiGroups: [""]
  resources: [secrets, namespaces]
  verbs: [get]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: sim-plan}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: sim-plan}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: `+planner+`}
`)
	if err := env.WaitReady(ctx, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("set up in %s", time.Since(start).Round(100*time.Millisecond))

	t.Run("help", s.help)
	t.Run("diff create, name conflict, suspended; then the operator sends the same", s.diffCreate)
	t.Run("diff update, rule change and PUT; then the operator sends the same", s.diffUpdate)
	t.Run("diff of masked and omitted secrets: no changes", s.diffMaskedOmitted)
	t.Run("diff of a rotated secret; then the operator sends the same", s.diffRotated)
	t.Run("diff AlreadyManaged", s.diffAlreadyManaged)
	t.Run("diff with a suspended tenant; then the operator sends the same once resumed", s.diffTenantSuspended)
	t.Run("diff with a tenant only in the manifests", s.diffTenantOnlyInManifests)
	t.Run("diff with credentials from the environment", s.diffEnvCredentials)
	t.Run("status", s.status)
	t.Run("reconcile, suspend and resume", s.actions)
	t.Run("export", s.export)
	t.Run("the plugin never wrote to IdentityNow", s.onlyReads)
	t.Logf("done in %s", time.Since(start).Round(100*time.Millisecond))
}

func (s *suite) help(t *testing.T) {
	r := s.sim(t, 0, "--help")
	for _, want := range []string{"kubectl sim [command]", "diff", "status", "reconcile", "suspend", "resume", "export",
		"SAIL_CLIENT_ID"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	r = s.sim(t, 2, "diff")
	if !strings.Contains(r.stderr, `"filename" not set`) {
		t.Errorf("diff without -f: %s", r.stderr)
	}
}

// simsV1 are the SimIntegrations the first steps plan and apply.
func (s *suite) simsV1(t *testing.T) string {
	dir := s.dir + "/v1"
	s.write(t, "v1/create.yaml", createManifest("Tickets from the plugin test", "rule-1", "https://plugin.service-now.com"))
	s.write(t, "v1/others.yaml", `apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: conflict, namespace: default}
spec:
  tenantRef: {name: acme}
  name: `+takenName+`
  description: someone else has this name
---
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: paused, namespace: default}
spec:
  tenantRef: {name: acme}
  description: suspended from the start
  suspend: true
`)
	s.write(t, "v1/sub/shared.yaml", `apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: shared-one, namespace: iam}
spec:
  tenantRef: {kind: ClusterTenant, name: acme-shared}
  description: through the ClusterTenant
`)
	return dir
}

// createManifest is new-create (tenant acme, Patch) and new-put (put-tenant, PUT).
func createManifest(description, rule, url string) string {
	return fmt.Sprintf(`apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata:
  name: new-create
  namespace: default
  labels: {plugin-test: "yes"}
spec:
  tenantRef: {name: acme}
  name: Plugin Create
  description: %s
  attributes: {url: %q, uid: svc-plugin}
  secretAttributes:
  - name: password
    secretKeyRef: {name: servicenow-credentials, key: password}
  beforeProvisioningRule: {type: RULE, id: %s, name: Rule %s}
---
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata:
  name: new-put
  namespace: default
  labels: {plugin-test: "yes"}
spec:
  tenantRef: {name: put-tenant}
  description: %s (PUT)
  attributes: {url: %q}
  secretAttributes:
  - name: password
    secretKeyRef: {name: servicenow-credentials, key: password}
`, description, url, rule, rule, description, url)
}

// diff runs kubectl sim diff -o json and decodes the plan.
func (s *suite) diff(t *testing.T, code int, env []string, args ...string) plan {
	t.Helper()
	r := s.run(t, env, "", append([]string{"diff", "--allow-insecure-http", "-o", "json"}, args...)...)
	if r.code != code {
		t.Fatalf("diff exit %d, want %d\n%s%s", r.code, code, r.stdout, r.stderr)
	}
	var p plan
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("diff -o json: %v\n%s", err, r.stdout)
	}
	if p.Differences != (code == 1) {
		t.Errorf("differences %v with exit %d", p.Differences, code)
	}
	return p
}

// expectReads checks that the plugin sent, after mark, one SIM list per path and no other SIM request.
func (s *suite) expectReads(t *testing.T, mark int64, lists ...string) {
	t.Helper()
	var got []string
	for _, r := range s.requests(t, mark) {
		if !r.fromPlugin() || r.API != apiSIM {
			continue
		}
		if r.Method != http.MethodGet {
			t.Errorf("diff sent %s %s", r.Method, r.Path)
		}
		got = append(got, r.Path)
	}
	slices.Sort(got)
	slices.Sort(lists)
	if !slices.Equal(got, lists) {
		t.Errorf("diff sent the SIM requests %q, want one list per tenant %q", got, lists)
	}
}

// expectSent checks that the operator's writes after mark are exactly the requests of the plan's
// items (secret placeholders stand for the values in secrets), in each item's order.
func (s *suite) expectSent(t *testing.T, mark int64, items []planItem, secrets map[string]string) {
	t.Helper()
	sent := s.operatorWrites(t, mark)
	var want []planRequest
	for _, it := range items {
		want = append(want, it.Requests...)
	}
	if len(sent) != len(want) {
		t.Errorf("the operator sent %d writes, diff printed %d:\n%v\n%v", len(sent), len(want), sent, want)
	}
	for _, w := range want {
		i := slices.IndexFunc(sent, func(r loggedRequest) bool {
			return r.Method == w.Method && r.Path == w.Path && (w.Method != http.MethodPost || sameName(r.Body, w.Body))
		})
		if i < 0 {
			t.Errorf("the operator did not send %s %s (it sent %v)", w.Method, w.Path, sent)
			continue
		}
		got, wantBody := decode(t, sent[i].Body), decode(t, string(substitute(w.Body, secrets)))
		if d := cmp.Diff(wantBody, got); d != "" {
			t.Errorf("%s %s: the body diff printed differs from what the operator sent (-diff +sent):\n%s", w.Method, w.Path, d)
		}
		sent = slices.Delete(sent, i, i+1)
	}
}

func sameName(a string, b []byte) bool {
	var x, y struct{ Name string }
	_ = json.Unmarshal([]byte(a), &x)
	_ = json.Unmarshal(b, &y)
	return x.Name == y.Name
}

func substitute(body []byte, secrets map[string]string) []byte {
	out := string(body)
	for ph, v := range secrets {
		out = strings.ReplaceAll(out, fmt.Sprintf("%q", ph), fmt.Sprintf("%q", v))
	}
	return []byte(out)
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("body %q: %v", s, err)
	}
	return v
}

func (s *suite) diffCreate(t *testing.T) {
	dir := s.simsV1(t)

	mark := s.mark(t)
	p := s.diff(t, 1, nil, "-f", dir, "-R")
	s.expectReads(t, mark, "/v2024/sim-integrations", "/v2025/sim-integrations", "/sim-integrations/v1")
	create := p.item(t, "default", "new-create")
	if create.Action != "create" || len(create.Requests) != 1 || create.Requests[0].Method != "POST" ||
		create.Requests[0].Path != "/v2024/sim-integrations" {
		t.Fatalf("new-create: %+v", create)
	}
	var body struct {
		Type       string
		Attributes map[string]any
	}
	_ = json.Unmarshal(create.Requests[0].Body, &body)
	if body.Attributes["password"] != placeholder || body.Type != "ServiceNow Service Desk" {
		t.Errorf("create body: the secret shows as %v, type %q (the schema default)", body.Attributes["password"], body.Type)
	}
	if put := p.item(t, "default", "new-put"); put.Action != "create" || put.Requests[0].Path != "/v2025/sim-integrations" {
		t.Errorf("new-put: %+v", put)
	}
	if sh := p.item(t, "iam", "shared-one"); sh.Action != "create" || sh.Requests[0].Path != "/sim-integrations/v1" {
		t.Errorf("shared-one: %+v", sh)
	}
	if c := p.item(t, "default", "conflict"); c.Action != "stall" || c.Reason != "NameConflict" || !strings.Contains(c.Message, takenName) {
		t.Errorf("conflict: %+v", c)
	}
	if ps := p.item(t, "default", "paused"); ps.Action != "none" || ps.Reason != "Suspended" || len(ps.Requests) != 0 {
		t.Errorf("paused: %+v", ps)
	}
	if p.Summary["create"] != 3 || p.Summary["stalled"] != 1 || p.Summary["noChanges"] != 1 {
		t.Errorf("summary %v", p.Summary)
	}

	// A read-only identity gets no dry run: the schema's defaults come from the CRDs, the plan is the same.
	ro := s.run(t, nil, "", "diff", "--allow-insecure-http", "-o", "json", "--as", planner, "-R", "-f", dir)
	var roPlan plan
	if err := json.Unmarshal([]byte(ro.stdout), &roPlan); err != nil || ro.code != 1 {
		t.Fatalf("diff --as %s: exit %d, %v", planner, ro.code, err)
	}
	if d := cmp.Diff(p, roPlan); d != "" {
		t.Errorf("the plan of a read-only identity differs (-admin +read-only):\n%s", d)
	}
	if !strings.Contains(ro.stderr, "refused a dry run") {
		t.Errorf("no warning without a dry run: %s", ro.stderr)
	}

	// Without -R the subdirectory is left out; the text output reads like a plan.
	if n := len(s.diff(t, 1, nil, "-f", dir).Items); n != 4 {
		t.Errorf("without -R: %d items, want 4", n)
	}
	r := s.sim(t, 1, "diff", "--allow-insecure-http", "-R", "-f", dir)
	for _, want := range []string{`+ SimIntegration default/new-create will be created as "Plugin Create"`, "POST /v2024/sim-integrations",
		`"password": "` + placeholder + `"`, "! SimIntegration default/conflict would stall: NameConflict",
		"spec.suspend is true", "Plan: 3 to create, 0 to update, 1 without changes, 1 stalled."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the text plan lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("colour in piped output")
	}

	mark = s.mark(t)
	s.kubectl(t, "apply", "-R", "-f", dir)
	s.waitCondition(t, "default", "new-create", "Ready", "True", "Synced")
	s.waitCondition(t, "default", "new-put", "Ready", "True", "Synced")
	s.waitCondition(t, "iam", "shared-one", "Ready", "True", "Synced")
	s.waitCondition(t, "default", "conflict", "Stalled", "True", "NameConflict")
	s.waitCondition(t, "default", "paused", "Reconciling", "False", "Suspended")
	s.expectSent(t, mark, p.Items, map[string]string{placeholder: harness.SampleServiceNowPassword})
}

func (s *suite) diffUpdate(t *testing.T) {
	s.write(t, "v2/create.yaml", createManifest("Tickets, updated", "rule-2", "https://plugin-2.service-now.com"))
	mark := s.mark(t)
	p := s.diff(t, 1, nil, "-f", s.dir+"/v2/create.yaml")
	s.expectReads(t, mark, "/v2024/sim-integrations", "/v2025/sim-integrations")
	patch := p.item(t, "default", "new-create")
	id := s.jsonpath(t, "default sim/new-create", "{.status.id}")
	if patch.Action != "patch" || patch.ID != id || len(patch.Requests) != 2 ||
		patch.Requests[0].Path != "/v2024/sim-integrations/"+id ||
		patch.Requests[1].Path != "/v2024/sim-integrations/"+id+"/beforeProvisioningRule" {
		t.Fatalf("new-create: %+v", patch)
	}
	if !strings.Contains(string(patch.Requests[0].Body), `"/description"`) || strings.Contains(string(patch.Requests[0].Body), "rule-2") ||
		!strings.Contains(string(patch.Requests[1].Body), "rule-2") {
		t.Errorf("the rule goes on its own route: %s | %s", patch.Requests[0].Body, patch.Requests[1].Body)
	}
	put := p.item(t, "default", "new-put")
	if put.Action != "put" || len(put.Requests) != 1 || put.Requests[0].Method != "PUT" ||
		!strings.Contains(string(put.Requests[0].Body), placeholder) {
		t.Fatalf("new-put: %+v", put)
	}
	r := s.sim(t, 1, "diff", "--allow-insecure-http", "-f", s.dir+"/v2/create.yaml")
	for _, want := range []string{"~ SimIntegration default/new-create will be updated", "replace /description = \"Tickets, updated\"",
		"PATCH /v2024/sim-integrations/" + id + "/beforeProvisioningRule", "will be replaced with a PUT", "Plan: 0 to create, 2 to update"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the text plan lacks %q", want)
		}
	}

	mark = s.mark(t)
	s.kubectl(t, "apply", "-f", s.dir+"/v2/create.yaml")
	s.waitCondition(t, "default", "new-create", "Ready", "True", "Synced")
	s.waitCondition(t, "default", "new-put", "Ready", "True", "Synced")
	s.expectSent(t, mark, p.Items, map[string]string{placeholder: harness.SampleServiceNowPassword})
}

func (s *suite) diffMaskedOmitted(t *testing.T) {
	// The fake masks password (the harness's --masked-attributes): compared by the Secret's version.
	p := s.diff(t, 0, nil, "-f", s.dir+"/v2/create.yaml")
	for _, it := range p.Items {
		if it.Action != "none" || it.Reason != "" || len(it.Paths) != 0 {
			t.Errorf("masked: %+v", it)
		}
	}
	if err := s.env.Fake.SetConfig(context.Background(), map[string]any{"maskedAttributes": []string{}, "omittedAttributes": []string{"password"}}); err != nil {
		t.Fatal(err)
	}
	for _, it := range s.diff(t, 0, nil, "-f", s.dir+"/v2/create.yaml").Items {
		if it.Action != "none" || len(it.Paths) != 0 {
			t.Errorf("omitted: %+v", it)
		}
	}
}

func (s *suite) diffRotated(t *testing.T) {
	ctx := context.Background()
	// The manager would act on the Secret change at once: stopped, diff sees the change first.
	if err := s.env.Manager.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.apply(t, `apiVersion: v1
kind: Secret
metadata: {name: servicenow-credentials, namespace: default}
stringData: {password: `+rotatedSecret+`}
`)
	// The samples' servicenow-sim uses the same Secret.
	mark := s.mark(t)
	p := s.diff(t, 1, nil, "-f", s.dir+"/v2/create.yaml", "-f", "config/samples/sim_v1alpha1_simintegration.yaml")
	for _, it := range p.Items {
		if it.Name == "hr-tickets" || it.Name == "finance-tickets" {
			if it.Action != "none" || it.Reason != "" {
				t.Errorf("%s: %+v", it.Name, it)
			}
			continue
		}
		if len(it.Requests) != 1 || !strings.Contains(string(it.Requests[0].Body), placeholder) || !slices.Equal(it.Paths, []string{"/attributes"}) {
			t.Errorf("rotated (omitted by the remote): %+v", it)
		}
	}
	lookups := map[string]int{}
	for _, r := range s.requests(t, mark) {
		if r.fromPlugin() && r.API != apiSIM && r.API != "" {
			lookups[r.API]++
		}
	}
	for api, n := range lookups {
		if n > 1 {
			t.Errorf("diff sent %d %s lookups for one tenant, want at most one", n, api)
		}
	}
	mark = s.mark(t)
	if err := s.env.StartManager(ctx); err != nil {
		t.Fatal(err)
	}
	rv := s.jsonpath(t, "default secret/servicenow-credentials", "{.metadata.resourceVersion}")
	for _, name := range []string{"new-create", "new-put", "servicenow-sim"} {
		eventually(t, name+" sent the rotated secret", func() (bool, string) {
			got := s.jsonpath(t, "default sim/"+name, "{.status.lastApplied.secretVersions[0].resourceVersion}")
			return got == rv, got
		})
	}
	s.expectSent(t, mark, p.Items, map[string]string{placeholder: rotatedSecret})
	if err := s.env.Fake.SetConfig(ctx, map[string]any{"maskedAttributes": []string{"password"}, "omittedAttributes": []string{}}); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) diffAlreadyManaged(t *testing.T) {
	dup := `apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: dup-adopt}
spec:
  tenantRef: {name: acme}
  name: Plugin Create
  adoptionPolicy: AdoptByName
`
	f := s.write(t, "dup.yaml", dup)
	// The manifest on standard input, as in `kustomize build | kubectl sim diff -f -`.
	r := s.run(t, nil, dup, "diff", "--allow-insecure-http", "-f", "-", "-o", "json")
	var p plan
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || r.code != 1 {
		t.Fatalf("diff -f -: exit %d, %v", r.code, err)
	}
	it := p.item(t, "default", "dup-adopt")
	if it.Action != "stall" || it.Reason != "AlreadyManaged" || !strings.Contains(it.Message, "default/new-create") {
		t.Fatalf("dup-adopt: %+v", it)
	}
	s.kubectl(t, "apply", "-f", f)
	s.waitCondition(t, "default", "dup-adopt", "Stalled", "True", "AlreadyManaged")
	s.kubectl(t, "delete", "-f", f, "--timeout=30s")
}

func (s *suite) diffTenantSuspended(t *testing.T) {
	s.kubectl(t, "patch", "tenant", "acme", "--type", "merge", "-p", `{"spec":{"suspend":true}}`)
	obj := s.write(t, "v3/create.yaml", strings.SplitN(createManifest("Changed during the freeze", "rule-2",
		"https://plugin-2.service-now.com"), "---", 2)[0])
	eventually(t, "new-create frozen", func() (bool, string) {
		got := s.jsonpath(t, "default sim/new-create", `{.status.conditions[?(@.type=="Reconciling")].reason}`)
		return got == "TenantSuspended", got
	})
	frozen := s.diff(t, 1, nil, "-f", obj).item(t, "default", "new-create")
	if frozen.Action != "none" || frozen.Reason != "TenantSuspended" || !slices.Equal(frozen.Paths, []string{"/description"}) ||
		len(frozen.Requests) != 0 {
		t.Fatalf("frozen: %+v", frozen)
	}
	r := s.sim(t, 1, "diff", "--allow-insecure-http", "-f", obj)
	if !strings.Contains(r.stdout, "TenantSuspended") || !strings.Contains(r.stdout, "1 held by a suspended tenant") {
		t.Errorf("text plan of a frozen tenant:\n%s", r.stdout)
	}

	// With the tenant's manifest (suspend: false), the plan is what the operator sends once resumed.
	// Where the tenant is reached stays the cluster's: a manifest never sends credentials elsewhere.
	resumed := s.write(t, "v3/tenant.yaml", `apiVersion: sim.identitynow.io/v1alpha1
kind: Tenant
metadata: {name: acme, namespace: default}
spec:
  baseURL: https://elsewhere.example.invalid
  apiRelease: v2024
  credentialsRef: {name: acme-api-client}
  pollInterval: 10m
  suspend: false
`)
	if r := s.sim(t, 1, "diff", "--allow-insecure-http", "-f", obj, "-f", resumed); !strings.Contains(r.stderr,
		"the manifests change where Tenant acme is reached or its credentials") {
		t.Errorf("no warning for a manifest that moves the tenant: %s", r.stderr)
	}
	after := s.diff(t, 1, nil, "-f", obj, "-f", resumed)
	planned := after.item(t, "default", "new-create")
	if planned.Action != "patch" || len(planned.Requests) != 1 {
		t.Fatalf("after the freeze: %+v", planned)
	}

	mark := s.mark(t)
	s.kubectl(t, "apply", "-f", obj)
	eventually(t, "drift reported during the freeze", func() (bool, string) {
		gen := s.jsonpath(t, "default sim/new-create", "{.metadata.generation} {.status.drift}")
		return strings.Contains(gen, "/description"), gen
	})
	if w := s.operatorWrites(t, mark); len(w) != 0 {
		t.Fatalf("the operator wrote during the freeze: %v", w)
	}
	s.kubectl(t, "patch", "tenant", "acme", "--type", "merge", "-p", `{"spec":{"suspend":false}}`)
	s.waitCondition(t, "default", "new-create", "Ready", "True", "Synced")
	s.expectSent(t, mark, []planItem{planned}, map[string]string{placeholder: rotatedSecret})
}

func (s *suite) diffTenantOnlyInManifests(t *testing.T) {
	f := s.write(t, "ghost.yaml", `apiVersion: sim.identitynow.io/v1alpha1
kind: Tenant
metadata: {name: ghost}
spec:
  baseURL: https://ghost.example.invalid
  credentialsRef: {name: acme-api-client}
---
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: ghostly}
spec:
  tenantRef: {name: ghost}
`)
	it := s.diff(t, 2, nil, "-f", f).item(t, "default", "ghostly")
	if it.Action != "error" || !strings.Contains(it.Error, "not in the cluster") {
		t.Errorf("a tenant only in the manifests: %+v", it)
	}
	if out := s.kubectl(t, "get", "tenants,sim", "-o", "name"); strings.Contains(out, "ghost") {
		t.Errorf("the dry run stored something:\n%s", out)
	}
}

func (s *suite) diffEnvCredentials(t *testing.T) {
	mark := s.mark(t)
	env := []string{"SAIL_CLIENT_ID=" + ciClientID, "SAIL_CLIENT_SECRET=" + ciClientSecret}
	s.diff(t, 0, env, "-f", s.dir+"/v3/create.yaml")
	for _, r := range s.requests(t, mark) {
		if r.fromPlugin() && r.API == apiSIM && r.ClientID != ciClientID {
			t.Errorf("with SAIL_CLIENT_ID the plugin used client %q", r.ClientID)
		}
	}
	r := s.run(t, []string{"SAIL_CLIENT_ID=" + ciClientID}, "", "diff", "--allow-insecure-http", "-f", s.dir+"/v3/create.yaml")
	if r.code != 2 || !strings.Contains(r.stdout+r.stderr, "SAIL_CLIENT_SECRET") {
		t.Errorf("one variable only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = s.run(t, []string{"SAIL_CLIENT_ID=" + ciClientID, "SAIL_CLIENT_SECRET=not-the-secret"}, "",
		"diff", "--allow-insecure-http", "-f", s.dir+"/v3/create.yaml")
	if r.code != 2 || strings.Contains(r.stdout+r.stderr, "not-the-secret") {
		t.Errorf("refused credentials: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func (s *suite) status(t *testing.T) {
	r := s.sim(t, 0, "status", "-A")
	out := r.stdout
	for _, want := range []string{"Tenant default/acme", "Tenant default/put-tenant", "ClusterTenant acme-shared",
		"NameConflict", "Suspended"} {
		if !strings.Contains(out, want) {
			t.Errorf("status -A lacks %q", want)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour in piped output")
	}
	rows := s.kubectl(t, "get", "sim", "-A", "-o",
		`jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}|{.status.id}{"\n"}{end}`)
	for row := range strings.Lines(rows) {
		f := strings.Split(strings.TrimSpace(row), "|")
		_, name, _ := strings.Cut(f[0], "/")
		line := ""
		for l := range strings.Lines(out) {
			if strings.Contains(l, "── "+f[0]+" ") || strings.Contains(l, "── "+name+" ") {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, f[1]) {
			t.Errorf("status -A: %s (remote %s) not shown with its id: %q", f[0], f[1], line)
		}
	}
	one := s.sim(t, 0, "status", "new-create")
	if !strings.Contains(one.stdout, "Tenant default/acme") || !strings.Contains(one.stdout, "new-create") ||
		strings.Contains(one.stdout, "put-tenant") || strings.Contains(one.stdout, "hr-tickets") {
		t.Errorf("status new-create:\n%s", one.stdout)
	}
	if c := s.sim(t, 0, "status", "--color=always"); !strings.Contains(c.stdout, "\x1b[32mReady\x1b[0m") {
		t.Errorf("no colour with --color=always:\n%q", c.stdout)
	}
}

func (s *suite) actions(t *testing.T) {
	r := s.sim(t, 0, "reconcile", "hr-tickets", "--wait")
	want := s.jsonpath(t, "default sim/hr-tickets", `{.metadata.annotations.sim\.identitynow\.io/requested-at}`)
	if got := s.jsonpath(t, "default sim/hr-tickets", "{.status.lastHandledRequestedAt}"); want == "" || got != want {
		t.Errorf("reconcile: annotation %q, lastHandledRequestedAt %q\n%s", want, got, r.stdout)
	}

	before := s.kubectl(t, "get", "sim", "new-put", "-o", "jsonpath={.spec} {.metadata.labels} {.metadata.annotations}")
	s.sim(t, 0, "suspend", "-l", "plugin-test=yes", "--wait")
	for _, name := range []string{"new-create", "new-put"} {
		if got := s.jsonpath(t, "default sim/"+name, "{.spec.suspend}"); got != "true" {
			t.Errorf("%s: spec.suspend %q after suspend", name, got)
		}
	}
	if got := s.jsonpath(t, "default sim/hr-tickets", "{.spec.suspend}"); got != "false" {
		t.Errorf("hr-tickets suspended too: %q", got)
	}
	after := s.kubectl(t, "get", "sim", "new-put", "-o", "jsonpath={.spec} {.metadata.labels} {.metadata.annotations}")
	if strings.Replace(after, `"suspend":true`, `"suspend":false`, 1) != before {
		t.Errorf("suspend changed more than spec.suspend:\n%s\n%s", before, after)
	}

	s.sim(t, 0, "resume", "--tenant", "put-tenant", "--wait")
	if got := s.jsonpath(t, "default sim/new-put", "{.spec.suspend}"); got != "false" {
		t.Errorf("new-put after resume --tenant: %q", got)
	}
	if got := s.jsonpath(t, "default sim/new-create", "{.spec.suspend}"); got != "true" {
		t.Errorf("new-create resumed with --tenant put-tenant: %q", got)
	}
	s.sim(t, 0, "resume", "new-create", "--wait")
	s.waitCondition(t, "default", "new-create", "Ready", "True", "Synced")

	if r := s.sim(t, 0, "resume", "--tenant", "clustertenant/acme-shared"); !strings.Contains(r.stdout, "shared-one (namespace iam) already resumed") {
		t.Errorf("resume --tenant clustertenant/acme-shared:\n%s", r.stdout)
	}
	if r := s.sim(t, 1, "reconcile"); !strings.Contains(r.stderr, "name the SimIntegrations") {
		t.Errorf("reconcile without a selection: %s", r.stderr)
	}
	if r := s.sim(t, 1, "suspend", "no-such-sim"); !strings.Contains(r.stderr, "not found") {
		t.Errorf("suspend of a missing object: %s", r.stderr)
	}
}

func (s *suite) export(t *testing.T) {
	r := s.sim(t, 0, "export", "--tenant", "acme", "--allow-insecure-http")
	id := s.jsonpath(t, "default sim/new-create", "{.status.id}")
	for _, want := range []string{"# Exported by kubectl sim export from " + s.env.Fake.URL, "kind: SimIntegration",
		"sim.identitynow.io/external-id: " + id, "namespace: default", "name: acme"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("export lacks %q", want)
		}
	}
	if !strings.Contains(r.stderr, "Exported ") {
		t.Errorf("export stderr: %s", r.stderr)
	}
	path := s.dir + "/exported.yaml"
	s.run(t, []string{"SAIL_CLIENT_ID=" + ciClientID, "SAIL_CLIENT_SECRET=" + ciClientSecret}, "",
		"export", "--base-url", s.env.Fake.URL, "--tenant-ref-name", "acme", "--allow-insecure-http", "--output", path)
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), id) {
		t.Errorf("export --base-url --output: %v", err)
	}
	s.checkNoSecrets(t, "the exported file", string(data))
}

// onlyReads checks the whole log: the plugin sent SIM lists, reference lookups, token requests and
// nothing else.
func (s *suite) onlyReads(t *testing.T) {
	n := 0
	for _, r := range s.requests(t, 0) {
		if !r.fromPlugin() {
			continue
		}
		n++
		switch {
		case r.API == apiSIM && r.Method == http.MethodGet && (strings.HasSuffix(r.Path, "/sim-integrations") || strings.HasSuffix(r.Path, "/v1")):
		case (r.API == apiSources || r.API == apiClusters) && r.Method == http.MethodGet:
		case r.API == "" && r.Method == http.MethodPost && r.Path == "/oauth/token":
		default:
			t.Errorf("the plugin sent %s %s", r.Method, r.Path)
		}
	}
	if n == 0 {
		t.Error("no request from the plugin in the log")
	}
	for _, out := range s.outputs {
		s.checkNoSecrets(t, "an output", out)
	}
}
