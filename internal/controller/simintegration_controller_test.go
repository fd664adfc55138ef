package controller

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

func kstatusOf(s *simv1alpha1.SimIntegration) status.Status {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
	Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

var _ = Describe("SimIntegration", func() {
	It("creates the remote object once, with every spec field, and reports it", func() {
		e := newEnv(time.Minute)
		s := e.create("servicenow", func(s *simv1alpha1.SimIntegration) {
			s.Spec.Cluster = new("xyzzy999")
			s.Spec.Sources = []string{"b-source", "a-source"}
			s.Spec.StatusMap = map[string]string{"closed_complete": "Committed"}
			s.Spec.Request = map[string]string{"short_description": "Access request"}
			s.Spec.BeforeProvisioningRule = &simv1alpha1.RuleReference{Type: "RULE", ID: "rule-1", Name: "Example Rule"}
		})
		got := waitReady(s)
		Expect(got.Status.ID).To(MatchRegexp("^[0-9a-f]{32}$"))
		Expect(got.Status.LastSyncTime).NotTo(BeNil())
		Expect(got.Status.RemoteCreated).NotTo(BeNil())
		Expect(got.Status.PendingCreate).To(BeNil())
		Expect(got.Finalizers).To(ContainElement(simv1alpha1.Finalizer))
		Expect(kstatusOf(got)).To(Equal(status.CurrentStatus))

		doc := remoteDoc(got.Status.ID)
		Expect(doc).To(HaveKeyWithValue("name", e.remoteName("servicenow")))
		Expect(doc).To(HaveKeyWithValue("type", "ServiceNow Service Desk"))
		Expect(doc).To(HaveKeyWithValue("cluster", "xyzzy999"))
		Expect(doc["sources"]).To(Equal([]any{"a-source", "b-source"}))
		Expect(doc["statusMap"]).To(Equal(map[string]any{"closed_complete": "Committed"}))
		Expect(doc["beforeProvisioningRule"]).To(HaveKeyWithValue("id", "rule-1"))
		Expect(e.requests("POST", "")).To(Equal(1))
		Eventually(func() []string { return eventReasons(s) }).Should(ContainElement(ContainSubstring("Created")))

		By("staying idle: no writes over several polls of a synced object")
		writes := e.writes()
		update(s, func(s *simv1alpha1.SimIntegration) {
			s.Annotations = map[string]string{simv1alpha1.AnnotationRequestedAt: "now-1"}
		})
		Eventually(func(g Gomega) { g.Expect(get(s)(g).Status.LastHandledRequestedAt).To(Equal("now-1")) }).Should(Succeed())
		Expect(e.writes()).To(Equal(writes), "a synced object must cause no remote write")
	})

	It("sends only what changed as JSON Patch and the rule on its own route", func() {
		e := newEnv(time.Minute)
		s := e.create("patching", func(s *simv1alpha1.SimIntegration) {
			s.Spec.Attributes = attrs(map[string]any{"url": "https://a", "uid": "svc", "old": "x"})
		})
		id := waitReady(s).Status.ID
		update(s, func(s *simv1alpha1.SimIntegration) {
			s.Spec.Description = new("New description")
			s.Spec.Attributes = attrs(map[string]any{"url": "https://b", "uid": "svc", "new": "y"})
			s.Spec.BeforeProvisioningRule = &simv1alpha1.RuleReference{Type: "RULE", ID: "rule-2"}
		})
		Eventually(func(g Gomega) {
			got := get(s)(g)
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(remoteDoc(id)).To(HaveKeyWithValue("description", "New description"))
		}).Should(Succeed())
		doc := remoteDoc(id)
		Expect(doc["attributes"]).To(Equal(map[string]any{"url": "https://b", "uid": "svc", "new": "y"}))
		Expect(doc["beforeProvisioningRule"]).To(HaveKeyWithValue("id", "rule-2"))
		bodies := e.patchBodies()
		Expect(bodies).To(HaveLen(2))
		Expect(bodies[0]).To(ContainSubstring(`"operations"`))
		Expect(bodies[0]).To(ContainSubstring(`{"op":"remove","path":"/attributes/old"}`))
		Expect(bodies[0]).To(ContainSubstring(`"path":"/description"`))
		Expect(bodies[0]).NotTo(ContainSubstring("/attributes/uid"))
		Expect(e.requests("PATCH", "/beforeProvisioningRule")).To(Equal(1))
		Eventually(func() []string { return eventReasons(s) }).Should(ContainElement(ContainSubstring("/description")))
	})

	It("sends the full object with PUT when the tenant says updateStrategy: Put", func() {
		e := newEnv(time.Minute, func(t *simv1alpha1.Tenant) { t.Spec.UpdateStrategy = simv1alpha1.UpdateStrategyPut })
		s := e.create("putting")
		id := waitReady(s).Status.ID
		update(s, func(s *simv1alpha1.SimIntegration) { s.Spec.Description = new("Put description") })
		Eventually(func() any { return remoteDoc(id)["description"] }).Should(Equal("Put description"))
		Expect(e.requests("PUT", id)).To(Equal(1))
		Expect(e.requests("PATCH", "")).To(Equal(0))
	})

	It("corrects out-of-band edits and recreates an object deleted outside Kubernetes", func() {
		e := newEnv(2 * time.Second)
		s := e.create("drifting")
		id := waitReady(s).Status.ID
		remote.Edit(id, func(doc map[string]any) { doc["description"] = "edited in the UI" })
		Eventually(func() any { return remoteDoc(id)["description"] }, 10*time.Second).Should(Equal("Tickets for drifting"))
		Eventually(func() []string { return eventReasons(s) }).Should(ContainElement(ContainSubstring("DriftCorrected")))

		remote.Remove(id)
		Eventually(func(g Gomega) {
			got := get(s)(g)
			g.Expect(got.Status.ID).NotTo(BeEmpty())
			g.Expect(got.Status.ID).NotTo(Equal(id))
		}, 10*time.Second).Should(Succeed())
		Expect(remoteByName(e.remoteName("drifting"))).To(HaveLen(1))
		Eventually(func() []string { return eventReasons(s) }).Should(ContainElement(ContainSubstring("Recreated")))
	})

	It("observes 50 idle objects with one list call per poll interval and no writes", func() {
		e := newEnv(2 * time.Second)
		var sims []*simv1alpha1.SimIntegration
		for i := range 50 {
			sims = append(sims, e.create("idle-"+string(rune('a'+i/26))+string(rune('a'+i%26))))
		}
		for _, s := range sims {
			waitReady(s)
		}
		writes, lists := e.writes(), e.lists()
		time.Sleep(6 * time.Second) // three poll intervals
		Expect(e.writes()).To(Equal(writes))
		Expect(e.lists()-lists).To(BeNumerically("<=", 4), "about one list per 2s interval, not one call per object")
		Expect(e.requests("GET", "/sim-integrations/")).To(Equal(0), "no per-object GET")
	})

	It("re-sends a masked secret attribute only when its Secret changes", func() {
		e := newEnv(time.Second)
		Expect(k8s.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "servicenow"},
			StringData: map[string]string{"password": "first-password-71"},
		})).To(Succeed())
		s := e.create("secretive", func(s *simv1alpha1.SimIntegration) {
			s.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{{Name: "password",
				SecretKeyRef: simv1alpha1.SecretKeySelector{Name: "servicenow", Key: "password"}}}
			s.Spec.StatusMap = map[string]string{"closed_complete": "Committed"} // not returned by the DTO shape
		})
		got := waitReady(s)
		Expect(remoteDoc(got.Status.ID)["attributes"]).To(HaveKeyWithValue("password", "first-password-71"))
		time.Sleep(3 * time.Second) // three polls: the masked value and missing statusMap must not be re-sent
		Expect(e.requests("PATCH", "")).To(Equal(0))

		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: "servicenow"}, secret)).To(Succeed())
		secret.Data["password"] = []byte("second-password-72")
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(func() any { return remoteDoc(got.Status.ID)["attributes"].(map[string]any)["password"] }).Should(Equal("second-password-72"))
		time.Sleep(3 * time.Second)
		Expect(e.requests("PATCH", "")).To(Equal(1))
		Expect(e.patchBodies()[0]).To(ContainSubstring("/attributes/password"))
		Expect(e.patchBodies()[0]).NotTo(ContainSubstring("statusMap"))

		By("never exposing the value in status or events")
		final := get(s)(Default)
		raw, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(final)
		Expect(strings.Contains(toJSON(raw), "password-7")).To(BeFalse())
		Expect(strings.Join(eventReasons(s), "\n")).NotTo(ContainSubstring("password-7"))
	})

	It("observes without writing under ObserveOnly and reports drift", func() {
		e := newEnv(time.Second)
		id := remote.Insert(map[string]any{"name": e.remoteName("watched"), "description": "remote text", "type": "ServiceNow Service Desk"})
		s := e.create("watched", func(s *simv1alpha1.SimIntegration) {
			s.Spec.ManagementPolicy = simv1alpha1.ManagementPolicyObserveOnly
			s.Spec.Attributes = nil
		})
		got := waitCondition(s, simv1alpha1.ConditionReady, metav1.ConditionTrue, simv1alpha1.ReasonObserved)
		Expect(got.Status.ID).To(Equal(id))
		Expect(got.Status.Drift).To(Equal([]string{"/description"}))
		Expect(got.Finalizers).To(BeEmpty())
		Expect(e.writes()).To(Equal(0))

		remote.Remove(id)
		waitCondition(s, simv1alpha1.ConditionReady, metav1.ConditionFalse, simv1alpha1.ReasonRemoteNotFound)
		Expect(e.writes()).To(Equal(0))
		Expect(k8s.Delete(ctx, s)).To(Succeed())
	})

	It("makes no remote call while suspended", func() {
		e := newEnv(time.Second)
		s := e.create("sleeping", func(s *simv1alpha1.SimIntegration) { s.Spec.Suspend = true })
		waitCondition(s, simv1alpha1.ConditionReconciling, metav1.ConditionFalse, simv1alpha1.ReasonSuspended)
		time.Sleep(2 * time.Second)
		Expect(e.requests("", "")).To(Equal(0))
		update(s, func(s *simv1alpha1.SimIntegration) { s.Spec.Suspend = false })
		waitReady(s)
	})

	It("deletes the remote object, or keeps it with deletionPolicy Orphan", func() {
		e := newEnv(time.Minute)
		del := e.create("deleted")
		orphan := e.create("orphaned", func(s *simv1alpha1.SimIntegration) { s.Spec.DeletionPolicy = simv1alpha1.DeletionPolicyOrphan })
		delID, orphanID := waitReady(del).Status.ID, waitReady(orphan).Status.ID
		Expect(k8s.Delete(ctx, del)).To(Succeed())
		Expect(k8s.Delete(ctx, orphan)).To(Succeed())
		for _, s := range []*simv1alpha1.SimIntegration{del, orphan} {
			Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(s), &simv1alpha1.SimIntegration{}) }).Should(
				Satisfy(func(err error) bool { return client.IgnoreNotFound(err) == nil && err != nil }))
		}
		_, found := remote.Get(delID)
		Expect(found).To(BeFalse())
		_, found = remote.Get(orphanID)
		Expect(found).To(BeTrue())
		Expect(e.requests("DELETE", "")).To(Equal(1))
	})

	It("treats a 404 on delete as success", func() {
		e := newEnv(time.Minute)
		s := e.create("gone")
		id := waitReady(s).Status.ID
		remote.Remove(id)
		Expect(k8s.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool {
			return client.IgnoreNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(s), &simv1alpha1.SimIntegration{})) == nil &&
				k8s.Get(ctx, client.ObjectKeyFromObject(s), &simv1alpha1.SimIntegration{}) != nil
		}).Should(BeTrue())
	})

	It("refuses a name taken by a foreign object, adopts when told, and never shares one object", func() {
		e := newEnv(time.Second)
		id := remote.Insert(map[string]any{"name": e.remoteName("taken"), "description": "foreign", "type": "ServiceNow Service Desk"})
		conflict := e.create("taken")
		got := waitCondition(conflict, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonNameConflict)
		Expect(got.Status.ID).To(BeEmpty())
		Expect(kstatusOf(got)).To(Equal(status.FailedStatus))
		Expect(e.writes()).To(Equal(0))

		update(conflict, func(s *simv1alpha1.SimIntegration) { s.Spec.AdoptionPolicy = simv1alpha1.AdoptionPolicyAdoptByName })
		got = waitReady(conflict)
		Expect(got.Status.ID).To(Equal(id))
		Eventually(func() any { return remoteDoc(id)["description"] }).Should(Equal("Tickets for taken"))
		Expect(e.requests("POST", "")).To(Equal(0))

		second := e.create("second", func(s *simv1alpha1.SimIntegration) {
			s.Annotations = map[string]string{simv1alpha1.AnnotationExternalID: id}
		})
		got = waitCondition(second, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonAlreadyManaged)
		Expect(got.Status.ID).To(BeEmpty())
		Expect(k8s.Delete(ctx, second)).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(second), &simv1alpha1.SimIntegration{}) }).ShouldNot(Succeed())
		_, found := remote.Get(id)
		Expect(found).To(BeTrue(), "deleting the AlreadyManaged object must not delete the remote object")

		By("letting an observer watch the managed object: observers claim nothing")
		observer := e.create("observer", func(s *simv1alpha1.SimIntegration) {
			s.Annotations = map[string]string{simv1alpha1.AnnotationExternalID: id}
			s.Spec.ManagementPolicy = simv1alpha1.ManagementPolicyObserveOnly
		})
		Expect(waitCondition(observer, simv1alpha1.ConditionReady, metav1.ConditionTrue, simv1alpha1.ReasonObserved).Status.ID).To(Equal(id))
		update(conflict, func(s *simv1alpha1.SimIntegration) { s.Spec.Description = new("still managed") })
		Eventually(func() any { return remoteDoc(id)["description"] }).Should(Equal("still managed"))
		waitReady(conflict)
	})

	It("adopts the object named by the external-id annotation", func() {
		e := newEnv(time.Minute)
		id := remote.Insert(map[string]any{"name": "Legacy name " + e.ns, "description": "old", "type": "ServiceNow Service Desk"})
		s := e.create("adopted", func(s *simv1alpha1.SimIntegration) {
			s.Annotations = map[string]string{simv1alpha1.AnnotationExternalID: id}
		})
		Expect(waitReady(s).Status.ID).To(Equal(id))
		Expect(remoteDoc(id)).To(HaveKeyWithValue("name", e.remoteName("adopted")))
		Eventually(func() []string { return eventReasons(s) }).Should(ContainElement(ContainSubstring("Adopted")))
	})

	It("recovers an interrupted create by name instead of creating a second object", func() {
		e := newEnv(time.Minute)
		s := e.create("interrupted", func(s *simv1alpha1.SimIntegration) { s.Spec.Suspend = true })
		waitCondition(s, simv1alpha1.ConditionReconciling, metav1.ConditionFalse, simv1alpha1.ReasonSuspended)
		By("simulating a crash after the POST: the remote object exists, the marker is set, no id is stored")
		id := remote.Insert(map[string]any{"name": e.remoteName("interrupted"), "description": "Tickets for interrupted", "type": "ServiceNow Service Desk"})
		cur := get(s)(Default)
		orig := cur.DeepCopy()
		cur.Status.PendingCreate = &simv1alpha1.PendingCreate{Name: e.remoteName("interrupted"), StartedAt: metav1.NewTime(time.Now().Add(-time.Minute))}
		Expect(k8s.Status().Patch(ctx, cur, client.MergeFrom(orig))).To(Succeed())
		update(s, func(s *simv1alpha1.SimIntegration) { s.Spec.Suspend = false })
		got := waitReady(s)
		Expect(got.Status.ID).To(Equal(id))
		Expect(got.Status.PendingCreate).To(BeNil())
		Expect(e.requests("POST", "")).To(Equal(0))
		Expect(remoteByName(e.remoteName("interrupted"))).To(HaveLen(1))
	})

	It("survives a create whose response is lost after the remote committed it", func() {
		e := newEnv(time.Minute)
		remote.DelayCreateResponse(3 * time.Second) // longer than the client's 2s timeout
		s := e.create("slow-create")
		Eventually(func() int { return e.requests("POST", "") }).Should(Equal(1))
		remote.DelayCreateResponse(0)
		got := waitReady(s)
		Expect(remoteByName(e.remoteName("slow-create"))).To(HaveLen(1))
		Expect(got.Status.ID).To(Equal(remoteByName(e.remoteName("slow-create"))[0].ID))
		Expect(e.requests("POST", "")).To(Equal(1), "the create must not be sent twice")
	})

	It("stalls on a 400 with the remote's message and does not retry in a storm", func() {
		e := newEnv(time.Second)
		remote.RejectField("/description", "forbidden words", "Description contains forbidden words")
		s := e.create("rejected", func(s *simv1alpha1.SimIntegration) { s.Spec.Description = new("forbidden words") })
		got := waitCondition(s, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonInvalidSpec)
		Expect(got.Status.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("Description contains forbidden words"))))
		Expect(got.Status.PendingCreate).To(BeNil())
		time.Sleep(5 * time.Second)
		Expect(e.requests("POST", "")).To(BeNumerically("<=", 2), "no retry storm on a 400")

		update(s, func(s *simv1alpha1.SimIntegration) { s.Spec.Description = new("polite words") })
		waitReady(s)
	})

	It("refuses an attribute set both plainly and from a Secret before any remote call", func() {
		e := newEnv(time.Minute)
		s := e.create("overlap", func(s *simv1alpha1.SimIntegration) {
			s.Spec.Attributes = attrs(map[string]any{"password": "plain"})
			s.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{{Name: "password",
				SecretKeyRef: simv1alpha1.SecretKeySelector{Name: "api-client", Key: "clientSecret"}}}
		})
		got := waitCondition(s, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonInvalidSpec)
		Expect(got.Status.Conditions).To(ContainElement(HaveField("Message", ContainSubstring(`"password" is set in both`))))
		Expect(e.requests("", "")).To(Equal(0))
	})

	It("stalls with SecretNotFound and TenantNotFound, and recovers when they appear", func() {
		e := newEnv(time.Minute)
		s := e.create("needs-secret", func(s *simv1alpha1.SimIntegration) {
			s.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{{Name: "password",
				SecretKeyRef: simv1alpha1.SecretKeySelector{Name: "late", Key: "password"}}}
		})
		waitCondition(s, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonSecretNotFound)
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "late"},
			StringData: map[string]string{"password": "late-value"}})).To(Succeed())
		waitReady(s)

		orphan := e.create("no-tenant", func(s *simv1alpha1.SimIntegration) { s.Spec.TenantRef.Name = "missing" })
		waitCondition(orphan, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonTenantNotFound)
	})

	It("waits exactly Retry-After on a 429 and stays Reconciling", func() {
		e := newEnv(time.Minute)
		remote.FailNext(1, fake.Match{Method: "POST", PathContains: "/sim-integrations"}, 429, 3*time.Second)
		s := e.create("throttled")
		got := waitCondition(s, simv1alpha1.ConditionReconciling, metav1.ConditionTrue, simv1alpha1.ReasonRateLimited)
		Expect(kstatusOf(got)).To(Equal(status.InProgressStatus))
		start := time.Now()
		waitReady(s)
		Expect(time.Since(start)).To(BeNumerically(">=", 1500*time.Millisecond), "no request before Retry-After ends")
		Eventually(func() []string { return eventReasons(s) }).Should(ContainElement(ContainSubstring("RateLimited")))
	})
})

var _ = Describe("Tenant", func() {
	It("stays until its SimIntegrations are gone, so their remote objects are deleted with the namespace", func() {
		e := newEnv(time.Minute)
		s := e.create("last-one")
		id := waitReady(s).Status.ID
		t := &simv1alpha1.Tenant{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.tenant}, t)).To(Succeed())
		Expect(t.Finalizers).To(ContainElement(simv1alpha1.TenantFinalizer))

		By("deleting everything at once, as a namespace deletion does")
		Expect(k8s.Delete(ctx, t)).To(Succeed())
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "api-client"}})).To(Succeed())
		Expect(k8s.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool { _, found := remote.Get(id); return found }).Should(BeFalse())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(t), &simv1alpha1.Tenant{}) }, 30*time.Second).ShouldNot(Succeed())
	})

	It("is Ready once a token was obtained", func() {
		e := newEnv(time.Minute)
		t := &simv1alpha1.Tenant{}
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.tenant}, t)).To(Succeed())
			g.Expect(t.Status.Conditions).To(ContainElement(And(HaveField("Type", "Ready"), HaveField("Status", metav1.ConditionTrue))))
		}).Should(Succeed())
	})

	DescribeTable("stalls with a clear reason",
		func(mutate func(*simv1alpha1.Tenant), reason string) {
			e := newEnv(time.Minute, mutate)
			Eventually(func(g Gomega) {
				t := &simv1alpha1.Tenant{}
				g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.tenant}, t)).To(Succeed())
				g.Expect(t.Status.Conditions).To(ContainElement(And(HaveField("Type", "Stalled"), HaveField("Status", metav1.ConditionTrue), HaveField("Reason", reason))))
				for _, c := range t.Status.Conditions {
					g.Expect(c.Message).NotTo(ContainSubstring(clientSecret))
				}
			}).Should(Succeed())
			if reason == simv1alpha1.ReasonHostNotAllowed {
				Expect(e.requests("", "")).To(Equal(0))
			}
			s := e.create("blocked")
			waitCondition(s, simv1alpha1.ConditionStalled, metav1.ConditionTrue, "")
			Expect(e.writes()).To(Equal(0))
		},
		Entry("missing Secret", func(t *simv1alpha1.Tenant) { t.Spec.CredentialsRef.Name = "nope" }, simv1alpha1.ReasonSecretNotFound),
		Entry("host outside the allowlist", func(t *simv1alpha1.Tenant) {
			t.Spec.BaseURL = strings.Replace(remoteURL, "127.0.0.1", "localhost", 1)
		}, simv1alpha1.ReasonHostNotAllowed),
		Entry("refused credentials", func(t *simv1alpha1.Tenant) { t.Spec.CredentialsRef.ClientSecretKey = "clientId" }, simv1alpha1.ReasonUnauthorized),
	)
})
