package install

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/test/harness"
)

// ---------------------------------------------------------------------------------------------
// What the tests render: dist/install.yaml and the chart with default and with every value set.

const (
	kindNamespace   = "Namespace"
	kindRole        = "Role"
	kindClusterRole = "ClusterRole"
	metricsPortName = "https"
	operatorValues  = "operator"
)

// allValues sets every value the chart documents away from its default.
var allValues = map[string]any{
	"replicaCount": 2,
	"image": map[string]any{
		"repository": "registry.example.com:5000/platform/sim-operator", "tag": "v0.3.1", "pullPolicy": "Always",
	},
	"leaderElection": map[string]any{"enabled": false},
	operatorValues: map[string]any{
		"clusterResourceNamespace": "identity-secrets",
		"tenantHostAllowlist":      []any{"*.identitynow.com", "acme.example.com:8443"},
		"allowPrivateNetworks":     true,
		"allowInsecureHTTP":        true,
		"maxConcurrentReconciles":  8,
		"extraArgs":                []any{"--zap-log-level=debug"},
	},
	"extraEnv": []any{map[string]any{"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"}},
	"resources": map[string]any{
		"requests": map[string]any{"cpu": "200m", "memory": "256Mi"},
		"limits":   map[string]any{"memory": "512Mi"},
	},
	"metrics": map[string]any{"enabled": false},
	"serviceAccount": map[string]any{
		"create": true, "name": "sim-operator-sa", "annotations": map[string]any{"example.com/role": "x"},
	},
	"rbac":           map[string]any{"userRoles": false},
	"crds":           map[string]any{"install": false},
	"podAnnotations": map[string]any{"example.com/scrape": "false"},
	"podLabels":      map[string]any{"team": "iam"},
	"tolerations": []any{
		map[string]any{"key": "dedicated", "operator": "Equal", "value": "identity", "effect": "NoSchedule"},
	},
}

var (
	renderOnce                             sync.Once
	kustomizeObjs, chartObjs, chartAllObjs []*unstructured.Unstructured
	kustomizeYAML, chartYAML, chartAllYAML []byte
	kustomizeErr, chartErr, chartAllErr    error
)

func render(t *testing.T) {
	t.Helper()
	renderOnce.Do(func() {
		kustomizeYAML, kustomizeErr = KustomizeBuild()
		if kustomizeErr == nil {
			kustomizeObjs, kustomizeErr = Decode(kustomizeYAML)
		}
		chartYAML, chartErr = RenderChart(nil)
		if chartErr == nil {
			chartObjs, chartErr = Decode(chartYAML)
		}
		chartAllYAML, chartAllErr = RenderChart(allValues)
		if chartAllErr == nil {
			chartAllObjs, chartAllErr = Decode(chartAllYAML)
		}
	})
	for name, err := range map[string]error{
		"kustomize build config/default": kustomizeErr,
		"helm template (defaults)":       chartErr,
		"helm template (all values)":     chartAllErr,
	} {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Static checks on the rendered objects.

func TestKustomizeInstall(t *testing.T) {
	render(t)
	objs := kustomizeObjs

	ns := ByKind(objs, kindNamespace)
	if len(ns) != 1 || ns[0].GetName() != Namespace {
		t.Fatalf("want exactly Namespace %s, got %v", Namespace, Keys(ns))
	}
	for _, mode := range []string{"enforce", "audit", "warn"} {
		if got := ns[0].GetLabels()["pod-security.kubernetes.io/"+mode]; got != "restricted" {
			t.Errorf("Namespace label pod-security.kubernetes.io/%s = %q, want restricted", mode, got)
		}
	}
	for _, o := range objs {
		if namespaced(o.GetKind()) && o.GetNamespace() != Namespace {
			t.Errorf("%s: namespace %q, want %s", Key(o), o.GetNamespace(), Namespace)
		}
		if !strings.HasPrefix(o.GetName(), "sim-operator-") && o.GetKind() != "CustomResourceDefinition" {
			t.Errorf("%s: name without the sim-operator- prefix", Key(o))
		}
	}

	d := deployment(t, objs)
	checkHardening(t, d)
	checkDefaultResources(t, d)
	c := d.Spec.Template.Spec.Containers[0]
	wantArgs := []string{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8443"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args = %q, want %q", c.Args, wantArgs)
	}
	if want := []string{"/manager"}; !slices.Equal(c.Command, want) {
		t.Errorf("command = %q, want %q", c.Command, want)
	}
	if c.Image != "sim-operator:latest" {
		t.Errorf("image = %q, want sim-operator:latest (the Makefile's IMG)", c.Image)
	}
	if d.Namespace != Namespace || d.Name != "sim-operator-controller-manager" {
		t.Errorf("Deployment %s/%s, want %s/sim-operator-controller-manager", d.Namespace, d.Name, Namespace)
	}
	checkMetricsService(t, objs, d, 8443)
	checkRBAC(t, objs, d)
	checkCRDs(t, objs, false)
}

func TestChartLint(t *testing.T) {
	for name, vals := range map[string]map[string]any{"defaults": nil, "all values": allValues} {
		if problems := LintChart(vals); len(problems) > 0 {
			t.Errorf("helm lint --strict (%s):\n%s", name, strings.Join(problems, "\n"))
		}
	}
}

// TestChartMatchesKustomize: with default values and the release name sim-operator, the chart
// installs the same objects as dist/install.yaml (less the Namespace, which Helm leaves to
// --create-namespace), with the same names, RBAC rules, CRDs and manager pod spec.
func TestChartMatchesKustomize(t *testing.T) {
	render(t)
	var want []string
	for _, o := range kustomizeObjs {
		if o.GetKind() != kindNamespace {
			want = append(want, Key(o))
		}
	}
	got := Keys(chartObjs)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("chart objects differ from dist/install.yaml:\n chart only: %q\n install.yaml only: %q",
			minus(got, want), minus(want, got))
	}

	kd, cd := deployment(t, kustomizeObjs), deployment(t, chartObjs)
	checkHardening(t, cd)
	checkDefaultResources(t, cd)
	if !equality.Semantic.DeepEqual(kd.Spec.Template.Spec, cd.Spec.Template.Spec) {
		t.Errorf("manager pod spec differs between dist/install.yaml and the chart:\ninstall.yaml: %s\nchart: %s",
			toYAML(kd.Spec.Template.Spec), toYAML(cd.Spec.Template.Spec))
	}
	if *kd.Spec.Replicas != *cd.Spec.Replicas {
		t.Errorf("replicas: install.yaml %d, chart %d", *kd.Spec.Replicas, *cd.Spec.Replicas)
	}
	checkMetricsService(t, chartObjs, cd, 8443)
	checkRBAC(t, chartObjs, cd)
	checkCRDs(t, chartObjs, true)

	rules := func(objs []*unstructured.Unstructured) map[string][]rbacv1.PolicyRule {
		m := map[string][]rbacv1.PolicyRule{}
		for _, o := range objs {
			if o.GetKind() == kindRole || o.GetKind() == kindClusterRole {
				var r rbacv1.ClusterRole
				fromUnstructured(t, o, &r)
				m[Key(o)] = r.Rules
			}
		}
		return m
	}
	kr, cr := rules(kustomizeObjs), rules(chartObjs)
	for key, r := range kr {
		if !equality.Semantic.DeepEqual(r, cr[key]) {
			t.Errorf("%s: rules differ\ninstall.yaml: %s\nchart: %s", key, toYAML(r), toYAML(cr[key]))
		}
	}
	for _, o := range chartObjs {
		for _, l := range []string{
			"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart",
		} {
			if o.GetLabels()[l] == "" {
				t.Errorf("%s: no label %s", Key(o), l)
			}
		}
	}
}

func TestChartAllValues(t *testing.T) {
	render(t)
	objs := chartAllObjs
	d := deployment(t, objs)
	checkHardening(t, d)
	c := d.Spec.Template.Spec.Containers[0]
	wantArgs := []string{
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=0",
		"--cluster-resource-namespace=identity-secrets",
		"--tenant-host-allowlist=*.identitynow.com,acme.example.com:8443",
		"--allow-private-networks",
		"--allow-insecure-http",
		"--max-concurrent-reconciles=8",
		"--zap-log-level=debug",
	}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args = %q, want %q", c.Args, wantArgs)
	}
	if c.Image != "registry.example.com:5000/platform/sim-operator:v0.3.1" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image %q pull %q", c.Image, c.ImagePullPolicy)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *d.Spec.Replicas)
	}
	if c.Resources.Requests.Memory().Cmp(resource.MustParse("256Mi")) != 0 ||
		c.Resources.Limits.Memory().Cmp(resource.MustParse("512Mi")) != 0 {
		t.Errorf("resources = %v", c.Resources)
	}
	if len(c.Env) != 2 || c.Env[1].Name != "HTTPS_PROXY" {
		t.Errorf("env = %v, want POD_NAMESPACE and HTTPS_PROXY", c.Env)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "sim-operator-sa" {
		t.Errorf("serviceAccountName = %q", d.Spec.Template.Spec.ServiceAccountName)
	}
	if d.Spec.Template.Labels["team"] != "iam" || d.Spec.Template.Annotations["example.com/scrape"] != "false" ||
		d.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"] != "manager" {
		t.Errorf("pod labels %v annotations %v", d.Spec.Template.Labels, d.Spec.Template.Annotations)
	}
	if len(d.Spec.Template.Spec.Tolerations) != 1 {
		t.Errorf("tolerations = %v", d.Spec.Template.Spec.Tolerations)
	}
	for _, p := range c.Ports {
		if p.Name == metricsPortName {
			t.Errorf("metrics port present with metrics.enabled=false")
		}
	}
	checkRBAC(t, objs, d)

	got := Keys(objs)
	slices.Sort(got)
	want := []string{
		"ClusterRole sim-operator-manager-role",
		"ClusterRoleBinding sim-operator-manager-rolebinding",
		"Deployment " + Namespace + "/sim-operator-controller-manager",
		"ServiceAccount " + Namespace + "/sim-operator-sa",
	}
	if !slices.Equal(got, want) {
		t.Errorf("objects = %q, want %q (no CRDs, user roles, leader election or metrics objects)", got, want)
	}
}

// ---------------------------------------------------------------------------------------------
// Server-side dry run against a real kube-apiserver.

var (
	envOnce sync.Once
	env     *apiServer
	envErr  error
)

type apiServer struct {
	testEnv  *envtest.Environment
	dyn      dynamic.Interface
	mapper   meta.RESTMapper
	warnings *warningRecorder
	kubectl  func(args ...string) (string, string, error)
}

// warningRecorder collects the Warning headers of the API server's responses (deprecations, Pod
// Security violations, unknown fields). Requests run one at a time, so Take separates them.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningRecorder) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// startAPIServer starts kube-apiserver and etcd with the CRDs of config/crd/bases installed, once.
func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	envOnce.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			envErr = fmt.Errorf("KUBEBUILDER_ASSETS is not set: run `make test`, " +
				"or set it to the directory `make envtest-assets` fills")
			return
		}
		te := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join(harness.RepoRoot(), "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		cfg, err := te.Start()
		if err != nil {
			envErr = fmt.Errorf("start envtest: %w", err)
			return
		}
		s := &apiServer{testEnv: te, warnings: &warningRecorder{}}
		env = s
		cfg = rest.CopyConfig(cfg)
		cfg.WarningHandler = s.warnings
		if s.dyn, err = dynamic.NewForConfig(cfg); err != nil {
			envErr = err
			return
		}
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			envErr = err
			return
		}
		s.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
		user, err := te.AddUser(envtest.User{Name: "install-test", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			envErr = err
			return
		}
		kubectl, err := user.Kubectl()
		if err != nil {
			envErr = err
			return
		}
		s.kubectl = func(args ...string) (string, string, error) {
			stdout, stderr, err := kubectl.Run(args...)
			o, _ := io.ReadAll(stdout)
			e, _ := io.ReadAll(stderr)
			return string(o), string(e), err
		}
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return env
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
	os.Exit(code)
}

// apply sends obj as a server-side apply; with dryRun the server validates, defaults and admits it
// (schemas, CEL, Pod Security, RBAC escalation checks) but stores nothing.
func (s *apiServer) apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) ([]string, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("no resource for %s: %w", gvk, err)
	}
	opts := metav1.ApplyOptions{FieldManager: "install-test", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = s.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = s.dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	}
	s.warnings.Take()
	_, err = ri.Apply(ctx, obj.GetName(), obj, opts)
	return s.warnings.Take(), err
}

// createNamespace applies install.yaml's own Namespace for real, so its Pod Security labels apply to
// the dry runs that follow.
func createNamespace(t *testing.T, s *apiServer) {
	t.Helper()
	render(t)
	ns := ByKind(kustomizeObjs, kindNamespace)
	if len(ns) != 1 {
		t.Fatalf("install.yaml has %d Namespaces", len(ns))
	}
	if warnings, err := s.apply(t.Context(), ns[0], false); err != nil || len(warnings) > 0 {
		t.Fatalf("create %s: %v %q", Key(ns[0]), err, warnings)
	}
}

func TestServerDryRun(t *testing.T) {
	render(t)
	s := startAPIServer(t)
	createNamespace(t, s)
	if _, err := s.apply(t.Context(), NamespaceObject("argocd"), false); err != nil {
		t.Fatal(err)
	}
	for name, objs := range map[string][]*unstructured.Unstructured{
		"install.yaml":      kustomizeObjs,
		"chart defaults":    chartObjs,
		"chart all values":  chartAllObjs,
		"argocd-cm (patch)": argoCMPatch(t),
	} {
		t.Run(name, func(t *testing.T) {
			if len(objs) == 0 {
				t.Fatal("nothing to apply")
			}
			for _, obj := range objs {
				warnings, err := s.apply(t.Context(), obj, true)
				if err != nil {
					t.Errorf("%s rejected: %v", Key(obj), err)
					continue
				}
				if len(warnings) > 0 {
					t.Errorf("%s: API server warnings: %q", Key(obj), warnings)
				}
			}
		})
	}
	// A dry run stores nothing.
	d := deploymentObject(t, kustomizeObjs)
	deployments := s.dyn.Resource(mustMapping(t, s, d).Resource).Namespace(d.GetNamespace())
	if _, err := deployments.Get(t.Context(), d.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get %s after the dry runs: %v, want NotFound", Key(d), err)
	}
}

// TestPodSecurityIsEnforced proves the warning check of TestServerDryRun can fail: the same
// Deployment without its hardening draws Pod Security warnings in the namespace of install.yaml.
func TestPodSecurityIsEnforced(t *testing.T) {
	render(t)
	s := startAPIServer(t)
	createNamespace(t, s)
	obj := deploymentObject(t, kustomizeObjs).DeepCopy()
	unstructured.RemoveNestedField(obj.Object, "spec", "template", "spec", "securityContext")
	containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
	delete(containers[0].(map[string]any), "securityContext")
	if err := unstructured.SetNestedSlice(obj.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	warnings, err := s.apply(t.Context(), obj, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) == 0 || !strings.Contains(strings.Join(warnings, " "), "restricted") {
		t.Errorf("want Pod Security warnings for a Deployment without securityContext, got %q", warnings)
	}
}

// TestKubectlServerDryRun applies the whole install.yaml and chart stream as users do, with
// `kubectl apply --server-side --dry-run=server`, using the kubectl of KUBEBUILDER_ASSETS.
func TestKubectlServerDryRun(t *testing.T) {
	render(t)
	s := startAPIServer(t)
	createNamespace(t, s)
	for name, data := range map[string][]byte{"install.yaml": kustomizeYAML, "chart": chartYAML} {
		t.Run(name, func(t *testing.T) {
			objs, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "manifest.yaml")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := s.kubectl("apply", "--server-side", "--force-conflicts",
				"--field-manager=install-test", "--dry-run=server", "-f", file)
			if err != nil {
				t.Fatalf("kubectl apply: %v\n%s\n%s", err, stdout, stderr)
			}
			n := strings.Count(stdout, "serverside-applied (server dry run)")
			if n != len(objs) {
				t.Errorf("kubectl applied %d of %d objects:\n%s\n%s", n, len(objs), stdout, stderr)
			}
		})
	}
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the tests.

// checkHardening asserts the security properties of the manager Deployment.
func checkHardening(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext.seccompProfile is not RuntimeDefault")
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("container has no securityContext")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("privileged")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %v, want drop [ALL] and no add", sc.Capabilities)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("pod uses host namespaces")
	}
	if pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken false: the manager needs its token")
	}
	checkContainer(t, c)
}

// checkContainer asserts the manager container's resources, environment and probes.
func checkContainer(t *testing.T, c corev1.Container) {
	t.Helper()
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Memory().IsZero() ||
		c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources = %v: want cpu and memory requests and a memory limit", c.Resources)
	}
	var podNamespace bool
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			podNamespace = true
		}
	}
	if !podNamespace {
		t.Errorf("env POD_NAMESPACE from metadata.namespace missing")
	}
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port.IntValue() != 8081 {
			t.Errorf("probe %s on :8081 missing: %v", name, p)
		}
	}
}

// checkDefaultResources asserts the default requests and limits.
func checkDefaultResources(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	res := d.Spec.Template.Spec.Containers[0].Resources
	for name, q := range map[string]struct {
		got  *resource.Quantity
		want string
	}{
		"requests.cpu":    {res.Requests.Cpu(), "100m"},
		"requests.memory": {res.Requests.Memory(), "128Mi"},
		"limits.memory":   {res.Limits.Memory(), "256Mi"},
	} {
		if q.got.Cmp(resource.MustParse(q.want)) != 0 {
			t.Errorf("resources.%s = %s, want %s", name, q.got, q.want)
		}
	}
	if !res.Limits.Cpu().IsZero() {
		t.Errorf("CPU limit %s: none wanted (throttling only slows reconciles)", res.Limits.Cpu())
	}
}

// checkRBAC asserts that no Role or ClusterRole grants "*", that Secrets are at most read, and that
// the manager's ClusterRole is exactly config/rbac/role.yaml and is bound to the Deployment's
// ServiceAccount.
func checkRBAC(t *testing.T, objs []*unstructured.Unstructured, d *appsv1.Deployment) {
	t.Helper()
	var manager *rbacv1.ClusterRole
	for _, o := range objs {
		if o.GetKind() != kindRole && o.GetKind() != kindClusterRole {
			continue
		}
		var r rbacv1.ClusterRole
		fromUnstructured(t, o, &r)
		if r.AggregationRule != nil {
			t.Errorf("%s: aggregationRule", Key(o))
		}
		checkRules(t, Key(o), r.Rules)
		if strings.HasSuffix(r.Name, "leader-election-role") {
			checkLeaderElectionRules(t, Key(o), r.Rules)
		}
		if strings.HasSuffix(r.Name, "-manager-role") {
			manager = &r
		}
	}
	if manager == nil {
		t.Fatalf("no manager ClusterRole")
	}
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var generated rbacv1.ClusterRole
	if err := sigsyaml.Unmarshal(data, &generated); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(manager.Rules, generated.Rules) {
		t.Errorf("%s rules differ from config/rbac/role.yaml (run `make manifests`):\ngot: %s\nwant: %s",
			manager.Name, toYAML(manager.Rules), toYAML(generated.Rules))
	}
	var bound bool
	for _, o := range ByKind(objs, "ClusterRoleBinding") {
		var b rbacv1.ClusterRoleBinding
		fromUnstructured(t, o, &b)
		if b.RoleRef.Kind != kindClusterRole || b.RoleRef.Name != manager.Name {
			continue
		}
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == d.Spec.Template.Spec.ServiceAccountName && s.Namespace == d.Namespace {
				bound = true
			}
		}
	}
	if !bound {
		t.Errorf("%s is not bound to ServiceAccount %s/%s",
			manager.Name, d.Namespace, d.Spec.Template.Spec.ServiceAccountName)
	}
	for _, o := range ByKind(objs, "ServiceAccount") {
		if o.GetName() == d.Spec.Template.Spec.ServiceAccountName {
			return
		}
	}
	t.Errorf("ServiceAccount %s is not installed", d.Spec.Template.Spec.ServiceAccountName)
}

// checkLeaderElectionRules asserts that the leader-election Role grants Leases (controller-runtime's only
// lock) and nothing on ConfigMaps, which it never uses.
func checkLeaderElectionRules(t *testing.T, key string, rules []rbacv1.PolicyRule) {
	t.Helper()
	var leases bool
	for i, rule := range rules {
		if slices.Contains(rule.Resources, "configmaps") {
			t.Errorf("%s rule %d grants %q on ConfigMaps; leader election uses Leases only", key, i, rule.Verbs)
		}
		leases = leases || slices.Contains(rule.APIGroups, "coordination.k8s.io") && slices.Contains(rule.Resources, "leases")
	}
	if !leases {
		t.Errorf("%s grants nothing on Leases", key)
	}
}

// checkRules asserts that rules grant no "*", at most read access to Secrets, and no RBAC escalation verbs.
func checkRules(t *testing.T, key string, rules []rbacv1.PolicyRule) {
	t.Helper()
	readOnly := []string{"get", "list", "watch"}
	for i, rule := range rules {
		for field, values := range map[string][]string{
			"verbs": rule.Verbs, "resources": rule.Resources, "apiGroups": rule.APIGroups,
			"nonResourceURLs": rule.NonResourceURLs,
		} {
			if slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, "*") }) {
				t.Errorf("%s rule %d: %s %q contains *", key, i, field, values)
			}
		}
		if slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, "secrets") {
			for _, v := range rule.Verbs {
				if !slices.Contains(readOnly, v) {
					t.Errorf("%s rule %d grants %q on Secrets; only get, list, watch are allowed", key, i, v)
				}
			}
		}
		for _, v := range rule.Verbs {
			if v == "escalate" || v == "bind" || v == "impersonate" {
				t.Errorf("%s rule %d grants %q", key, i, v)
			}
		}
	}
}

// checkCRDs asserts that the installed CRDs are those of config/crd/bases.
func checkCRDs(t *testing.T, objs []*unstructured.Unstructured, helm bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(harness.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	installed := map[string]*unstructured.Unstructured{}
	for _, o := range ByKind(objs, "CustomResourceDefinition") {
		installed[o.GetName()] = o
	}
	if len(installed) != len(files) {
		t.Errorf("%d CRDs installed, config/crd/bases has %d", len(installed), len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want apiextensionsv1.CustomResourceDefinition
		if err := sigsyaml.UnmarshalStrict(data, &want); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		o, ok := installed[want.Name]
		if !ok {
			t.Errorf("CRD %s not installed", want.Name)
			continue
		}
		var got apiextensionsv1.CustomResourceDefinition
		fromUnstructured(t, o, &got)
		if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
			t.Errorf("CRD %s differs from %s (run `make manifests`)", want.Name, filepath.Base(f))
		}
		if helm && got.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s: no helm.sh/resource-policy: keep", want.Name)
		}
	}
}

func checkMetricsService(t *testing.T, objs []*unstructured.Unstructured, d *appsv1.Deployment, port int32) {
	t.Helper()
	svcs := ByKind(objs, "Service")
	if len(svcs) != 1 {
		t.Fatalf("want 1 metrics Service, got %v", Keys(svcs))
	}
	var svc corev1.Service
	fromUnstructured(t, svcs[0], &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != port ||
		svc.Spec.Ports[0].TargetPort.IntValue() != int(port) && svc.Spec.Ports[0].TargetPort.String() != metricsPortName {
		t.Errorf("metrics Service ports = %v, want %d", svc.Spec.Ports, port)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("metrics Service selector %s=%s does not select the manager pods (%v)", k, v, d.Spec.Template.Labels)
		}
	}
	var served bool
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if p.ContainerPort == port && p.Name == metricsPortName {
			served = true
		}
	}
	if !served {
		t.Errorf("the manager container does not declare port https/%d", port)
	}
}

// ---------------------------------------------------------------------------------------------
// Helpers.

func namespaced(kind string) bool {
	switch kind {
	case kindNamespace, "CustomResourceDefinition", kindClusterRole, "ClusterRoleBinding":
		return false
	}
	return true
}

func deploymentObject(t *testing.T, objs []*unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	ds := ByKind(objs, "Deployment")
	if len(ds) != 1 {
		t.Fatalf("want 1 Deployment, got %v", Keys(ds))
	}
	return ds[0]
}

func deployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	fromUnstructured(t, deploymentObject(t, objs), &d)
	return &d
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s: %v", Key(u), err)
	}
}

func mustMapping(t *testing.T, s *apiServer, obj *unstructured.Unstructured) *meta.RESTMapping {
	t.Helper()
	gvk := obj.GroupVersionKind()
	m, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// argoCMPatch is config/argocd/argocd-cm-patch.yaml: a valid ConfigMap on its own.
func argoCMPatch(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "argocd", "argocd-cm-patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func toYAML(v any) string {
	data, err := sigsyaml.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(data)
}

// TestChartValuesSchema: values.schema.json rejects misspelt or mistyped values instead of ignoring them.
func TestChartValuesSchema(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"misspelt flag": {operatorValues: map[string]any{"maxConcurentReconciles": 3}},
		"zero workers":  {operatorValues: map[string]any{"maxConcurrentReconciles": 0}},
		"allowlist with commas": {
			operatorValues: map[string]any{"tenantHostAllowlist": []any{"a.example.com,b.example.com"}},
		},
		"unknown top-level": {"securityContext": map[string]any{"runAsNonRoot": false}},
		"string replicas":   {"replicaCount": "2"},
	} {
		if _, err := RenderChart(vals); err == nil {
			t.Errorf("%s: rendered, want a values.schema.json error", name)
		}
	}
}
