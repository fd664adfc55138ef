//go:build e2ecluster

package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/test/gitops"
	"github.com/sim-operator/sim-operator/test/harness"
	"github.com/sim-operator/sim-operator/test/install"
)

const remoteIDPattern = `^[0-9a-f]{32}$`

var sampleSims = []string{"finance-tickets", "hr-tickets", "servicenow-sim"}

func statusID(g Gomega, name string) string {
	id := jsonpath(g, "sim/"+name, "-n", samplesNS, "-o", "jsonpath={.status.id}")
	g.Expect(id).To(MatchRegexp(remoteIDPattern), "status.id of %s", name)
	return id
}

func remoteRequests(g Gomega, method, id string) []harness.Request {
	reqs, err := fake.Requests(context.Background(), method, "/"+id)
	g.Expect(err).NotTo(HaveOccurred())
	return reqs
}

func remoteNamed(g Gomega, name string) []harness.RemoteObject {
	objs, err := fake.ObjectsNamed(context.Background(), name)
	g.Expect(err).NotTo(HaveOccurred())
	return objs
}

// waitAvailable waits (3 minutes at most) for the rollout of the manager's Deployment and its
// Available condition.
func waitAvailable() {
	GinkgoHelper()
	kubectl("-n", operatorNS, "rollout", "status", "deployment/"+deploymentName, "--timeout=3m")
	kubectl("-n", operatorNS, "wait", "--for=condition=Available", "deployment/"+deploymentName, "--timeout=60s")
}

// expectRestricted checks that the operator's namespace enforces the restricted Pod Security Standard
// and that its running pods meet it: a server-side dry run that pins the enforced version makes the
// admission re-check every pod of the namespace, and warns about each one that would violate it.
func expectRestricted() {
	GinkgoHelper()
	labels := jsonpath(Default, "namespace", operatorNS, "-o", "jsonpath={.metadata.labels}")
	Expect(labels).To(ContainSubstring(`"pod-security.kubernetes.io/enforce":"restricted"`))
	kubectlNoWarning("", "label", "--dry-run=server", "--overwrite", "namespace", operatorNS,
		"pod-security.kubernetes.io/enforce-version=v1.37")
	for _, pod := range managerPods(Default) {
		user := jsonpath(Default, "pod", pod, "-n", operatorNS, "-o",
			`jsonpath={.spec.securityContext.runAsNonRoot} {.spec.securityContext.seccompProfile.type} `+
				`{.spec.containers[0].securityContext.readOnlyRootFilesystem} {.spec.containers[0].securityContext.capabilities.drop}`)
		Expect(user).To(Equal(`true RuntimeDefault true ["ALL"]`), "pod %s", pod)
	}
}

// applySamples applies the samples with kubectl and waits until every tenant and SimIntegration is
// Ready and has its remote object.
func applySamples() {
	GinkgoHelper()
	kubectlNoWarning(toYAML(sampleObjects()), "apply", "-f", "-")
	waitSamplesReady()
}

func waitSamplesReady() {
	GinkgoHelper()
	start := time.Now()
	for _, kind := range []string{"tenants", "clustertenants", "sim"} {
		kubectl("wait", "--for=condition=Ready", kind, "--all", "-A", "--timeout=180s")
	}
	for _, name := range sampleSims {
		id := statusID(Default, name)
		o, ok, err := fake.Object(context.Background(), id)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue(), "the remote object of %s", name)
		Expect(remoteNamed(Default, o.Name())).To(HaveLen(1), "one remote object called %q", o.Name())
	}
	addReport("samples Ready, one remote object each, %.1fs after the apply returned", time.Since(start).Seconds())
}

// expectOnePatch edits a SimIntegration and checks that the change reached the fake as one PATCH.
func expectOnePatch(name, description string) {
	GinkgoHelper()
	id := statusID(Default, name)
	before := len(remoteRequests(Default, "PATCH", id))
	start := time.Now()
	kubectl("patch", "sim", name, "-n", samplesNS, "--type", "merge", "-p",
		fmt.Sprintf(`{"spec":{"description":%q}}`, description))
	Eventually(func(g Gomega) {
		o, ok, err := fake.Object(context.Background(), id)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(BeTrue())
		g.Expect(o.Description()).To(Equal(description))
	}).Should(Succeed())
	took := time.Since(start)
	Eventually(func(g Gomega) {
		gen := jsonpath(g, "sim/"+name, "-n", samplesNS, "-o", "jsonpath={.metadata.generation}")
		g.Expect(jsonpath(g, "sim/"+name, "-n", samplesNS, "-o",
			`jsonpath={.status.conditions[?(@.type=="Ready")].observedGeneration}/{.status.conditions[?(@.type=="Ready")].status}`)).
			To(Equal(gen + "/True"))
	}).Should(Succeed())
	Consistently(func(g Gomega) {
		g.Expect(remoteRequests(g, "PATCH", id)).To(HaveLen(before+1), "one PATCH for one edit")
	}, 3*time.Second, 250*time.Millisecond).Should(Succeed())
	patch := remoteRequests(Default, "PATCH", id)[before]
	Expect(patch.Status).To(Equal(http.StatusOK))
	Expect(patch.Body).To(ContainSubstring(`"/description"`))
	Expect(patch.Body).NotTo(ContainSubstring(`"/attributes"`), "only what changed is sent")
	addReport("edit of %s reached the fake as 1 PATCH in %.1fs", name, took.Seconds())
}

// metricsGet asks the manager's metrics endpoint through its Service's cluster IP (kube-proxy's rules
// route it from the host) with token, if not empty.
func metricsGet(g Gomega, clusterIP, token string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// The manager serves metrics with a self-signed certificate (no cert-manager here).
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a test of the authn/authz, not of TLS
	}}
	req, err := http.NewRequest(http.MethodGet, "https://"+clusterIP+":8443/metrics", nil)
	g.Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func createToken(sa string) string {
	GinkgoHelper()
	token := strings.TrimSpace(kubectl("create", "token", sa, "-n", samplesNS, "--duration=10m"))
	Expect(token).NotTo(BeEmpty())
	addSecret(token)
	return token
}

func lease(g Gomega) *coordinationv1.Lease {
	l := &coordinationv1.Lease{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: operatorNS, Name: leaseName}, l)).To(Succeed())
	return l
}

// leaderPod is the pod whose identity holds the Lease (controller-runtime's identity is the hostname,
// the pod's name, then "_" and a UUID).
func leaderPod(g Gomega) string {
	l := lease(g)
	g.Expect(l.Spec.HolderIdentity).NotTo(BeNil())
	pod, _, ok := strings.Cut(*l.Spec.HolderIdentity, "_")
	g.Expect(ok).To(BeTrue(), "holder identity %q", *l.Spec.HolderIdentity)
	return pod
}

// reconciling tells whether a manager's log shows its controllers started, which happens only
// once it leads.
func reconciling(log string) bool { return strings.Contains(log, "Starting workers") }

var _ = Describe("sim-operator on a real cluster", Ordered, func() {
	Context("installed from dist/install.yaml", Ordered, func() {
		It("applies without a Pod Security warning and becomes Available under restricted", func() {
			start := time.Now()
			kubectlNoWarning("", "apply", "-f", installYAML)
			waitAvailable()
			addReport("dist/install.yaml: Deployment Available %.1fs after kubectl apply", time.Since(start).Seconds())
			expectRestricted()
			Expect(jsonpath(Default, "deployment", deploymentName, "-n", operatorNS, "-o",
				"jsonpath={.spec.template.spec.containers[0].image}")).To(Equal(image))
		})

		It("is pointed at the fake IdentityNow on the host IP with the operator's flags", func() {
			// What a user's kustomize overlay would add for a tenant reached by IP over http.
			kubectl("-n", operatorNS, "patch", "deployment", deploymentName, "--type", "json", "-p", fmt.Sprintf(
				`[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--allow-insecure-http"},`+
					`{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--tenant-host-allowlist=%s:*"}]`, hostIP))
			waitAvailable()
			expectRestricted()
		})

		It("serves metrics through its Service: 401 without a token, 403 unbound, 200 for metrics-reader", func() {
			clusterIP := strings.TrimSpace(jsonpath(Default, "service", metricsService, "-n", operatorNS, "-o",
				"jsonpath={.spec.clusterIP}"))
			Expect(clusterIP).To(MatchRegexp(`^10\.`))
			Eventually(func(g Gomega) {
				code, _ := metricsGet(g, clusterIP, "")
				g.Expect(code).To(Equal(http.StatusUnauthorized))
			}).Should(Succeed())

			kubectl("create", "serviceaccount", "e2e-unbound", "-n", samplesNS)
			unbound := createToken("e2e-unbound")
			// Each check is retried: right after a rollout the Service can still route a connection to
			// the pod being replaced, which refuses it while it stops.
			Eventually(func(g Gomega) {
				code, _ := metricsGet(g, clusterIP, unbound)
				g.Expect(code).To(Equal(http.StatusForbidden))
			}).Should(Succeed())

			kubectl("create", "serviceaccount", "e2e-metrics-reader", "-n", samplesNS)
			kubectl("create", "clusterrolebinding", "e2e-metrics-reader", "--clusterrole="+metricsReader,
				"--serviceaccount="+samplesNS+":e2e-metrics-reader")
			token := createToken("e2e-metrics-reader")
			Eventually(func(g Gomega) {
				code, body := metricsGet(g, clusterIP, token)
				g.Expect(code).To(Equal(http.StatusOK))
				g.Expect(body).To(ContainSubstring("controller_runtime_"))
			}).Should(Succeed())
			addReport("metrics through Service %s:8443: 401 without a token, 403 unbound, 200 bound to %s",
				clusterIP, metricsReader)
		})

		It("makes the samples Ready", func() {
			applySamples()
			objs, err := fake.Objects(context.Background())
			Expect(err).NotTo(HaveOccurred())
			Expect(objs).To(HaveLen(len(sampleSims)), "one remote object per SimIntegration")
		})

		It("sends an edit to the fake as one PATCH", func() {
			expectOnePatch("hr-tickets", "changed in the cluster")
		})

		It("deletes the remote object with the SimIntegration", func() {
			id := statusID(Default, "hr-tickets")
			kubectl("delete", "sim", "hr-tickets", "-n", samplesNS, "--timeout=90s")
			_, ok, err := fake.Object(context.Background(), id)
			Expect(err).NotTo(HaveOccurred())
			Expect(ok).To(BeFalse(), "the remote object is gone")
			Expect(remoteRequests(Default, "DELETE", id)).To(HaveLen(1))
		})

		It("logs no secret", func() {
			expectNoSecretsInLogs("install-yaml")
		})

		It("uninstalls: the samples, then kubectl delete -f dist/install.yaml leaves nothing", func() {
			start := time.Now()
			kubectl("delete", "sim", "--all", "-n", samplesNS, "--timeout=90s")
			kubectl("delete", "tenants", "--all", "-n", samplesNS, "--timeout=90s")
			kubectl("delete", "clustertenants", "--all", "--timeout=90s")
			kubectl("delete", "clusterrolebinding", "e2e-metrics-reader")
			kubectl("delete", "-f", installYAML, "--timeout=3m", "--wait")
			Expect(kubectl("get", "crds", "-o", "name")).NotTo(ContainSubstring("sim.identitynow.io"))
			Expect(kubectl("get", "clusterroles,clusterrolebindings", "-o", "name")).NotTo(ContainSubstring("sim-operator"))
			_, _, err := run(context.Background(), "", "get", "namespace", operatorNS)
			Expect(err).To(MatchError(ContainSubstring("NotFound")))
			addReport("dist/install.yaml: uninstalled (CRDs, RBAC, namespace gone) in %.1fs", time.Since(start).Seconds())
			resetFake(context.Background())
		})
	})

	Context("installed from the Helm chart", Ordered, func() {
		It("creates and labels the namespace as the chart README says, installs without warning, Available", func() {
			readme, err := os.ReadFile(filepath.Join(install.ChartDir(), "README.md"))
			Expect(err).NotTo(HaveOccurred())
			var lines []string
			for l := range strings.Lines(string(readme)) {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, "kubectl create namespace ") ||
					strings.HasPrefix(l, "kubectl label namespace ") {
					lines = append(lines, l)
				}
			}
			Expect(lines).To(HaveLen(2), "the chart README's kubectl lines for the namespace")
			for _, l := range lines {
				kubectlNoWarning("", strings.Fields(l)[1:]...)
			}

			repo, tag, ok := strings.Cut(image, ":")
			Expect(ok).To(BeTrue())
			rendered, err := install.RenderChart(map[string]any{
				"replicaCount": 2,
				"image":        map[string]any{"repository": repo, "tag": tag},
				"operator": map[string]any{
					"allowInsecureHTTP":   true,
					"tenantHostAllowlist": []any{hostIP + ":*"},
					// The most verbose level: client-go logs request and response bodies.
					"extraArgs": []any{"--zap-log-level=10"},
				},
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(filepath.Join(logDir, "chart-rendered.yaml"), rendered, 0o644)).To(Succeed())
			start := time.Now()
			// helm install creates each object in Helm's install order, as kubectl create does here.
			kubectlNoWarning(string(rendered), "create", "-f", "-")
			waitAvailable()
			addReport("Helm chart: Deployment (2 replicas) Available %.1fs after install", time.Since(start).Seconds())
			expectRestricted()
			Expect(managerPods(Default)).To(HaveLen(2))
		})

		It("applies the samples as Flux's kustomize-controller does, and they become Current", func() {
			ctx := context.Background()
			mapper := k8sClient.RESTMapper()
			poller := polling.NewStatusPoller(k8sClient, mapper, polling.Options{})
			manager := ssa.NewResourceManager(k8sClient, poller, ssa.Owner{
				Field: "kustomize-controller", Group: "kustomize.toolkit.fluxcd.io",
			})
			objs := sampleObjects()
			manager.SetOwnerLabels(objs, "sim-operator-samples", "flux-system")
			// The apply options of kustomize-controller for a Kustomization (spec.force false).
			opts := ssa.DefaultApplyOptions()
			opts.ExclusionSelector = map[string]string{"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}
			opts.IfNotPresentSelector = map[string]string{"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
			opts.ForceSelector = map[string]string{"kustomize.toolkit.fluxcd.io/force": "enabled"}
			opts.Cleanup = ssa.ApplyCleanupOptions{
				Annotations: []string{corev1.LastAppliedConfigAnnotation},
				FieldManagers: []ssa.FieldManager{
					{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationApply},
					{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationUpdate},
					{Name: "before-first-apply", OperationType: metav1.ManagedFieldsOperationUpdate},
				},
				Exclusions: map[string]string{"kustomize.toolkit.fluxcd.io/ssa": "Merge"},
			}
			start := time.Now()
			changes, err := manager.ApplyAllStaged(ctx, objs, opts)
			Expect(err).NotTo(HaveOccurred())
			GinkgoWriter.Printf("server-side apply:\n%s\n", harness.Indent(changes.String(), "  "))
			// spec.wait: true, the health check of every applied object.
			Expect(manager.WaitForSetWithContext(ctx, changes.ToObjMetadataSet(), ssa.WaitOptions{
				Interval: 2 * time.Second, Timeout: 3 * time.Minute, FailFast: true,
			})).To(Succeed())
			took := time.Since(start)
			for _, name := range sampleSims {
				u := &unstructured.Unstructured{}
				u.SetAPIVersion(gitops.APIVersion)
				u.SetKind(gitops.KindSimIntegration)
				Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: samplesNS, Name: name}, u)).To(Succeed())
				st, msg, err := gitops.KStatus(u.Object)
				Expect(err).NotTo(HaveOccurred())
				Expect(st).To(Equal(status.CurrentStatus), "kstatus of %s: %s", name, msg)
			}
			addReport("Flux-style apply (fluxcd/pkg/ssa ApplyAllStaged + WaitForSet): %d objects Current in %.1fs",
				len(objs), took.Seconds())

			By("applying again, as the next Kustomization interval does: nothing drifted")
			again, err := manager.ApplyAllStaged(ctx, sampleObjectsWithOwner(manager), opts)
			Expect(err).NotTo(HaveOccurred())
			for _, e := range again.Entries {
				Expect(e.Action).To(Equal(ssa.UnchangedAction), "%s", e.String())
			}
			waitSamplesReady()
		})

		It("elects one leader that alone reconciles, and hands over when its pod is deleted", func() {
			var leader, other string
			Eventually(func(g Gomega) {
				pods := managerPods(g)
				g.Expect(pods).To(HaveLen(2))
				leader = leaderPod(g)
				g.Expect(pods).To(ContainElement(leader))
				other = pods[0]
				if other == leader {
					other = pods[1]
				}
				g.Expect(reconciling(podLogs(g, leader))).To(BeTrue(), "the leader's controllers started")
			}).Should(Succeed())
			otherLog := podLogs(Default, other)
			Expect(strings.ToLower(otherLog)).To(ContainSubstring("attempting to acquire leader lease"))
			Expect(strings.ToLower(otherLog)).NotTo(ContainSubstring("successfully acquired lease"))
			Expect(reconciling(otherLog)).To(BeFalse(), "the replica that is not the leader does not reconcile")
			transitions := *lease(Default).Spec.LeaseTransitions

			By("deleting the leader's pod " + leader)
			start := time.Now()
			kubectl("delete", "pod", leader, "-n", operatorNS, "--wait=false")
			// The lease goes to the standby or to the pod that replaces the deleted one, whichever asks
			// first once the leader released it on its way out.
			var leased, reconciles time.Duration
			var next string
			Eventually(func(g Gomega) {
				if leased == 0 {
					if p := leaderPod(g); p != leader {
						next, leased = p, time.Since(start)
					}
				}
				g.Expect(leased).NotTo(BeZero(), "the Lease is still held by the deleted pod")
				g.Expect(reconciling(podLogs(g, next))).To(BeTrue())
				reconciles = time.Since(start)
			}, time.Minute, 50*time.Millisecond).Should(Succeed())
			Expect(*lease(Default).Spec.LeaseTransitions).To(Equal(transitions + 1))
			role := "the replacement pod"
			if next == other {
				role = "the standby"
			}
			addReport("leader handover: pod %s deleted; the Lease went to %s (%s) after %.2fs, whose controllers "+
				"started after %.2fs", leader, next, role, leased.Seconds(), reconciles.Seconds())

			waitAvailable()
			Eventually(func(g Gomega) {
				pods := managerPods(g)
				g.Expect(pods).To(HaveLen(2))
				var leading []string
				for _, p := range pods {
					if reconciling(podLogs(g, p)) {
						leading = append(leading, p)
					}
				}
				g.Expect(leading).To(Equal([]string{next}), "only the new leader reconciles")
			}).Should(Succeed())
			expectOnePatch("servicenow-sim", "changed after the handover")
		})

		It("survives a kube-apiserver restart: objects converge with no duplicate remote object", func() {
			ctx := context.Background()
			restarts := restartCount(Default)
			By("holding the fake's create responses for 4s, so the create is in flight while the apiserver goes")
			Expect(fake.SetConfig(ctx, map[string]any{"createResponseDelay": "4s"})).To(Succeed())
			DeferCleanup(func() { Expect(fake.SetConfig(ctx, map[string]any{"createResponseDelay": "0s"})).To(Succeed()) })
			kubectlNoWarning(simManifest("restart-probe", "Created across a kube-apiserver restart"),
				"apply", "-n", samplesNS, "-f", "-")
			Eventually(func(g Gomega) { g.Expect(remoteNamed(g, "restart-probe")).To(HaveLen(1)) }).Should(Succeed())

			By("stopping kube-apiserver before the create response arrives, and starting it again on the same etcd")
			down := restartAPIServer(0)
			Expect(fake.SetConfig(ctx, map[string]any{"createResponseDelay": "0s"})).To(Succeed())
			start := time.Now()
			kubectl("wait", "--for=condition=Ready", "sim/restart-probe", "-n", samplesNS, "--timeout=3m")
			converged := time.Since(start)
			objs := remoteNamed(Default, "restart-probe")
			Expect(objs).To(HaveLen(1), "exactly one remote object for the create that was in flight")
			Expect(statusID(Default, "restart-probe")).To(Equal(objs[0].ID))
			all, err := fake.Objects(ctx)
			Expect(err).NotTo(HaveOccurred())
			names := map[string]int{}
			for _, o := range all {
				names[o.Name()]++
			}
			for name, n := range names {
				Expect(n).To(Equal(1), "remote objects called %q", name)
			}
			Expect(all).To(HaveLen(len(sampleSims) + 1))

			By("an edit after the restart still reaches the fake as one PATCH")
			expectOnePatch("finance-tickets", "changed after the kube-apiserver restart")
			waitAvailable()
			addReport("kube-apiserver restart: down for %.1fs (SIGTERM, exit or SIGKILL after 5s, start, /readyz); restart-probe Ready %.1fs later "+
				"with 1 remote object; manager container restarts %d -> %d", down.Seconds(), converged.Seconds(),
				restarts, restartCount(Default))
		})

		It("logs no secret, at the most verbose log level", func() {
			expectNoSecretsInLogs("helm")
		})
	})
})

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

// sampleObjectsWithOwner is sampleObjects with the owner labels kustomize-controller sets.
func sampleObjectsWithOwner(m *ssa.ResourceManager) []*unstructured.Unstructured {
	objs := sampleObjects()
	m.SetOwnerLabels(objs, "sim-operator-samples", "flux-system")
	return objs
}

// restartAPIServer stops the cluster's kube-apiserver, waits down seconds and starts it again on the
// same etcd (hack/e2e-cluster.sh restart-apiserver), and returns how long it was unavailable.
func restartAPIServer(down int) time.Duration {
	GinkgoHelper()
	start := time.Now()
	cmd := exec.Command(clusterScript, "restart-apiserver", fmt.Sprint(down))
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Run()).To(Succeed())
	return time.Since(start)
}
