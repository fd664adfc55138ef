package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/sim-operator/sim-operator/test/gitops"
	"github.com/sim-operator/sim-operator/test/harness"
)

const remoteIDPattern = `^[0-9a-f]{32}$`

// kubectl runs kubectl (echoing it to the Ginkgo log) and fails the spec on error.
func kubectl(args ...string) string {
	GinkgoHelper()
	out, err := env.Run(context.Background(), args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// kubectlStdin is kubectl with a manifest on stdin.
func kubectlStdin(stdin string, args ...string) string {
	GinkgoHelper()
	out, err := env.RunStdin(context.Background(), stdin, "<<EOF", args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// liveObject reads an object with `kubectl get -o json`, numbers as int64 as the API machinery has them.
func liveObject(g Gomega, kindName string) map[string]any {
	out, err := env.Kubectl(context.Background(), "get", kindName, "-o", "json")
	g.Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	g.Expect(u.UnmarshalJSON([]byte(out))).To(Succeed())
	return u.Object
}

// jsonpath reads one field of an object with `kubectl get -o jsonpath`, without echoing (it is polled).
func jsonpath(g Gomega, kindName, expr string) string {
	out, err := env.Kubectl(context.Background(), "get", kindName, "-o", "jsonpath="+expr)
	g.Expect(err).NotTo(HaveOccurred())
	return out
}

func statusID(name string) string {
	GinkgoHelper()
	id := jsonpath(Default, "sim/"+name, "{.status.id}")
	Expect(id).To(MatchRegexp(remoteIDPattern), "status.id of %s", name)
	return id
}

// remoteRequests returns the requests the fake received with method, for the remote object id.
func remoteRequests(g Gomega, method, id string) []harness.Request {
	reqs, err := env.Fake.Requests(context.Background(), method, "/"+id)
	g.Expect(err).NotTo(HaveOccurred())
	return reqs
}

func remoteObject(g Gomega, id string) (harness.RemoteObject, bool) {
	o, ok, err := env.Fake.Object(context.Background(), id)
	g.Expect(err).NotTo(HaveOccurred())
	return o, ok
}

// remoteNamed returns the remote objects called name.
func remoteNamed(g Gomega, name string) []harness.RemoteObject {
	objs, err := env.Fake.ObjectsNamed(context.Background(), name)
	g.Expect(err).NotTo(HaveOccurred())
	return objs
}

func simManifest(name, description string) string {
	return fmt.Sprintf(`apiVersion: sim.identitynow.io/v1alpha1
kind: SimIntegration
metadata:
  name: %s
spec:
  tenantRef:
    name: acme
  description: %s
`, name, description)
}

// expectReadyAndCurrent waits until the SimIntegration has handled its latest generation and is Ready.
func expectReadyAndCurrent(name string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		gen := jsonpath(g, "sim/"+name, "{.metadata.generation}")
		g.Expect(jsonpath(g, "sim/"+name, `{.status.conditions[?(@.type=="Ready")].observedGeneration}`)).To(Equal(gen))
		g.Expect(jsonpath(g, "sim/"+name, `{.status.conditions[?(@.type=="Ready")].status}`)).To(Equal("True"))
	}).Should(Succeed())
}

var _ = Describe("sim-operator, driven with kubectl", Ordered, ContinueOnFailure, func() {
	samples := []string{"finance-tickets", "hr-tickets", "servicenow-sim"}

	It("lists the samples with the documented printer columns", func() {
		lines := strings.Split(strings.TrimSpace(kubectl("get", "sim")), "\n")
		Expect(strings.Fields(lines[0])).To(Equal([]string{"NAME", "REMOTE-ID", "READY", "REASON", "LAST-SYNC", "AGE"}))
		Expect(lines).To(HaveLen(1 + len(samples)))
		var names []string
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			Expect(f).To(HaveLen(6), "row %q", l)
			names = append(names, f[0])
			Expect(f[1]).To(MatchRegexp(remoteIDPattern), "REMOTE-ID of %s", f[0])
			Expect(f[2]).To(Equal("True"), "READY of %s", f[0])
			Expect(f[3]).To(Equal("Synced"), "REASON of %s", f[0])
		}
		Expect(names).To(Equal(samples))

		out := kubectl("get", "tenants,clustertenants", "-A", "-o",
			`jsonpath={range .items[*]}{.kind}/{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		Expect(strings.Fields(out)).To(ConsistOf("Tenant/acme=True", "ClusterTenant/acme-shared=True"))
	})

	It("stores the remote id in status.id, and the remote object matches the spec", func() {
		names := map[string]string{"servicenow-sim": "ServiceNow SIM", "hr-tickets": "hr-tickets",
			"finance-tickets": "finance-tickets"}
		for sim, remoteName := range names {
			o, ok := remoteObject(Default, statusID(sim))
			Expect(ok).To(BeTrue(), "remote object of %s", sim)
			Expect(o.Name()).To(Equal(remoteName))
		}
		o, _ := remoteObject(Default, statusID("servicenow-sim"))
		Expect(o.Doc).To(HaveKeyWithValue("description", "Tickets for access requests"))
		Expect(o.Doc["attributes"]).To(HaveKeyWithValue("url", "https://acme.service-now.com"))
		Expect(o.Doc["attributes"]).To(HaveKeyWithValue("password", harness.SampleServiceNowPassword),
			"the secret attribute reaches IdentityNow")
		o, _ = remoteObject(Default, statusID("finance-tickets"))
		Expect(o.Doc["beforeProvisioningRule"]).To(HaveKeyWithValue("id", "2c918085708c274401708c2a8a760001"))
		objs, err := env.Fake.Objects(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(objs).To(HaveLen(len(samples)), "one remote object per SimIntegration, no more")
	})

	It("reports health that Argo CD and Flux read, from the live objects", func() {
		for _, name := range samples {
			obj := liveObject(Default, "sim/"+name)
			health, msg, err := gitops.ArgoHealth(obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(health).To(Equal("Healthy"), "Argo CD health of %s: %s", name, msg)
			st, msg, err := gitops.KStatus(obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(st).To(Equal(status.CurrentStatus), "kstatus of %s: %s", name, msg)
		}
		kubectl("patch", "sim", "servicenow-sim", "--type", "merge", "-p", `{"spec":{"suspend":true}}`)
		Eventually(func(g Gomega) {
			health, _, err := gitops.ArgoHealth(liveObject(g, "sim/servicenow-sim"))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(health).To(Equal("Suspended"))
		}).Should(Succeed())
		kubectl("patch", "sim", "servicenow-sim", "--type", "merge", "-p", `{"spec":{"suspend":false}}`)
		kubectl("wait", "--for=condition=Ready", "sim/servicenow-sim", "--timeout=60s")
	})

	It("documents the API in kubectl explain", func() {
		out := kubectl("explain", "simintegration.spec.tenantRef")
		Expect(out).To(ContainSubstring("FIELD: tenantRef"))
		Expect(out).To(ContainSubstring("Immutable"))
		Expect(out).To(MatchRegexp(`(?m)^\s+kind\s`))
		Expect(out).To(MatchRegexp(`(?m)^\s+name\s`))
	})

	It("sends exactly one JSON Patch when a spec changes", func() {
		id := statusID("hr-tickets")
		Expect(remoteRequests(Default, "PATCH", id)).To(BeEmpty())
		kubectl("patch", "sim", "hr-tickets", "--type", "merge", "-p", `{"spec":{"description":"changed"}}`)
		Eventually(func(g Gomega) {
			o, ok := remoteObject(g, id)
			g.Expect(ok).To(BeTrue())
			g.Expect(o.Description()).To(Equal("changed"))
		}).Should(Succeed())
		expectReadyAndCurrent("hr-tickets")
		Consistently(func(g Gomega) {
			g.Expect(remoteRequests(g, "PATCH", id)).To(HaveLen(1))
		}, 2*time.Second).Should(Succeed())
		patch := remoteRequests(Default, "PATCH", id)[0]
		Expect(patch.Status).To(Equal(200))
		Expect(patch.Body).To(ContainSubstring(`"/description"`))
		Expect(patch.Body).To(ContainSubstring(`"changed"`))
		Expect(patch.Body).NotTo(ContainSubstring(`"/attributes"`), "only what changed is sent")
		Expect(remoteRequests(Default, "PUT", id)).To(BeEmpty())
	})

	It("reconciles at once when sim.identitynow.io/requested-at changes", func() {
		v := time.Now().UTC().Format(time.RFC3339Nano)
		kubectl("annotate", "sim", "hr-tickets", "--overwrite", "sim.identitynow.io/requested-at="+v)
		Eventually(func(g Gomega) string {
			return jsonpath(g, "sim/hr-tickets", "{.status.lastHandledRequestedAt}")
		}).Should(Equal(v))
	})

	It("corrects a change made outside Kubernetes when asked with requested-at", func() {
		id := statusID("hr-tickets")
		Expect(env.Fake.EditObject(context.Background(), id, map[string]any{"description": "edited in the UI"})).
			To(Succeed())
		v := "drift-" + time.Now().UTC().Format(time.RFC3339Nano)
		kubectl("annotate", "sim", "hr-tickets", "--overwrite", "sim.identitynow.io/requested-at="+v)
		Eventually(func(g Gomega) {
			g.Expect(jsonpath(g, "sim/hr-tickets", "{.status.lastHandledRequestedAt}")).To(Equal(v))
			o, _ := remoteObject(g, id)
			g.Expect(o.Description()).To(Equal("changed"))
		}).Should(Succeed())
	})

	It("creates one remote object when the manager is killed while its create is in flight", func() {
		ctx := context.Background()
		By("holding the fake's create responses for 5s, so the manager dies after the remote committed")
		Expect(env.Fake.SetConfig(ctx, map[string]any{"createResponseDelay": "5s"})).To(Succeed())
		DeferCleanup(func() { Expect(env.Fake.SetConfig(ctx, map[string]any{"createResponseDelay": "0s"})).To(Succeed()) })
		kubectlStdin(simManifest("crash-in-flight", "Created while the manager crashes"), "apply", "-f", "-")
		Eventually(func(g Gomega) { g.Expect(remoteNamed(g, "crash-in-flight")).To(HaveLen(1)) }).Should(Succeed())

		By("kill -9 the manager before the create response arrives")
		Expect(env.KillManager()).To(Succeed())
		Expect(jsonpath(Default, "sim/crash-in-flight", "{.status.id}")).To(BeEmpty(),
			"the killed manager never learnt the id")
		Expect(env.Fake.SetConfig(ctx, map[string]any{"createResponseDelay": "0s"})).To(Succeed())

		By("starting the manager again")
		Expect(env.StartManager(ctx)).To(Succeed())
		kubectl("wait", "--for=condition=Ready", "sim/crash-in-flight", "--timeout=60s")
		objs := remoteNamed(Default, "crash-in-flight")
		Expect(objs).To(HaveLen(1), "exactly one remote object after the crash")
		Expect(statusID("crash-in-flight")).To(Equal(objs[0].ID))
	})

	It("creates one remote object when the manager is killed right after kubectl apply", func() {
		ctx := context.Background()
		kubectlStdin(simManifest("crash-after-apply", "Applied just before kill -9"), "apply", "-f", "-")
		Expect(env.KillManager()).To(Succeed())
		Expect(env.StartManager(ctx)).To(Succeed())
		kubectl("wait", "--for=condition=Ready", "sim/crash-after-apply", "--timeout=60s")
		Consistently(func(g Gomega) {
			objs := remoteNamed(g, "crash-after-apply")
			g.Expect(objs).To(HaveLen(1), "exactly one remote object after the crash")
			g.Expect(jsonpath(g, "sim/crash-after-apply", "{.status.id}")).To(Equal(objs[0].ID))
		}, time.Second).Should(Succeed())
	})

	It("deletes the remote object with the SimIntegration", func() {
		id := statusID("hr-tickets")
		kubectl("delete", "sim", "hr-tickets", "--timeout=60s")
		_, ok := remoteObject(Default, id)
		Expect(ok).To(BeFalse(), "the remote object is gone")
		Expect(remoteRequests(Default, "DELETE", id)).To(HaveLen(1))
		_, err := env.Kubectl(context.Background(), "get", "sim", "hr-tickets")
		Expect(err).To(MatchError(ContainSubstring("NotFound")))
	})

	It("leaves the remote object in place with deletionPolicy: Orphan", func() {
		id := statusID("finance-tickets")
		Expect(jsonpath(Default, "sim/finance-tickets", "{.spec.deletionPolicy}")).To(Equal("Orphan"))
		kubectl("delete", "sim", "finance-tickets", "--timeout=60s")
		Consistently(func(g Gomega) {
			_, ok := remoteObject(g, id)
			g.Expect(ok).To(BeTrue(), "the orphaned remote object stays")
			g.Expect(remoteRequests(g, "DELETE", id)).To(BeEmpty())
		}, time.Second).Should(Succeed())
	})

	It("watches Secrets by metadata only, never caching their values", func() {
		log, err := os.ReadFile(env.ManagerLog)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(log)).To(ContainSubstring("kind source: *v1.PartialObjectMetadata[v1 Secret]"))
		Expect(string(log)).NotTo(ContainSubstring("kind source: *v1.Secret"),
			"a full Secret informer would cache every Secret of the cluster")
	})

	It("never shows the client secret or the ServiceNow password, at the most verbose log level", func() {
		log, err := os.ReadFile(env.ManagerLog)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(log), "\n")).To(BeNumerically(">", 100), "the manager logs verbosely")
		expectNoSecrets("the manager log", string(log))

		events := kubectl("get", "events", "-A", "-o", "yaml")
		Expect(strings.Contains(events, "kind: SimIntegration")).To(BeTrue(), "the operator records events")
		expectNoSecrets("the events", events)

		expectNoSecrets("the resources", kubectl("get", "sim,tenants,clustertenants", "-A", "-o", "yaml"))

		tokens, err := env.Fake.Requests(context.Background(), "POST", "/oauth/token")
		Expect(err).NotTo(HaveOccurred())
		Expect(tokens).NotTo(BeEmpty(), "the manager obtained tokens with the client secret")
		reqs, err := env.Fake.RawRequests(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(string(reqs)).NotTo(ContainSubstring(harness.SampleClientSecret),
			"the fake's request log (it redacts credentials) shows the client secret")
	})
})
