package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sim-operator/sim-operator/test/harness"
)

// metricsAddr is where the manager serves /metrics over plain HTTP in this suite.
var metricsAddr = func() string {
	addr, err := harness.FreeAddr()
	if err != nil {
		panic(err)
	}
	return addr
}()

// metricsFlags turn the manager's metrics endpoint on (the harness turns it off).
func metricsFlags() []string {
	return []string{"--metrics-bind-address=" + metricsAddr, "--metrics-secure=false"}
}

// scrape reads the manager's /metrics and returns every sample as `name{l="v",...}` (labels
// sorted, as the exposition writes them) → value, and the body.
func scrape(g Gomega) (map[string]float64, string) {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for l := range strings.SplitSeq(string(body), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		g.Expect(err).NotTo(HaveOccurred(), "sample %q", l)
		out[l[:i]] = v
	}
	return out, string(body)
}

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// samplesOf returns the samples of one metric whose labels include match, by their labels.
func samplesOf(samples map[string]float64, name string, match map[string]string) map[string]float64 {
	out := map[string]float64{}
	for series, v := range samples {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		labels := map[string]string{}
		for _, m := range labelRE.FindAllStringSubmatch(rest, -1) {
			labels[m[1]] = m[2]
		}
		ok := true
		for k, want := range match {
			ok = ok && labels[k] == want
		}
		if ok {
			out[rest] = v
		}
	}
	return out
}

const metricsNS = "observed"

// tenantSel is the tenant label of the suite's Tenant.
var tenantSel = map[string]string{"tenant": "Tenant/" + metricsNS + "/acme"}

// conditionCounts counts the live SimIntegrations of the namespace by condition, status and reason,
// as sim_operator_simintegrations_by_condition does, keyed like its labels.
func conditionCounts(g Gomega) map[string]float64 {
	out, err := env.Kubectl(context.Background(), "get", "sim", "-n", metricsNS, "-o", "json")
	g.Expect(err).NotTo(HaveOccurred())
	var list struct {
		Items []struct {
			Status struct {
				Conditions []struct{ Type, Status, Reason string } `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	g.Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())
	counts := map[string]float64{}
	for _, it := range list.Items {
		for _, c := range it.Status.Conditions {
			counts[fmt.Sprintf(`condition=%q,reason=%q,status=%q`, c.Type, c.Reason, c.Status)]++
		}
	}
	return counts
}

func metricCounts(samples map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for labels, v := range samplesOf(samples, "sim_operator_simintegrations_by_condition", tenantSel) {
		var keep []string
		for _, m := range labelRE.FindAllStringSubmatch(labels, -1) {
			if m[1] != "tenant" {
				keep = append(keep, m[0])
			}
		}
		out[strings.Join(keep, ",")] = v
	}
	return out
}

// nsJSONPath is jsonpath for a SimIntegration of metricsNS.
func nsJSONPath(g Gomega, name, expr string) string {
	out, err := env.Kubectl(context.Background(), "get", "-n", metricsNS, "sim/"+name, "-o", "jsonpath="+expr)
	g.Expect(err).NotTo(HaveOccurred())
	return out
}

// deleteRemote deletes a remote object as someone in IdentityNow would.
func deleteRemote(ctx context.Context, id string) {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, env.Fake.URL+"/_admin/objects/"+id, nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.Body.Close()).To(Succeed())
	Expect(resp.StatusCode / 100).To(Equal(2))
}

func metricValue(g Gomega, samples map[string]float64, name string) float64 {
	s := samplesOf(samples, name, tenantSel)
	g.Expect(s).To(HaveLen(1), "%s of %v", name, tenantSel)
	for _, v := range s {
		return v
	}
	return 0
}

var _ = Describe("state metrics, scraped from the manager binary", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		By("a namespace with its own Tenant on the fake, and SimIntegrations in several states")
		// The Tenant shares the samples' snapshot (same endpoint and credentials), listed before the
		// remote objects below were inserted: the two objects that must see them ask for a fresh read.
		kubectl("create", "namespace", metricsNS)
		secret, _, err := harness.SampleSecret(harness.SampleCredentialsSecret)
		Expect(err).NotTo(HaveOccurred())
		kubectlStdin(secret, "apply", "-n", metricsNS, "-f", "-")
		for _, name := range []string{"m-conflict", "m-observed-remote"} {
			_, err := env.Fake.InsertObject(ctx, map[string]any{"name": name, "type": "ServiceNow Service Desk", "description": "made in the UI"})
			Expect(err).NotTo(HaveOccurred())
		}
		kubectlStdin(fmt.Sprintf(`apiVersion: sim.identitynow.io/v1alpha1
kind: Tenant
metadata: {name: acme}
spec:
  baseURL: %s
  credentialsRef: {name: %s}
---
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: m-ready-1}
spec: {tenantRef: {name: acme}, description: first}
---
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: m-ready-2}
spec: {tenantRef: {name: acme}, description: second}
---
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: m-suspended}
spec: {tenantRef: {name: acme}, description: paused, suspend: true}
---
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: m-observer, annotations: {sim.identitynow.io/requested-at: "1"}}
spec: {tenantRef: {name: acme}, name: m-observed-remote, description: as in git, managementPolicy: ObserveOnly}
---
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: m-conflict, annotations: {sim.identitynow.io/requested-at: "1"}}
spec: {tenantRef: {name: acme}, description: taken}
---
apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata: {name: m-no-secret}
spec:
  tenantRef: {name: acme}
  secretAttributes: [{name: password, secretKeyRef: {name: not-there, key: password}}]
`, env.Fake.URL, harness.SampleCredentialsSecret), "apply", "-n", metricsNS, "-f", "-")
		kubectl("wait", "--for=condition=Ready", "-n", metricsNS, "sim/m-ready-1", "sim/m-ready-2", "sim/m-observer", "--timeout=60s")
		kubectl("wait", "--for=condition=Stalled", "-n", metricsNS, "sim/m-conflict", "sim/m-no-secret", "--timeout=60s")
	})

	// The other specs count the tenants and the remote objects: leave neither behind.
	AfterAll(func(ctx SpecContext) {
		kubectl("delete", "sim", "--all", "-n", metricsNS, "--timeout=60s")
		kubectl("delete", "tenant", "acme", "-n", metricsNS, "--timeout=60s")
		kubectl("delete", "namespace", metricsNS, "--wait=false")
		objs, err := env.Fake.Objects(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, o := range objs {
			if strings.HasPrefix(o.Name(), "m-") {
				deleteRemote(ctx, o.ID)
			}
		}
	})

	It("counts the SimIntegrations by condition and reason as the cluster has them", func() {
		Eventually(func(g Gomega) {
			samples, body := scrape(g)
			g.Expect(metricCounts(samples)).To(Equal(conditionCounts(g)))
			g.Expect(metricCounts(samples)).To(HaveKeyWithValue(`condition="Stalled",reason="NameConflict",status="True"`, 1.0))
			g.Expect(metricCounts(samples)).To(HaveKeyWithValue(`condition="Stalled",reason="SecretNotFound",status="True"`, 1.0))
			g.Expect(metricCounts(samples)).To(HaveKeyWithValue(`condition="Ready",reason="Synced",status="True"`, 2.0))
			g.Expect(metricValue(g, samples, "sim_operator_simintegrations")).To(Equal(6.0))
			g.Expect(metricValue(g, samples, "sim_operator_simintegrations_suspended")).To(Equal(1.0))
			g.Expect(metricValue(g, samples, "sim_operator_simintegrations_observe_only")).To(Equal(1.0))
			g.Expect(metricValue(g, samples, "sim_operator_simintegrations_drifted")).To(Equal(1.0), "the observer's /description")
			g.Expect(metricValue(g, samples, "sim_operator_simintegrations_pending_create")).To(Equal(0.0))
			g.Expect(metricValue(g, samples, "sim_operator_drift_corrections_total")).To(Equal(0.0))
			expectNoSecrets("the metrics", body)
		}).Should(Succeed())
	})

	It("reports the tenant's connection: token, budget, snapshot", func() {
		Eventually(func(g Gomega) {
			samples, _ := scrape(g)
			g.Expect(samplesOf(samples, "sim_operator_tenant_condition",
				map[string]string{"tenant": tenantSel["tenant"], "condition": "Ready", "status": "True", "reason": "TokenObtained"})).To(HaveLen(1))
			g.Expect(metricValue(g, samples, "sim_operator_tenant_budget_requests_limit")).To(Equal(100.0))
			g.Expect(metricValue(g, samples, "sim_operator_tenant_budget_period_seconds")).To(Equal(10.0))
			g.Expect(metricValue(g, samples, "sim_operator_tenant_poll_interval_seconds")).To(Equal(60.0), "the default pollInterval")
			g.Expect(metricValue(g, samples, "sim_operator_tenant_backoff_seconds")).To(Equal(0.0))
			g.Expect(metricValue(g, samples, "sim_operator_tenant_token_failures_total")).To(Equal(0.0))
			g.Expect(metricValue(g, samples, "sim_operator_tenant_snapshot_objects")).To(BeNumerically(">=", 4))
			g.Expect(metricValue(g, samples, "sim_operator_tenant_snapshot_age_seconds")).To(BeNumerically("<", 2*60))
			g.Expect(metricValue(g, samples, "sim_operator_tenant_last_token_success_timestamp_seconds")).
				To(BeNumerically("~", float64(time.Now().Unix()), 600))
		}).Should(Succeed())
	})

	It("counts a drift correction after a change made in IdentityNow, and a recreation after a remote delete", func(ctx SpecContext) {
		id := nsJSONPath(Default, "m-ready-1", "{.status.id}")
		Expect(id).To(MatchRegexp(remoteIDPattern))
		Expect(env.Fake.EditObject(ctx, id, map[string]any{"description": "edited in the UI"})).To(Succeed())
		kubectl("annotate", "sim", "m-ready-1", "-n", metricsNS, "--overwrite", "sim.identitynow.io/requested-at=drift-"+time.Now().UTC().Format(time.RFC3339Nano))
		Eventually(func(g Gomega) {
			o, _ := remoteObject(g, id)
			g.Expect(o.Description()).To(Equal("first"))
			samples, _ := scrape(g)
			g.Expect(metricValue(g, samples, "sim_operator_drift_corrections_total")).To(Equal(1.0))
		}).Should(Succeed())

		id2 := nsJSONPath(Default, "m-ready-2", "{.status.id}")
		deleteRemote(ctx, id2)
		kubectl("annotate", "sim", "m-ready-2", "-n", metricsNS, "--overwrite", "sim.identitynow.io/requested-at=gone-"+time.Now().UTC().Format(time.RFC3339Nano))
		Eventually(func(g Gomega) {
			g.Expect(nsJSONPath(g, "m-ready-2", "{.status.id}")).NotTo(Equal(id2))
			samples, _ := scrape(g)
			g.Expect(metricValue(g, samples, "sim_operator_recreations_total")).To(Equal(1.0))
			g.Expect(metricCounts(samples)).To(Equal(conditionCounts(g)))
		}).Should(Succeed())
	})

	It("counts a SimIntegration as suspended once it is, and its conditions follow", func() {
		kubectl("patch", "sim", "m-ready-1", "-n", metricsNS, "--type", "merge", "-p", `{"spec":{"suspend":true}}`)
		Eventually(func(g Gomega) {
			g.Expect(nsJSONPath(g, "m-ready-1", `{.status.conditions[?(@.type=="Reconciling")].reason}`)).To(Equal("Suspended"))
			samples, _ := scrape(g)
			g.Expect(metricValue(g, samples, "sim_operator_simintegrations_suspended")).To(Equal(2.0))
			g.Expect(metricCounts(samples)).To(Equal(conditionCounts(g)))
		}).Should(Succeed())
	})
})
