package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// objectFrom parses one YAML manifest into an unstructured object in namespace ns.
func objectFrom(manifest, ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(manifest), &u.Object)).To(Succeed())
	if u.GetKind() != "ClusterTenant" {
		u.SetNamespace(ns)
	}
	return u
}

// samples reads every manifest in config/samples.
func samples() []*unstructured.Unstructured {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "sim_*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(files).NotTo(BeEmpty())
	var out []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		r := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := r.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else {
				Expect(err).NotTo(HaveOccurred(), f)
			}
			if len(u.Object) > 0 {
				out = append(out, u)
			}
		}
	}
	return out
}

func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "schema-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

const validSim = `
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: sim}
spec:
  tenantRef: {name: acme}
`

const validTenant = `
apiVersion: sim.identitynow.io/v1alpha1
kind: Tenant
metadata: {name: acme}
spec:
  baseURL: https://acme.api.identitynow.com
  credentialsRef: {name: acme-api-client}
`

const validClusterTenant = `
apiVersion: sim.identitynow.io/v1alpha1
kind: ClusterTenant
metadata: {name: acme-scoped}
spec:
  baseURL: https://acme.api.identitynow.com
  credentialsRef: {name: acme-api-client}
`

// with returns manifest with extra spec lines (indented under spec).
func with(manifest string, specLines ...string) string {
	return manifest + "  " + strings.Join(specLines, "\n  ") + "\n"
}

var _ = Describe("CRD schema", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("accepts every sample in config/samples", func() {
		for _, u := range samples() {
			if u.GetKind() != "ClusterTenant" {
				u.SetNamespace(ns)
			} else {
				u.SetName(u.GetName() + "-" + ns)
			}
			Expect(k8sClient.Create(ctx, u)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
		}
	})

	It("applies the documented defaults", func() {
		sim := objectFrom(validSim, ns)
		Expect(k8sClient.Create(ctx, sim)).To(Succeed())
		spec := sim.Object["spec"].(map[string]any)
		Expect(spec).To(HaveKeyWithValue("type", "ServiceNow Service Desk"))
		Expect(spec).To(HaveKeyWithValue("deletionPolicy", "Delete"))
		Expect(spec).To(HaveKeyWithValue("managementPolicy", "Manage"))
		Expect(spec).To(HaveKeyWithValue("adoptionPolicy", "None"))
		Expect(spec).To(HaveKeyWithValue("suspend", false))
		Expect(spec["tenantRef"]).To(HaveKeyWithValue("kind", "Tenant"))
		Expect(spec).NotTo(HaveKey("name"), "spec.name defaults in the operator, not in the object")

		tenant := objectFrom(validTenant, ns)
		Expect(k8sClient.Create(ctx, tenant)).To(Succeed())
		tspec := tenant.Object["spec"].(map[string]any)
		Expect(tspec).To(HaveKeyWithValue("apiRelease", "v2024"))
		Expect(tspec).To(HaveKeyWithValue("pollInterval", "1m"))
		Expect(tspec).To(HaveKeyWithValue("updateStrategy", "Patch"))
		Expect(tspec).To(HaveKeyWithValue("patchFormat", "Operations"))
		Expect(tspec["rateLimit"]).To(Equal(map[string]any{"requests": int64(100), "period": "10s"}))
		Expect(tspec["credentialsRef"]).To(HaveKeyWithValue("clientIDKey", "clientId"))
		Expect(tspec["credentialsRef"]).To(HaveKeyWithValue("clientSecretKey", "clientSecret"))
	})

	DescribeTable("rejects invalid manifests with a clear message",
		func(manifest string, wantMessage string) {
			err := k8sClient.Create(ctx, objectFrom(manifest, ns))
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(wantMessage))
		},
		Entry("SimIntegration without tenantRef", `
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: sim}
spec: {description: x}
`, "spec.tenantRef: Required value"),
		Entry("tenantRef with an unknown kind", with(validSim, "tenantRef: {kind: Organization, name: acme}"),
			`spec.tenantRef.kind: Unsupported value: "Organization"`),
		Entry("tenantRef with an empty name", with(validSim, "tenantRef: {name: ''}"),
			"spec.tenantRef.name: Invalid value"),
		Entry("bad deletionPolicy", with(validSim, "deletionPolicy: Keep"),
			`spec.deletionPolicy: Unsupported value: "Keep": supported values: "Delete", "Orphan"`),
		Entry("bad managementPolicy", with(validSim, "managementPolicy: ReadOnly"),
			`spec.managementPolicy: Unsupported value: "ReadOnly"`),
		Entry("bad adoptionPolicy", with(validSim, "adoptionPolicy: Always"),
			`spec.adoptionPolicy: Unsupported value: "Always"`),
		Entry("an empty remote name", with(validSim, "name: ''"),
			"spec.name: Invalid value"),
		Entry("attributes that are not an object", with(validSim, "attributes: just-a-string"),
			"spec.attributes: Invalid value"),
		Entry("duplicate sources", with(validSim, "sources: [a, a]"),
			"spec.sources[1]: Duplicate value"),
		Entry("duplicate secret attribute names", with(validSim,
			"secretAttributes: [{name: password, secretKeyRef: {name: s, key: a}}, {name: password, secretKeyRef: {name: s, key: b}}]"),
			"spec.secretAttributes[1]: Duplicate value"),
		Entry("a secret attribute without a key", with(validSim,
			"secretAttributes: [{name: password, secretKeyRef: {name: s}}]"),
			"spec.secretAttributes[0].secretKeyRef.key: Required value"),
		Entry("more than 128 attributes", with(validSim, "attributes: {"+manyKeys(129)+"}"),
			"spec.attributes: Too many"),
		Entry("sources by id and by name", with(validSim, "sources: [2c9180835d191a86015d28455b4a2329]", "sourceRefs: [{name: Active Directory}]"),
			"set spec.sources (ids) or spec.sourceRefs (names), not both"),
		Entry("an empty sources list with sourceRefs", with(validSim, "sources: []", "sourceRefs: [{name: Active Directory}]"),
			"set spec.sources (ids) or spec.sourceRefs (names), not both"),
		Entry("a cluster by id and by name", with(validSim, "cluster: xyzzy999", "clusterRef: {name: Production VA Cluster}"),
			"set spec.cluster (an id) or spec.clusterRef (a name), not both"),
		Entry("a source named twice", with(validSim, "sourceRefs: [{name: Workday}, {name: Workday}]"),
			"spec.sourceRefs[1]: Duplicate value"),
		Entry("a source reference without a name", with(validSim, "sourceRefs: [{}]"),
			"spec.sourceRefs[0].name: Required value"),
		Entry("a cluster reference with an empty name", with(validSim, "clusterRef: {name: ''}"),
			"spec.clusterRef.name: Invalid value"),
		Entry("a rule without id", with(validSim, "beforeProvisioningRule: {type: RULE, name: x}"),
			"spec.beforeProvisioningRule.id: Required value"),
		Entry("Tenant without baseURL", `
apiVersion: sim.identitynow.io/v1alpha1
kind: Tenant
metadata: {name: acme}
spec:
  credentialsRef: {name: acme-api-client}
`, "spec.baseURL: Required value"),
		Entry("Tenant without credentialsRef", `
apiVersion: sim.identitynow.io/v1alpha1
kind: Tenant
metadata: {name: acme}
spec: {baseURL: "https://acme.api.identitynow.com"}
`, "spec.credentialsRef: Required value"),
		Entry("Tenant baseURL without a scheme", with(validTenant, "baseURL: acme.api.identitynow.com"),
			"baseURL must start with https://"),
		Entry("Tenant baseURL with user info", with(validTenant, "baseURL: https://admin:hunter2-secret@acme.api.identitynow.com"),
			"baseURL must not carry user info"),
		Entry("Tenant tokenURL with user info", with(validTenant, "tokenURL: https://admin@acme.api.identitynow.com/oauth/token"),
			"tokenURL must not carry user info"),
		Entry("Tenant with an unknown apiRelease", with(validTenant, "apiRelease: v3"),
			`spec.apiRelease: Unsupported value: "v3"`),
		Entry("malformed pollInterval", with(validTenant, "pollInterval: ten minutes"),
			"spec.pollInterval: Invalid value"),
		Entry("pollInterval under 1s", with(validTenant, "pollInterval: 500ms"),
			"pollInterval must be at least 1s"),
		Entry("a negative rate limit", with(validTenant, "rateLimit: {requests: -5, period: 10s}"),
			"spec.rateLimit.requests: Invalid value: -5: spec.rateLimit.requests in body should be greater than or equal to 1"),
		Entry("a zero rate-limit period", with(validTenant, "rateLimit: {requests: 10, period: 0s}"),
			"rateLimit.period must be between 1s and 1h"),
		Entry("a rate-limit period under 1s", with(validTenant, "rateLimit: {requests: 10, period: 500ms}"),
			"rateLimit.period must be between 1s and 1h"),
		Entry("a rate-limit period of a year", with(validTenant, "rateLimit: {requests: 1, period: 8760h}"),
			"rateLimit.period must be between 1s and 1h"),
		Entry("a zero rate-limit request count", with(validTenant, "rateLimit: {requests: 0, period: 10s}"),
			"spec.rateLimit.requests in body should be greater than or equal to 1"),
		Entry("ClusterTenant namespaces that are not DNS labels", with(validClusterTenant, "namespaces: [Team_A]"),
			"spec.namespaces[0]: Invalid value"),
		Entry("ClusterTenant namespaces repeated", with(validClusterTenant, "namespaces: [a, a]"),
			"spec.namespaces[1]: Duplicate value"),
		Entry("ClusterTenant namespaces empty", with(validClusterTenant, "namespaces: []"),
			"spec.namespaces: Invalid value"),
		Entry("a bad updateStrategy", with(validTenant, "updateStrategy: Replace"),
			`spec.updateStrategy: Unsupported value: "Replace"`),
		Entry("a bad patchFormat", with(validTenant, "patchFormat: MergePatch"),
			`spec.patchFormat: Unsupported value: "MergePatch"`),
		Entry("ClusterTenant with a tokenURL that is not a URL", `
apiVersion: sim.identitynow.io/v1alpha1
kind: ClusterTenant
metadata: {name: acme-bad-token}
spec:
  baseURL: https://acme.api.identitynow.com
  tokenURL: "not a url"
  credentialsRef: {name: acme-api-client}
`, "tokenURL must start with https://"),
	)

	It("accepts rate-limit periods from 1s to 1h", func() {
		for i, period := range []string{"1s", "10s", "1h"} {
			tenant := objectFrom(with(validTenant, "rateLimit: {requests: 1, period: "+period+"}"), ns)
			tenant.SetName(fmt.Sprintf("period-%d", i))
			Expect(k8sClient.Create(ctx, tenant)).To(Succeed(), period)
		}
	})

	It("accepts a ClusterTenant scoped by namespaces and a label selector", func() {
		ct := objectFrom(with(validClusterTenant, "namespaces: [team-a, team-b]",
			"namespaceSelector: {matchLabels: {sim.identitynow.io/tenant: shared}}"), ns)
		ct.SetName("scoped-" + ns)
		Expect(k8sClient.Create(ctx, ct)).To(Succeed())
		spec := ct.Object["spec"].(map[string]any)
		Expect(spec["namespaces"]).To(Equal([]any{"team-a", "team-b"}))
		Expect(spec["rateLimit"]).To(Equal(map[string]any{"requests": int64(100), "period": "10s"}), "the inlined Tenant fields keep their defaults")
	})

	It("refuses to change tenantRef after creation", func() {
		sim := objectFrom(validSim, ns)
		Expect(k8sClient.Create(ctx, sim)).To(Succeed())
		Expect(unstructured.SetNestedField(sim.Object, "other", "spec", "tenantRef", "name")).To(Succeed())
		err := k8sClient.Update(ctx, sim)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("tenantRef is immutable"))

		Expect(unstructured.SetNestedField(sim.Object, "acme", "spec", "tenantRef", "name")).To(Succeed())
		Expect(unstructured.SetNestedField(sim.Object, "ClusterTenant", "spec", "tenantRef", "kind")).To(Succeed())
		err = k8sClient.Update(ctx, sim)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("tenantRef is immutable"))
	})

	It("accepts sources and the cluster by name, and either kind of reference alone", func() {
		for i, lines := range [][]string{
			{"sourceRefs: [{name: Active Directory}, {name: active directory}]", "clusterRef: {name: Production VA Cluster}"},
			{"sourceRefs: [{name: Workday}]", "cluster: xyzzy999"},
			{"sources: [2c9180835d191a86015d28455b4a2329]", "clusterRef: {name: Production VA Cluster}"},
		} {
			sim := objectFrom(with(validSim, lines...), ns)
			sim.SetName(fmt.Sprintf("by-name-%d", i))
			Expect(k8sClient.Create(ctx, sim)).To(Succeed(), "%v", lines)
		}
	})

	It("lets a SimIntegration move from ids to names in one update", func() {
		sim := objectFrom(with(validSim, "sources: [2c9180835d191a86015d28455b4a2329]", "cluster: xyzzy999"), ns)
		Expect(k8sClient.Create(ctx, sim)).To(Succeed())
		spec := sim.Object["spec"].(map[string]any)
		delete(spec, "sources")
		delete(spec, "cluster")
		spec["sourceRefs"] = []any{map[string]any{"name": "Active Directory"}}
		spec["clusterRef"] = map[string]any{"name": "Production VA Cluster"}
		Expect(k8sClient.Update(ctx, sim)).To(Succeed())
	})

	It("lets other fields change", func() {
		sim := objectFrom(validSim, ns)
		Expect(k8sClient.Create(ctx, sim)).To(Succeed())
		Expect(unstructured.SetNestedField(sim.Object, "changed", "spec", "description")).To(Succeed())
		Expect(k8sClient.Update(ctx, sim)).To(Succeed())
	})
})

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d: v", i)
	}
	return strings.Join(keys, ", ")
}

var _ = Describe("the optional ValidatingAdmissionPolicy in config/policy", Ordered, func() {
	var ns string
	BeforeAll(func() {
		data, err := os.ReadFile(filepath.Join("..", "..", "config", "policy", "secret-attributes-overlap.yaml"))
		Expect(err).NotTo(HaveOccurred())
		for doc := range strings.SplitSeq(string(data), "\n---\n") {
			u := &unstructured.Unstructured{}
			Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed())
			Expect(k8sClient.Create(ctx, u)).To(Succeed())
		}
		ns = newNamespace()
	})

	It("rejects an attribute set both plainly and from a Secret, naming it", func() {
		overlap := with(validSim, `attributes: {password: plain, url: "https://a"}`,
			"secretAttributes: [{name: password, secretKeyRef: {name: s, key: p}}]")
		attempt := 0
		Eventually(func(g Gomega) {
			// the policy takes a moment to become active: an early attempt may still be admitted
			attempt++
			obj := objectFrom(overlap, ns)
			obj.SetName(fmt.Sprintf("overlap-%d", attempt))
			err := k8sClient.Create(ctx, obj)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring("spec.secretAttributes names attributes that spec.attributes also sets: password"))
		}, 20*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("accepts attributes and secretAttributes that do not overlap", func() {
		fine := with(validSim, `attributes: {url: "https://a"}`, "secretAttributes: [{name: password, secretKeyRef: {name: s, key: p}}]")
		Expect(k8sClient.Create(ctx, objectFrom(strings.Replace(fine, "name: sim", "name: fine", 1), ns))).To(Succeed())
		Expect(k8sClient.Create(ctx, objectFrom(strings.Replace(validSim, "name: sim", "name: bare", 1), ns))).To(Succeed())
	})
})
