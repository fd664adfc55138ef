package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sim-operator/sim-operator/internal/export"
	"github.com/sim-operator/sim-operator/test/harness"
)

// The promotion of a sandbox to production: sim-operator-export --by-name writes the sandbox's
// integrations with their sources and cluster by name; applied unchanged to a namespace whose Tenant
// is another tenant (a second fake, the same names with ids of its own), they become Ready there with
// that tenant's ids.
var _ = Describe("promotion between tenants", Ordered, func() {
	const ns = "production"
	var production *harness.Fake
	productionSources := map[string]string{
		"Active Directory": "2c9180845d191a86015d28455b4b0001",
		"Workday":          "2c9180845d191a86015d28455b4b0002",
		"SAP Finance":      "2c9180845d191a86015d28455b4b0003",
	}
	productionClusters := map[string]string{"Production VA Cluster": "e1ff7bb24c934240bbf55e1aa39e41c5"}

	BeforeAll(func(ctx SpecContext) {
		var err error
		production, err = harness.StartFake(ctx, env.FakeBin, filepath.Join(workDir, "fake-production.log"),
			"--client", harness.SampleClientID+":"+harness.SampleClientSecret, "--masked-attributes", "password")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(production.Stop(5 * time.Second)).To(Succeed()) })
		Expect(production.SetReferences(ctx, productionSources, productionClusters)).To(Succeed())
	}, NodeTimeout(time.Minute))

	It("exports the sandbox by name and converges on production with production's ids", func(ctx SpecContext) {
		By("building sim-operator-export and exporting the sandbox tenant (the samples' fake) by name")
		bin := filepath.Join(workDir, "bin", "sim-operator-export")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/export")
		build.Dir = harness.RepoRoot()
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		exp := exec.CommandContext(ctx, bin, "--base-url", env.Fake.URL, "--allow-insecure-http",
			"--tenant-ref-name", "acme", "--by-name")
		exp.Env = append(os.Environ(), "SAIL_CLIENT_ID="+harness.SampleClientID, "SAIL_CLIENT_SECRET="+harness.SampleClientSecret)
		var stderr strings.Builder
		exp.Stderr = &stderr
		manifests, err := exp.Output()
		Expect(err).NotTo(HaveOccurred(), stderr.String())
		GinkgoWriter.Printf("sim-operator-export --by-name:\n%s\n%s\n", stderr.String(), manifests)
		Expect(string(manifests)).To(ContainSubstring("sourceRefs:"))
		Expect(string(manifests)).To(ContainSubstring("name: Production VA Cluster"))
		for _, id := range harness.SampleSources {
			Expect(string(manifests)).NotTo(ContainSubstring(id), "the sandbox's source ids stay behind")
		}
		Expect(string(manifests)).NotTo(ContainSubstring("external-id"))
		sandboxObjects, err := env.Fake.Objects(ctx)
		Expect(err).NotTo(HaveOccurred())

		By("applying them to a namespace whose Tenant is production, with the placeholder Secrets filled in")
		kubectl("create", "namespace", ns)
		DeferCleanup(func() { // no namespace controller runs here: the objects go first, the namespace is left terminating
			kubectl("delete", "sim", "--all", "-n", ns, "--timeout=90s")
			kubectl("delete", "tenant", "--all", "-n", ns, "--timeout=60s")
			kubectl("delete", "namespace", ns, "--wait=false")
		})
		secret, _, err := harness.SampleSecret(harness.SampleCredentialsSecret)
		Expect(err).NotTo(HaveOccurred())
		kubectlStdin(secret, "apply", "-n", ns, "-f", "-")
		kubectlStdin(fmt.Sprintf(`apiVersion: sim.identitynow.io/v1alpha1
kind: Tenant
metadata: {name: acme}
spec:
  baseURL: %s
  credentialsRef: {name: %s}
`, production.URL, harness.SampleCredentialsSecret), "apply", "-n", ns, "-f", "-")
		kubectlStdin(strings.ReplaceAll(string(manifests), export.Placeholder, "production-servicenow-password"), "apply", "-n", ns, "-f", "-")
		kubectl("wait", "--for=condition=Ready", "sim", "--all", "-n", ns, "--timeout=90s")

		By("finding every integration in production, with production's ids, and nothing new in the sandbox")
		objs, err := production.Objects(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(objs).To(HaveLen(len(sandboxObjects)))
		byName := map[string]harness.RemoteObject{}
		for _, o := range objs {
			byName[o.Name()] = o
		}
		sn := byName["ServiceNow SIM"]
		Expect(sn.Doc["sources"]).To(Equal([]any{productionSources["Active Directory"]}))
		Expect(sn.Doc["cluster"]).To(Equal(productionClusters["Production VA Cluster"]))
		fin := byName["finance-tickets"]
		Expect(fin.Doc["sources"]).To(ConsistOf(productionSources["Workday"], productionSources["SAP Finance"]))
		ids := strings.Fields(kubectl("get", "sim", "-n", ns, "-o", `jsonpath={range .items[*]}{.status.resolvedSources[*].id} {end}`))
		Expect(ids).NotTo(BeEmpty())
		for _, id := range ids {
			Expect(slices.Collect(maps.Values(productionSources))).To(ContainElement(id), "status records production's ids")
		}
		after, err := env.Fake.Objects(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(HaveLen(len(sandboxObjects)), "the sandbox gained nothing")
	}, NodeTimeout(4*time.Minute))
})
