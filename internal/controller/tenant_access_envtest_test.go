package controller

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// clusterResourceNamespace is the suite's --cluster-resource-namespace (see suite_test.go).
const clusterResourceNamespace = "sim-operator-system"

// newClusterTenant creates a ClusterTenant with an API client of its own (so its requests can be
// counted) and returns its name and client id.
func newClusterTenant(mutate func(*simv1alpha1.ClusterTenantSpec)) (name, id string) {
	n := envCounter.Add(1)
	name, id = fmt.Sprintf("shared-%d", n), fmt.Sprintf("cluster-client-%d", n)
	remote.SetClient(id, clientSecret)
	err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: clusterResourceNamespace}})
	Expect(err == nil || apierrors.IsAlreadyExists(err)).To(BeTrue(), "%v", err)
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: clusterResourceNamespace, Name: name},
		StringData: map[string]string{"clientId": id, "clientSecret": clientSecret},
	})).To(Succeed())
	ct := &simv1alpha1.ClusterTenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: simv1alpha1.ClusterTenantSpec{TenantSpec: simv1alpha1.TenantSpec{
			BaseURL:        remoteURL,
			CredentialsRef: simv1alpha1.CredentialsReference{Name: name},
			PollInterval:   metav1.Duration{Duration: time.Minute},
		}},
	}
	mutate(&ct.Spec)
	Expect(k8s.Create(ctx, ct)).To(Succeed())
	// Ready first, so that no later status change of the tenant re-enqueues its users by chance.
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, ct)).To(Succeed())
		g.Expect(ct.Status.Conditions).To(ContainElement(And(HaveField("Type", simv1alpha1.ConditionReady), HaveField("Status", metav1.ConditionTrue))))
	}).Should(Succeed())
	return name, id
}

// clusterEnv is a fresh namespace (with labels) whose SimIntegrations use the ClusterTenant name.
func clusterEnv(name, id string, nsLabels map[string]string) env {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sim-", Labels: nsLabels}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return env{ns: ns.Name, tenant: name, clientID: id}
}

func useClusterTenant(s *simv1alpha1.SimIntegration) {
	s.Spec.TenantRef.Kind = simv1alpha1.TenantKindClusterTenant
}

func setNamespaceLabels(ns string, nsLabels map[string]string) {
	Eventually(func(g Gomega) {
		cur := &corev1.Namespace{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, cur)).To(Succeed())
		cur.Labels = nsLabels
		g.Expect(k8s.Update(ctx, cur)).To(Succeed())
	}).Should(Succeed())
}

// waitNotAllowed waits for Stalled/TenantNotAllowed and checks that the message names both sides.
func waitNotAllowed(s *simv1alpha1.SimIntegration, tenantName string) *simv1alpha1.SimIntegration {
	got := waitCondition(s, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonTenantNotAllowed)
	msg := conditionOf(got, simv1alpha1.ConditionStalled).Message
	Expect(msg).To(ContainSubstring(fmt.Sprintf("ClusterTenant %q", tenantName)))
	Expect(msg).To(ContainSubstring(fmt.Sprintf("namespace %q", s.Namespace)))
	return got
}

func conditionOf(s *simv1alpha1.SimIntegration, condType string) metav1.Condition {
	for _, c := range s.Status.Conditions {
		if c.Type == condType {
			return c
		}
	}
	return metav1.Condition{}
}

var _ = Describe("ClusterTenant namespace scoping", func() {
	It("serves the namespaces it names and makes no remote call for any other", func() {
		a := clusterEnv("", "", nil)
		name, id := newClusterTenant(func(s *simv1alpha1.ClusterTenantSpec) { s.Namespaces = []string{a.ns} })
		a.tenant, a.clientID = name, id
		allowed := a.create("allowed", useClusterTenant)
		waitReady(allowed)

		By("namespace b trying to create, and to adopt an object made in the UI")
		b := clusterEnv(name, id, nil)
		foreign := remote.Insert(map[string]any{"name": b.remoteName("made-in-ui"), "description": "from the UI", "type": "ServiceNow Service Desk"})
		before := b.requests("", "")
		fresh := b.create("fresh", useClusterTenant)
		takeover := b.create("takeover", useClusterTenant, func(s *simv1alpha1.SimIntegration) {
			s.Spec.Name = b.remoteName("made-in-ui")
			s.Spec.AdoptionPolicy = simv1alpha1.AdoptionPolicyAdoptByName
			s.Spec.Description = new("rewritten by namespace b")
		})
		for _, s := range []*simv1alpha1.SimIntegration{fresh, takeover} {
			got := waitNotAllowed(s, name)
			Expect(got.Status.ID).To(BeEmpty())
			Expect(got.Finalizers).To(BeEmpty())
		}
		Consistently(func() int { return b.requests("", "") }, 2*time.Second).Should(Equal(before), "no remote call on behalf of namespace b")
		Expect(remoteDoc(foreign)).To(HaveKeyWithValue("description", "from the UI"))
		Expect(remoteByName(b.remoteName("fresh"))).To(BeEmpty())
		waitReady(allowed) // namespace a is still served
	})

	It("serves namespaces by label, follows relabelling, and never deletes for a namespace it stopped serving", func() {
		team := fmt.Sprintf("blue-%d", envCounter.Add(1))
		name, id := newClusterTenant(func(s *simv1alpha1.ClusterTenantSpec) {
			s.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}
		})
		c := clusterEnv(name, id, map[string]string{"team": "red"})
		s := c.create("labelled", useClusterTenant)
		waitNotAllowed(s, name)
		Expect(c.requests("", "")).To(Equal(0))

		By("relabelling the namespace into the selection")
		setNamespaceLabels(c.ns, map[string]string{"team": team})
		remoteID := waitReady(s).Status.ID
		Expect(remoteID).NotTo(BeEmpty())

		By("relabelling it out again, then deleting the SimIntegration")
		setNamespaceLabels(c.ns, map[string]string{"team": "red"})
		waitNotAllowed(s, name)
		deletes := c.requests("DELETE", "")
		Expect(k8s.Delete(ctx, s)).To(Succeed())
		Consistently(func(g Gomega) {
			got := get(s)(g)
			g.Expect(got.Finalizers).To(ContainElement(simv1alpha1.Finalizer))
			g.Expect(c.requests("DELETE", "")).To(Equal(deletes))
		}, 2*time.Second).Should(Succeed(), "no DELETE through a ClusterTenant that no longer serves the namespace")
		_, found := remote.Get(remoteID)
		Expect(found).To(BeTrue())
		Expect(conditionOf(get(s)(Default), simv1alpha1.ConditionStalled).Reason).To(Equal(simv1alpha1.ReasonTenantNotAllowed))

		By("bringing the namespace back: the delete goes through")
		setNamespaceLabels(c.ns, map[string]string{"team": team})
		Eventually(func() bool { _, found := remote.Get(remoteID); return found }).Should(BeFalse())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(s), &simv1alpha1.SimIntegration{}) }).ShouldNot(Succeed())
	})
})
