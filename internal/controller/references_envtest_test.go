package controller

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

// lookupCalls returns this env's requests to one lookup API (fake.APISources, APIManagedClusters).
func (e env) lookupCalls(api string) []fake.LoggedRequest {
	return remote.Requests(fake.ByAPI(api), func(r fake.LoggedRequest) bool { return r.ClientID == e.clientID })
}

// lookupFilter is the filters parameter of a logged lookup.
func lookupFilter(r fake.LoggedRequest) string {
	q, err := url.ParseQuery(r.Query)
	Expect(err).NotTo(HaveOccurred())
	return q.Get("filters")
}

func sourceRefs(names ...string) []simv1alpha1.SourceReference {
	out := make([]simv1alpha1.SourceReference, len(names))
	for i, n := range names {
		out[i] = simv1alpha1.SourceReference{Name: n}
	}
	return out
}

// requestNow changes the requested-at annotation: a reconcile now, with fresh reads.
func requestNow(s *simv1alpha1.SimIntegration) {
	update(s, func(s *simv1alpha1.SimIntegration) {
		s.Annotations = map[string]string{simv1alpha1.AnnotationRequestedAt: time.Now().Format(time.RFC3339Nano)}
	})
}

var _ = Describe("SimIntegration references by name", func() {
	It("resolves sources and the cluster by name, exactly or without case, and sends the tenant's ids", func() {
		e := newEnv(2 * time.Second)
		n := func(s string) string { return e.ns + " " + s }
		va := remote.AddManagedCluster(fake.ManagedCluster{Name: n("Production VA")})
		ad := remote.AddSource(fake.Source{Name: n("Active Directory"), Cluster: va})
		wd := remote.AddSource(fake.Source{Name: n("Workday")})
		remote.AddSource(fake.Source{Name: n("Active Directory EMEA")}) // a near match the remote returns for co/sw, never eq
		s := e.create("by-name", func(s *simv1alpha1.SimIntegration) {
			s.Spec.SourceRefs = sourceRefs(n("Active Directory"), strings.ToUpper(n("workday")))
			s.Spec.ClusterRef = &simv1alpha1.ClusterReference{Name: strings.ToLower(n("Production VA"))}
		})
		got := waitReady(s)
		Expect(got.Status.ResolvedSources).To(Equal([]simv1alpha1.ResolvedReference{
			{Name: n("Active Directory"), ID: ad}, {Name: strings.ToUpper(n("workday")), ID: wd}}))
		Expect(got.Status.ResolvedCluster).To(Equal(&simv1alpha1.ResolvedReference{Name: strings.ToLower(n("Production VA")), ID: va}))
		doc := remoteDoc(got.Status.ID)
		Expect(doc["sources"]).To(ConsistOf(ad, wd))
		Expect(doc["cluster"]).To(Equal(va))
		Expect(e.lookupCalls(fake.APISources)).NotTo(BeEmpty())
		Expect(lookupFilter(e.lookupCalls(fake.APISources)[0])).To(ContainSubstring("name in ("), "sources filtered by name")
		Expect(lookupFilter(e.lookupCalls(fake.APIManagedClusters)[0])).To(HavePrefix("name eq "), "clusters filtered by name, eq only")
	})

	It("stalls on a missing or ambiguous name without writing, and goes on once it resolves", func() {
		e := newEnv(time.Second)
		n := func(s string) string { return e.ns + " " + s }
		hr1 := remote.AddSource(fake.Source{Name: n("HR")})
		hr2 := remote.AddSource(fake.Source{Name: strings.ToLower(n("HR"))})
		missing := e.create("missing", func(s *simv1alpha1.SimIntegration) { s.Spec.SourceRefs = sourceRefs(n("SAP")) })
		ambiguous := e.create("ambiguous", func(s *simv1alpha1.SimIntegration) { s.Spec.SourceRefs = sourceRefs(n("HR")) })
		got := waitCondition(missing, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonReferenceNotFound)
		Expect(got.Status.ID).To(BeEmpty())
		got = waitCondition(ambiguous, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonReferenceAmbiguous)
		Expect(conditionMessage(got, simv1alpha1.ConditionStalled)).To(And(ContainSubstring(hr1), ContainSubstring(hr2)))
		Consistently(e.writes, time.Second).Should(Equal(0), "nothing is created while a reference does not resolve")

		By("seeding the missing source and asking for a fresh read")
		sap := remote.AddSource(fake.Source{Name: n("SAP")})
		requestNow(missing)
		Expect(waitReady(missing).Status.ResolvedSources).To(Equal([]simv1alpha1.ResolvedReference{{Name: n("SAP"), ID: sap}}))

		By("renaming one of the two sources: the next interval's lookup resolves the other")
		Expect(remote.EditSource(hr2, func(src *fake.Source) { src.Name = n("HR (retired)") })).To(BeTrue())
		requestNow(ambiguous)
		Expect(waitReady(ambiguous).Status.ResolvedSources).To(Equal([]simv1alpha1.ResolvedReference{{Name: n("HR"), ID: hr1}}))
	})

	It("notices a re-pointed name at the next interval and sends the new id (Updated)", func() {
		e := newEnv(2 * time.Second)
		n := func(s string) string { return e.ns + " " + s }
		old := remote.AddSource(fake.Source{Name: n("Workday")})
		s := e.create("repointed", func(s *simv1alpha1.SimIntegration) { s.Spec.SourceRefs = sourceRefs(n("Workday")) })
		id := waitReady(s).Status.ID
		Expect(remoteDoc(id)["sources"]).To(Equal([]any{old}))

		Expect(remote.EditSource(old, func(src *fake.Source) { src.Name = n("Workday (old)") })).To(BeTrue())
		replacement := remote.AddSource(fake.Source{Name: n("Workday")})
		Eventually(func() any { return remoteDoc(id)["sources"] }, 15*time.Second).Should(Equal([]any{replacement}))
		Eventually(func(g Gomega) {
			g.Expect(get(s)(g).Status.ResolvedSources).To(Equal([]simv1alpha1.ResolvedReference{{Name: n("Workday"), ID: replacement}}))
		}).Should(Succeed())
		Eventually(func() []string { return eventReasons(s) }).Should(ContainElement(And(HavePrefix("Updated"), ContainSubstring("/sources"))))
		Expect(eventReasons(s)).NotTo(ContainElement(HavePrefix("DriftCorrected")), "a new resolution is a change of what is sent, not drift")
	})

	It("stalls Forbidden naming the read scope a lookup lacks", func() {
		e := newEnv(time.Second)
		n := func(s string) string { return e.ns + " " + s }
		remote.AddSource(fake.Source{Name: n("AD")})
		remote.AddManagedCluster(fake.ManagedCluster{Name: n("VA")})
		remote.SetScopes(e.clientID, []string{"idn:service-desk-integration:manage", "idn:sources:read"})
		s := e.create("scoped", func(s *simv1alpha1.SimIntegration) {
			s.Spec.SourceRefs = sourceRefs(n("AD"))
			s.Spec.ClusterRef = &simv1alpha1.ClusterReference{Name: n("VA")}
		})
		got := waitCondition(s, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonForbidden)
		Expect(conditionMessage(got, simv1alpha1.ConditionStalled)).To(ContainSubstring("idn:remote-client:read"))
		Expect(e.writes()).To(Equal(0))

		remote.SetScopes(e.clientID, []string{"idn:sources:read"})
		update(s, func(s *simv1alpha1.SimIntegration) { s.Spec.ClusterRef = nil })
		waitReady(s)
		remote.SetScopes(e.clientID, []string{"idn:remote-client:read"})
		requestNow(s)
		got = waitCondition(s, simv1alpha1.ConditionStalled, metav1.ConditionTrue, simv1alpha1.ReasonForbidden)
		Expect(conditionMessage(got, simv1alpha1.ConditionStalled)).To(ContainSubstring("idn:sources:read"))
		remote.SetScopes(e.clientID, nil)
	})

	It("costs at most one Sources and one Managed Clusters call per tenant per interval, at 1, 10 and 100 objects", func() {
		const poll = 2 * time.Second
		e := newEnv(poll)
		n := func(s string) string { return e.ns + " " + s }
		for i := range 5 {
			remote.AddSource(fake.Source{Name: n(fmt.Sprint("source ", i))})
		}
		remote.AddManagedCluster(fake.ManagedCluster{Name: n("VA")})
		var sims []*simv1alpha1.SimIntegration
		referenced := map[string][]string{fake.APISources: nil, fake.APIManagedClusters: {n("VA")}}
		report := []string{}
		for _, total := range []int{1, 10, 100} {
			createdAt := time.Now()
			for i := len(sims); i < total; i++ {
				refs := []string{n(fmt.Sprint("source ", i%5)), n(fmt.Sprint("source ", (i+1)%5))}
				for _, r := range refs {
					if !slices.Contains(referenced[fake.APISources], r) {
						referenced[fake.APISources] = append(referenced[fake.APISources], r)
					}
				}
				sims = append(sims, e.create(fmt.Sprint("counted-", i), func(s *simv1alpha1.SimIntegration) {
					s.Spec.SourceRefs = sourceRefs(refs...)
					s.Spec.ClusterRef = &simv1alpha1.ClusterReference{Name: n("VA")}
				}))
			}
			for _, s := range sims {
				waitReady(s)
			}
			since := func(api string, from time.Time) []fake.LoggedRequest {
				var out []fake.LoggedRequest
				for _, r := range e.lookupCalls(api) {
					if !r.Time.Before(from) {
						out = append(out, r)
					}
				}
				return out
			}
			creating := []int{len(since(fake.APISources, createdAt)), len(since(fake.APIManagedClusters, createdAt))}
			from := time.Now()
			time.Sleep(2*poll + 100*time.Millisecond)
			for _, api := range []string{fake.APISources, fake.APIManagedClusters} {
				// Resolved again at the next interval; a loaded machine may run the reconcile a little late.
				Eventually(func() []fake.LoggedRequest { return since(api, from) }).WithTimeout(4*poll).
					ShouldNot(BeEmpty(), "%s: references are resolved again every interval", api)
			}
			window := time.Since(from)
			for _, api := range []string{fake.APISources, fake.APIManagedClusters} {
				calls := since(api, from)
				Expect(len(calls)).To(BeNumerically("<=", int(window/poll)+1), "%s at %d objects: %d calls in %s", api, total, len(calls), window)
				for i := 1; i < len(calls); i++ {
					Expect(calls[i].Time.Sub(calls[i-1].Time)).To(BeNumerically(">=", poll-100*time.Millisecond),
						"%s at %d objects: two calls within one interval", api, total)
				}
				filter := lookupFilter(calls[len(calls)-1])
				for _, name := range referenced[api] {
					Expect(filter).To(ContainSubstring(`"`+name+`"`), "%s: every name the objects refer to is asked for", api)
				}
				Expect(strings.Count(filter, e.ns)).To(Equal(len(referenced[api])),
					"%s: filtered to the names the tenant's objects refer to, each once: %s", api, filter)
			}
			report = append(report, fmt.Sprintf("%d objects: %d Sources + %d Managed Clusters calls over %s (%d + %d while creating)",
				total, len(since(fake.APISources, from)), len(since(fake.APIManagedClusters, from)), window.Round(100*time.Millisecond),
				creating[0], creating[1]))
		}
		AddReportEntry("lookup calls per interval ("+poll.String()+")", strings.Join(report, "\n"))
		GinkgoWriter.Println(strings.Join(report, "\n"))
		Expect(e.requests("GET", "/sim-integrations/")).To(Equal(0), "no per-object GET either")
	})

	It("converges the same manifests on two tenants whose ids differ", func() {
		other := fake.NewServer(fake.Options{Clients: map[string]string{}, MaskedAttributes: []string{"password"}})
		otherURL := other.Start()
		DeferCleanup(other.Close)
		sandbox := newEnv(time.Minute)
		production := newEnv(time.Minute, func(t *simv1alpha1.Tenant) { t.Spec.BaseURL = otherURL })
		other.SetClient(production.clientID, clientSecret)

		name := sandbox.ns + " HR"
		sbSource, sbVA := remote.AddSource(fake.Source{Name: name}), remote.AddManagedCluster(fake.ManagedCluster{Name: sandbox.ns + " VA"})
		prSource, prVA := other.AddSource(fake.Source{Name: name}), other.AddManagedCluster(fake.ManagedCluster{Name: sandbox.ns + " VA"})
		Expect(prSource).NotTo(Equal(sbSource))

		manifest := func(e env) *simv1alpha1.SimIntegration { // one base: only the namespace (and so the Tenant) differs
			return e.create("promoted", func(s *simv1alpha1.SimIntegration) {
				s.Spec.Name = sandbox.remoteName("promoted")
				s.Spec.SourceRefs = sourceRefs(name)
				s.Spec.ClusterRef = &simv1alpha1.ClusterReference{Name: sandbox.ns + " VA"}
			})
		}
		a, b := waitReady(manifest(sandbox)), waitReady(manifest(production))
		Expect(a.Spec).To(Equal(b.Spec))
		Expect(remoteDoc(a.Status.ID)["sources"]).To(Equal([]any{sbSource}))
		Expect(remoteDoc(a.Status.ID)["cluster"]).To(Equal(sbVA))
		o, ok := other.Get(b.Status.ID)
		Expect(ok).To(BeTrue())
		Expect(o.Doc["sources"]).To(Equal([]any{prSource}))
		Expect(o.Doc["cluster"]).To(Equal(prVA))
		Expect(b.Status.ResolvedSources).To(Equal([]simv1alpha1.ResolvedReference{{Name: name, ID: prSource}}))
	})
})

// conditionMessage returns a condition's message.
func conditionMessage(s *simv1alpha1.SimIntegration, condType string) string {
	for _, c := range s.Status.Conditions {
		if c.Type == condType {
			return c.Message
		}
	}
	return ""
}
