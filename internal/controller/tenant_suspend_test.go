package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

var _ = Describe("Tenant-wide suspend (a change freeze)", func() {
	It("writes nothing while the tenant is suspended, reports drift, and applies everything after", func() {
		e := newEnv(time.Second)
		s := e.create("frozen")
		gone := e.create("deleted-in-freeze")
		id, goneID := waitReady(s).Status.ID, waitReady(gone).Status.ID
		setSuspend := func(v bool) {
			Eventually(func(g Gomega) {
				t := &simv1alpha1.Tenant{}
				g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.tenant}, t)).To(Succeed())
				t.Spec.Suspend = v
				g.Expect(k8s.Update(ctx, t)).To(Succeed())
			}).Should(Succeed())
		}

		setSuspend(true)
		update(s, func(s *simv1alpha1.SimIntegration) { s.Spec.Description = new("Changed during the freeze") })
		Expect(remote.Edit(id, func(doc map[string]any) { doc["name"] = e.remoteName("renamed-in-the-ui") })).To(BeTrue())
		Expect(k8s.Delete(ctx, gone)).To(Succeed())
		writes := e.writes()

		By("reading and reporting, with the reason TenantSuspended, Ready as it was")
		got := waitCondition(s, simv1alpha1.ConditionReconciling, metav1.ConditionFalse, simv1alpha1.ReasonTenantSuspended)
		Eventually(func(g Gomega) {
			g.Expect(get(s)(g).Status.Drift).To(ConsistOf("/description", "/name"))
		}).Should(Succeed())
		readyNow := meta.FindStatusCondition(get(s)(Default).Status.Conditions, simv1alpha1.ConditionReady)
		Expect(readyNow.Status).To(Equal(metav1.ConditionTrue))
		Expect(readyNow.ObservedGeneration).To(Equal(int64(1)), "Ready keeps its last status and generation")
		Expect(kstatusOf(got)).To(Equal(status.CurrentStatus), "a freeze is not a failure")
		time.Sleep(2500 * time.Millisecond) // two polls
		Expect(e.writes()).To(Equal(writes), "no remote write during the freeze")
		Expect(get(gone)(Default).Finalizers).To(ContainElement(simv1alpha1.Finalizer), "a delete waits for the resume")
		_, found := remote.Get(goneID)
		Expect(found).To(BeTrue())

		By("resuming: the spec change and the drift are applied, the delete goes through")
		setSuspend(false)
		Eventually(func(g Gomega) {
			g.Expect(remoteDoc(id)).To(HaveKeyWithValue("description", "Changed during the freeze"))
			g.Expect(remoteDoc(id)).To(HaveKeyWithValue("name", e.remoteName("frozen")))
			g.Expect(get(s)(g).Status.Drift).To(BeEmpty())
		}).Should(Succeed())
		Eventually(func() bool { _, found := remote.Get(goneID); return found }).Should(BeFalse())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(gone), &simv1alpha1.SimIntegration{}) }).Should(
			Satisfy(func(err error) bool { return err != nil && client.IgnoreNotFound(err) == nil }))
	})
})
