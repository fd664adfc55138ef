package controller

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

var envCounter atomic.Int64

// env is one test's namespace, Tenant and API client; its own client id gives it its own rate budget,
// snapshot and request log slice.
type env struct {
	ns, tenant, clientID string
}

func newEnv(poll time.Duration, mutate ...func(*simv1alpha1.Tenant)) env {
	n := envCounter.Add(1)
	e := env{tenant: "acme", clientID: fmt.Sprintf("client-%d", n)}
	remote.SetClient(e.clientID, clientSecret)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sim-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	e.ns = ns.Name
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "api-client"},
		StringData: map[string]string{"clientId": e.clientID, "clientSecret": clientSecret},
	})).To(Succeed())
	t := &simv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: e.tenant},
		Spec: simv1alpha1.TenantSpec{
			BaseURL:        remoteURL,
			CredentialsRef: simv1alpha1.CredentialsReference{Name: "api-client"},
			PollInterval:   metav1.Duration{Duration: poll},
		},
	}
	for _, m := range mutate {
		m(t)
	}
	Expect(k8s.Create(ctx, t)).To(Succeed())
	return e
}

// remoteName makes names unique across the suite's shared fake store.
func (e env) remoteName(name string) string { return e.ns + "-" + name }

func (e env) sim(name string, mutate ...func(*simv1alpha1.SimIntegration)) *simv1alpha1.SimIntegration {
	s := &simv1alpha1.SimIntegration{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: simv1alpha1.SimIntegrationSpec{
			TenantRef:   simv1alpha1.TenantReference{Name: e.tenant},
			Name:        e.remoteName(name),
			Description: new("Tickets for " + name),
			Attributes:  attrs(map[string]any{"url": "https://acme.service-now.com"}),
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func (e env) create(name string, mutate ...func(*simv1alpha1.SimIntegration)) *simv1alpha1.SimIntegration {
	s := e.sim(name, mutate...)
	Expect(k8s.Create(ctx, s)).To(Succeed())
	return s
}

// requests counts this env's SIM requests with method (any when "") whose path contains part.
func (e env) requests(method, part string) int {
	n := 0
	for _, r := range remote.Requests(fake.SIMOnly()) {
		if r.ClientID == e.clientID && (method == "" || r.Method == method) && strings.Contains(r.Path, part) {
			n++
		}
	}
	return n
}

func (e env) writes() int {
	return e.requests("POST", "") + e.requests("PUT", "") + e.requests("PATCH", "") + e.requests("DELETE", "")
}

// lists counts list calls (GET on the collection).
func (e env) lists() int {
	n := 0
	for _, r := range remote.Requests(fake.SIMOnly(), fake.ByMethod("GET")) {
		if r.ClientID == e.clientID && strings.HasSuffix(r.Path, "/sim-integrations") {
			n++
		}
	}
	return n
}

func (e env) patchBodies() []string {
	var out []string
	for _, r := range remote.Requests(fake.SIMOnly(), fake.ByMethod("PATCH")) {
		if r.ClientID == e.clientID {
			out = append(out, string(r.Body))
		}
	}
	return out
}

func get(s *simv1alpha1.SimIntegration) func(Gomega) *simv1alpha1.SimIntegration {
	return func(g Gomega) *simv1alpha1.SimIntegration {
		out := &simv1alpha1.SimIntegration{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(s), out)).To(Succeed())
		return out
	}
}

// waitCondition waits until the condition has status and reason for the current generation.
func waitCondition(s *simv1alpha1.SimIntegration, condType string, status metav1.ConditionStatus, reason string) *simv1alpha1.SimIntegration {
	var out *simv1alpha1.SimIntegration
	Eventually(func(g Gomega) {
		out = get(s)(g)
		c := meta.FindStatusCondition(out.Status.Conditions, condType)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(out.Generation))
		g.Expect(c.Status).To(Equal(status), c.Message)
		if reason != "" {
			g.Expect(c.Reason).To(Equal(reason), c.Message)
		}
	}).Should(Succeed())
	return out
}

func waitReady(s *simv1alpha1.SimIntegration) *simv1alpha1.SimIntegration {
	return waitCondition(s, simv1alpha1.ConditionReady, metav1.ConditionTrue, "")
}

func update(s *simv1alpha1.SimIntegration, mutate func(*simv1alpha1.SimIntegration)) {
	Eventually(func(g Gomega) {
		cur := get(s)(g)
		mutate(cur)
		g.Expect(k8s.Update(ctx, cur)).To(Succeed())
	}).Should(Succeed())
}

func remoteDoc(id string) map[string]any {
	o, ok := remote.Get(id)
	Expect(ok).To(BeTrue(), "remote object %s", id)
	return o.Doc
}

func remoteByName(name string) []fake.Object {
	var out []fake.Object
	for _, o := range remote.Objects() {
		if o.Doc["name"] == name {
			out = append(out, o)
		}
	}
	return out
}

func eventReasons(s *simv1alpha1.SimIntegration) []string {
	list := &eventsv1.EventList{}
	Expect(k8s.List(ctx, list, client.InNamespace(s.Namespace))).To(Succeed())
	var out []string
	for _, ev := range list.Items {
		if ev.Regarding.Name == s.Name {
			out = append(out, ev.Reason+": "+ev.Note)
		}
	}
	return out
}

func attrs(m map[string]any) *apiextensionsv1.JSON {
	raw, err := json.Marshal(m)
	Expect(err).NotTo(HaveOccurred())
	return &apiextensionsv1.JSON{Raw: raw}
}

func toJSON(v any) string {
	raw, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(raw)
}
