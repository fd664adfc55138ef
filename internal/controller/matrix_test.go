package controller

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

// The convergence matrix: nobody knows whether the live API echoes the request document or answers
// ServiceDeskIntegrationDto, nor whether it masks a credential attribute or leaves it out, so the
// operator must converge in every combination, with each update strategy and patch format: Ready,
// no remote write while idle and no status change but lastSyncTime (moved once per poll interval),
// drift corrected, and the secret never overwritten with its mask. Shape and masking are the fake's settings (one combination at a time); the four
// strategy × format cells of a combination run side by side, each with its own tenant.
var _ = Describe("Convergence matrix", func() {
	type cell struct {
		strategy simv1alpha1.UpdateStrategy
		format   simv1alpha1.PatchFormat
	}
	cells := []cell{
		{simv1alpha1.UpdateStrategyPatch, simv1alpha1.PatchFormatOperations},
		{simv1alpha1.UpdateStrategyPatch, simv1alpha1.PatchFormatArray},
		{simv1alpha1.UpdateStrategyPut, simv1alpha1.PatchFormatOperations},
		{simv1alpha1.UpdateStrategyPut, simv1alpha1.PatchFormatArray},
	}

	DescribeTable("converges, stays idle and corrects drift",
		func(shape fake.Shape, omitted bool) {
			remote.SetShape(shape)
			if omitted {
				remote.SetOmittedAttributes("password")
			}
			DeferCleanup(func() {
				remote.SetShape(fake.ShapeDTO)
				remote.SetOmittedAttributes()
			})

			type running struct {
				cell
				e      env
				s      *simv1alpha1.SimIntegration
				id     string
				secret string
			}
			var all []*running
			for i, c := range cells {
				e := newEnv(time.Second, func(t *simv1alpha1.Tenant) {
					t.Spec.UpdateStrategy, t.Spec.PatchFormat = c.strategy, c.format
				})
				secret := fmt.Sprintf("matrix-secret-%s-%t-%d-4c1d", shape, omitted, i)
				Expect(k8s.Create(ctx, &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "servicenow"},
					StringData: map[string]string{"password": secret},
				})).To(Succeed())
				s := e.create("matrix", func(s *simv1alpha1.SimIntegration) {
					s.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{{Name: "password",
						SecretKeyRef: simv1alpha1.SecretKeySelector{Name: "servicenow", Key: "password"}}}
				})
				all = append(all, &running{cell: c, e: e, s: s, secret: secret})
			}

			By("converging: Ready, the secret's value stored remotely")
			for _, r := range all {
				r.id = waitReady(r.s).Status.ID
				Expect(remoteDoc(r.id)["attributes"]).To(HaveKeyWithValue("password", r.secret), "%+v", r.cell)
			}
			for _, r := range all { // the first poll after the create confirms it ("matches the spec")
				Eventually(func(g Gomega) {
					c := meta.FindStatusCondition(get(r.s)(g).Status.Conditions, simv1alpha1.ConditionReady)
					g.Expect(c.Message).To(Equal("Remote integration matches the spec"))
				}).Should(Succeed(), "%+v", r.cell)
			}

			By("staying idle over three polls: no remote write, nothing in status changes but lastSyncTime")
			writes := make([]int, len(all))
			lists := make([]int, len(all))
			statuses := make([]simv1alpha1.SimIntegrationStatus, len(all))
			for i, r := range all {
				writes[i], lists[i], statuses[i] = r.e.writes(), r.e.lists(), get(r.s)(Default).Status
			}
			time.Sleep(3500 * time.Millisecond)
			for i, r := range all {
				Expect(r.e.writes()).To(Equal(writes[i]), "remote writes while idle, %+v", r.cell)
				Expect(r.e.lists()).To(BeNumerically(">", lists[i]), "the tenant is still polled, %+v", r.cell)
				now := get(r.s)(Default).Status
				now.LastSyncTime = statuses[i].LastSyncTime
				Expect(now).To(Equal(statuses[i]), "status changed while idle, %+v", r.cell)
			}

			By("correcting drift made outside Kubernetes, without writing the mask over the secret")
			for _, r := range all {
				Expect(remote.Edit(r.id, func(doc map[string]any) { doc["description"] = "changed in the UI" })).To(BeTrue())
			}
			for _, r := range all {
				Eventually(func() any { return remoteDoc(r.id)["description"] }).Should(Equal("Tickets for matrix"), "%+v", r.cell)
				Expect(remoteDoc(r.id)["attributes"]).To(HaveKeyWithValue("password", r.secret), "%+v", r.cell)
				Eventually(func() []string { return eventReasons(r.s) }).Should(ContainElement(HavePrefix("DriftCorrected")), "%+v", r.cell)
			}

			By("sending each update in the tenant's strategy and format")
			for _, r := range all {
				if r.strategy == simv1alpha1.UpdateStrategyPut {
					Expect(r.e.requests("PUT", "")).To(BeNumerically(">=", 1), "%+v", r.cell)
					Expect(r.e.requests("PATCH", "")).To(Equal(0), "%+v", r.cell)
					continue
				}
				Expect(r.e.requests("PUT", "")).To(Equal(0), "%+v", r.cell)
				bodies := r.e.patchBodies()
				Expect(bodies).NotTo(BeEmpty(), "%+v", r.cell)
				for _, b := range bodies {
					Expect(strings.HasPrefix(b, `{"operations"`)).To(Equal(r.format == simv1alpha1.PatchFormatOperations), "%+v: %s", r.cell, b)
					Expect(b).NotTo(ContainSubstring(fake.Masked), "%+v", r.cell)
				}
			}
		},
		Entry("DTO responses, secret masked", fake.ShapeDTO, false),
		Entry("DTO responses, secret omitted", fake.ShapeDTO, true),
		Entry("echoed request documents, secret masked", fake.ShapeEcho, false),
		Entry("echoed request documents, secret omitted", fake.ShapeEcho, true),
	)
})
