package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/diff"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

func pureSim(mutate func(*simv1alpha1.SimIntegration)) *simv1alpha1.SimIntegration {
	s := &simv1alpha1.SimIntegration{}
	s.Name = "hr"
	s.Spec.Type = simv1alpha1.DefaultIntegrationType
	s.Spec.Description = new("Tickets")
	s.Spec.StatusMap = map[string]string{"closed": "Committed"}
	s.Spec.Attributes = rawJSON(`{"url":"https://a"}`)
	s.Spec.SecretAttributes = []simv1alpha1.SecretAttribute{{Name: "password",
		SecretKeyRef: simv1alpha1.SecretKeySelector{Name: "sn", Key: "password"}}}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func secretsAt(rv string) map[string]secretValue {
	return map[string]secretValue{"password": {Value: "hunter2", Version: simv1alpha1.SecretVersion{
		Attribute: "password", Secret: "sn", Key: "password", ResourceVersion: rv}}}
}

func mustDesired(t *testing.T, s *simv1alpha1.SimIntegration, secrets map[string]secretValue) desiredState {
	t.Helper()
	d, err := buildDesired(s, secrets, refIDs{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildDesired(t *testing.T) {
	d := mustDesired(t, pureSim(func(s *simv1alpha1.SimIntegration) { s.Spec.Sources = []string{"b", "a", "b"} }), secretsAt("1"))
	if d.Doc["name"] != "hr" {
		t.Errorf("name defaults to metadata.name: %v", d.Doc["name"])
	}
	if got := fmt.Sprint(d.Doc["sources"]); got != "[a b]" {
		t.Errorf("sources sorted and de-duplicated: %s", got)
	}
	if got := d.Doc["attributes"].(map[string]any)["password"]; got != "hunter2" {
		t.Errorf("secret value in the desired document: %v", got)
	}
	for field, dg := range d.Applied.FieldDigests {
		if dg == "" {
			t.Errorf("empty digest for %s", field)
		}
	}
	if strings.Contains(fmt.Sprintf("%+v", d.Applied), "hunter2") {
		t.Error("the last-applied record must not hold the secret value")
	}
	if _, err := buildDesired(pureSim(func(s *simv1alpha1.SimIntegration) { s.Spec.Attributes = rawJSON(`{"password":"x"}`) }), secretsAt("1"), refIDs{}); err == nil {
		t.Error("an attribute in both attributes and secretAttributes must be refused")
	}
	plainOnly := mustDesired(t, pureSim(func(s *simv1alpha1.SimIntegration) { s.Spec.SecretAttributes = nil; s.Spec.Attributes = nil }), nil)
	if _, ok := plainOnly.Doc["attributes"]; ok {
		t.Error("unset attributes must stay unmanaged")
	}
}

// The remote masks the password and does not return statusMap (the ServiceDeskIntegrationDto shape).
func dtoObserved(desc string) map[string]any {
	return map[string]any{"name": "hr", "type": simv1alpha1.DefaultIntegrationType, "description": desc,
		"attributes": map[string]any{"url": "https://a", "password": "********"}}
}

func TestComparableObservedUsesTheLastAppliedRecord(t *testing.T) {
	s := pureSim(nil)
	v1 := mustDesired(t, s, secretsAt("1"))
	for _, tc := range []struct {
		name      string
		last      *simv1alpha1.LastApplied
		want      desiredState
		observed  map[string]any
		wantPaths []string
	}{
		{"never applied: masked and missing fields are sent", nil, v1, dtoObserved("Tickets"), []string{"/attributes", "/statusMap"}},
		{"applied and unchanged: nothing to send", &v1.Applied, v1, dtoObserved("Tickets"), nil},
		{"secret rotated: only the password", &v1.Applied, mustDesired(t, s, secretsAt("2")), dtoObserved("Tickets"), []string{"/attributes"}},
		{"statusMap changed in spec: re-sent", &v1.Applied, mustDesired(t, pureSim(func(s *simv1alpha1.SimIntegration) {
			s.Spec.StatusMap = map[string]string{"closed": "Failed"}
		}), secretsAt("1")), dtoObserved("Tickets"), []string{"/statusMap"}},
		{"visible drift is still seen", &v1.Applied, v1, dtoObserved("edited"), []string{"/description"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := diff.Compute(comparableObserved(tc.observed, tc.want, tc.last, false), tc.want.Doc)
			if fmt.Sprint(d.Paths) != fmt.Sprint(tc.wantPaths) {
				t.Errorf("paths = %v, want %v (ops %v)", d.Paths, tc.wantPaths, d.Operations)
			}
		})
	}
	rotated := mustDesired(t, s, secretsAt("2"))
	d := diff.Compute(comparableObserved(dtoObserved("Tickets"), rotated, &v1.Applied, false), rotated.Doc)
	if len(d.Operations) != 1 || d.Operations[0].Path != "/attributes/password" {
		t.Errorf("a rotated secret sends exactly its own key: %v", d.Operations)
	}
	if d := diff.Compute(comparableObserved(dtoObserved("Tickets"), v1, nil, true), v1.Doc); !d.Empty() {
		t.Errorf("ObserveOnly compares only what the remote shows: %v", d.Paths)
	}
}

func TestSetConditions(t *testing.T) {
	type want struct{ ready, reconciling, stalled metav1.ConditionStatus }
	for _, tc := range []struct {
		name string
		o    outcome
		want want
	}{
		{"ready", ready(simv1alpha1.ReasonSynced, "ok"), want{"True", "False", "False"}},
		{"progressing", progressing(simv1alpha1.ReasonCreating, "creating"), want{"Unknown", "True", "False"}},
		{"stalled", stalled(simv1alpha1.ReasonNameConflict, "taken"), want{"False", "False", "True"}},
		{"remote gone", outcome{outcomeNotReady, simv1alpha1.ReasonRemoteNotFound, "gone"}, want{"False", "False", "False"}},
		{"suspended", outcome{outcomeSuspended, simv1alpha1.ReasonSuspended, "zz"}, want{"Unknown", "False", "False"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conds []metav1.Condition
			setConditions(&conds, 7, tc.o)
			got := want{
				meta.FindStatusCondition(conds, "Ready").Status,
				meta.FindStatusCondition(conds, "Reconciling").Status,
				meta.FindStatusCondition(conds, "Stalled").Status,
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for _, c := range conds {
				if c.ObservedGeneration != 7 {
					t.Errorf("%s has observedGeneration %d", c.Type, c.ObservedGeneration)
				}
			}
		})
	}
	var conds []metav1.Condition
	setConditions(&conds, 1, ready(simv1alpha1.ReasonSynced, "ok"))
	setConditions(&conds, 2, progressing(simv1alpha1.ReasonRetrying, "retrying"))
	if c := meta.FindStatusCondition(conds, "Ready"); c.Status != metav1.ConditionFalse {
		t.Errorf("Ready while a new generation is applied = %s, want False", c.Status)
	}
	setConditions(&conds, 2, outcome{outcomeSuspended, simv1alpha1.ReasonSuspended, ""})
	if c := meta.FindStatusCondition(conds, "Ready"); c.Reason != simv1alpha1.ReasonRetrying {
		t.Errorf("suspend leaves Ready as it was, got reason %s", c.Reason)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err        error
		kind       outcomeKind
		reason     string
		requeue    time.Duration
		backoff    bool
		rateLimted bool
	}{
		{&identitynow.Error{Kind: identitynow.KindInvalid, StatusCode: 400, Messages: []string{"bad name"}}, outcomeStalled, simv1alpha1.ReasonInvalidSpec, stalledRetryInterval, false, false},
		{&identitynow.Error{Kind: identitynow.KindForbidden, StatusCode: 403}, outcomeStalled, simv1alpha1.ReasonForbidden, stalledRetryInterval, false, false},
		{&identitynow.Error{Kind: identitynow.KindUnauthorized, StatusCode: 401}, outcomeStalled, simv1alpha1.ReasonUnauthorized, stalledRetryInterval, false, false},
		{&identitynow.Error{Kind: identitynow.KindRateLimited, StatusCode: 429, RetryAfter: 300 * time.Second}, outcomeProgressing, simv1alpha1.ReasonRateLimited, 300 * time.Second, false, true},
		{&identitynow.Error{Kind: identitynow.KindServer, StatusCode: 503}, outcomeProgressing, simv1alpha1.ReasonRetrying, 0, true, false},
		{&identitynow.Error{Kind: identitynow.KindTransport}, outcomeProgressing, simv1alpha1.ReasonRetrying, 0, true, false},
		{stall(simv1alpha1.ReasonNameConflict, "taken"), outcomeStalled, simv1alpha1.ReasonNameConflict, stalledRetryInterval, false, false},
		{fmt.Errorf("wrapped: %w", &tenant.SecretKeyError{Namespace: "ns", Name: "s", Key: "k"}), outcomeStalled, simv1alpha1.ReasonSecretNotFound, stalledRetryInterval, false, false},
		{&tenant.ConfigError{Reason: simv1alpha1.ReasonTenantNotAllowed, Message: "not here"}, outcomeStalled, simv1alpha1.ReasonTenantNotAllowed, stalledRetryInterval, false, false},
		{errors.New("apiserver hiccup"), outcomeProgressing, simv1alpha1.ReasonRetrying, 0, true, false},
	} {
		v := classify(tc.err)
		if v.outcome.kind != tc.kind || v.outcome.reason != tc.reason || v.requeueAfter != tc.requeue ||
			(v.err != nil) != tc.backoff || v.rateLimited != tc.rateLimted {
			t.Errorf("classify(%v) = %+v", tc.err, v)
		}
	}
	if m := classify(&identitynow.Error{Kind: identitynow.KindInvalid, StatusCode: 400, Messages: []string{"name already exists"}}).outcome.message; !strings.Contains(m, "name already exists") {
		t.Errorf("the remote's own words belong in the message: %q", m)
	}
}

func TestLocate(t *testing.T) {
	view := viewOf(t, identitynow.Integration{ID: "id-1", Name: "hr"}, identitynow.Integration{ID: "id-2", Name: "other"})
	for _, tc := range []struct {
		name    string
		mutate  func(*simv1alpha1.SimIntegration)
		known   string
		wantID  string
		claim   bool
		create  bool
		gone    bool
		errText string
	}{
		{name: "stored id", known: "id-1", wantID: "id-1"},
		{name: "stored id vanished", known: "id-9", gone: true},
		{name: "free name: create", mutate: func(s *simv1alpha1.SimIntegration) { s.Name = "new" }, create: true},
		{name: "foreign name", errText: simv1alpha1.ReasonNameConflict},
		{name: "own interrupted create", mutate: func(s *simv1alpha1.SimIntegration) {
			s.Status.PendingCreate = &simv1alpha1.PendingCreate{Name: "hr"}
		}, wantID: "id-1", claim: true},
		{name: "adopt by name", mutate: func(s *simv1alpha1.SimIntegration) {
			s.Spec.AdoptionPolicy = simv1alpha1.AdoptionPolicyAdoptByName
		}, wantID: "id-1", claim: true},
		{name: "external id", mutate: func(s *simv1alpha1.SimIntegration) {
			s.Annotations = map[string]string{simv1alpha1.AnnotationExternalID: "id-2"}
		}, wantID: "id-2", claim: true},
		{name: "unknown external id", mutate: func(s *simv1alpha1.SimIntegration) {
			s.Annotations = map[string]string{simv1alpha1.AnnotationExternalID: "id-9"}
		}, errText: "id-9"},
		{name: "observe only, missing", mutate: func(s *simv1alpha1.SimIntegration) {
			s.Name = "new"
			s.Spec.ManagementPolicy = simv1alpha1.ManagementPolicyObserveOnly
		}, errText: "no remote integration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &simv1alpha1.SimIntegration{}
			s.Name = "hr"
			if tc.mutate != nil {
				tc.mutate(s)
			}
			got, err := locate(s, policyFor(&s.Spec), tc.known, view)
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.create && got.remote != nil, tc.gone != (got.vanished != ""), tc.claim != got.claim:
				t.Fatalf("got %+v", got)
			case tc.wantID != "" && (got.remote == nil || got.remote.ID != tc.wantID):
				t.Fatalf("got %+v, want id %s", got, tc.wantID)
			}
		})
	}
}

func viewOf(t *testing.T, items ...identitynow.Integration) tenant.View {
	t.Helper()
	list := func(_ context.Context, each func(identitynow.Integration)) error {
		for _, it := range items {
			each(it)
		}
		return nil
	}
	s := tenant.NewSnapshot(tenant.SnapshotOptions{List: list, Interval: time.Hour})
	v, err := s.Get(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func rawJSON(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }

func TestEmptySpecMapsRemoveEveryRemoteKey(t *testing.T) {
	s := pureSim(func(s *simv1alpha1.SimIntegration) {
		s.Spec.StatusMap = map[string]string{}
		s.Spec.Sources = []string{}
		s.Spec.SecretAttributes = nil
	})
	d := mustDesired(t, s, nil)
	observed := map[string]any{"statusMap": map[string]any{"closed": "Committed"}, "sources": []any{"a"}}
	got := diff.Compute(observed, d.Doc)
	if fmt.Sprint(got.Paths) != "[/attributes /description /name /sources /statusMap /type]" {
		t.Fatalf("paths = %v", got.Paths)
	}
	for _, op := range got.Operations {
		if op.Path == "/statusMap/closed" && op.Operation != "remove" {
			t.Errorf("statusMap: {} must remove remote keys: %v", op)
		}
	}
}

func TestPutDocumentKeepsUnmanagedFields(t *testing.T) {
	s := pureSim(func(s *simv1alpha1.SimIntegration) { s.Spec.StatusMap = nil })
	d := mustDesired(t, s, secretsAt("1"))
	full, err := putDocument(map[string]any{"name": "hr", "cluster": "va-1", "statusMap": map[string]any{"x": "y"},
		"attributes": map[string]any{"password": "********"}}, d)
	if err != nil {
		t.Fatal(err)
	}
	if full.Cluster == nil || *full.Cluster != "va-1" || full.StatusMap["x"] != "y" {
		t.Errorf("unmanaged fields must survive a PUT: %+v", full)
	}
	if full.Attributes["password"] != "hunter2" || *full.Description != "Tickets" {
		t.Errorf("managed fields come from the spec: %+v", full)
	}
	unmanaged := mustDesired(t, pureSim(func(s *simv1alpha1.SimIntegration) { s.Spec.Attributes, s.Spec.SecretAttributes = nil, nil }), nil)
	if _, err := putDocument(map[string]any{"attributes": map[string]any{"password": "****"}}, unmanaged); err == nil {
		t.Error("a PUT must not write a mask back over an unmanaged masked attribute")
	}
}

func TestRefusePlaceholders(t *testing.T) {
	placeholder := map[string]secretValue{"password": {Value: "REPLACE_ME", Version: simv1alpha1.SecretVersion{Secret: "sn", Key: "password"}}}
	if err := refusePlaceholders(policyFor(&pureSim(nil).Spec), placeholder); err == nil || !strings.Contains(err.Error(), "sim-operator-export") {
		t.Errorf("a managed object must not send the export placeholder: %v", err)
	}
	observer := pureSim(func(s *simv1alpha1.SimIntegration) { s.Spec.ManagementPolicy = simv1alpha1.ManagementPolicyObserveOnly })
	if err := refusePlaceholders(policyFor(&observer.Spec), placeholder); err != nil {
		t.Errorf("observing with placeholders is fine: %v", err)
	}
	if err := refusePlaceholders(policyFor(&pureSim(nil).Spec), secretsAt("1")); err != nil {
		t.Errorf("real values pass: %v", err)
	}
}

func TestCacheTransform(t *testing.T) {
	obj := pureSim(nil)
	obj.Annotations = map[string]string{lastAppliedAnnotation: `{"big":"copy"}`, simv1alpha1.AnnotationExternalID: "abc"}
	obj.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	out, err := CacheTransform()(obj)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*simv1alpha1.SimIntegration)
	if len(got.ManagedFields) != 0 {
		t.Error("managedFields kept")
	}
	if _, ok := got.Annotations[lastAppliedAnnotation]; ok {
		t.Error("the last-applied copy kept")
	}
	if got.Annotations[simv1alpha1.AnnotationExternalID] != "abc" {
		t.Error("the annotations the operator reads must stay")
	}
}

func TestCacheTransformSharesRepeatedStrings(t *testing.T) {
	decoded := func() *simv1alpha1.SimIntegration {
		// Each decode allocates its own strings, as the informer's watch decoder does.
		o := &simv1alpha1.SimIntegration{}
		raw := `{"apiVersion":"sim.identitynow.io/v1alpha1","kind":"SimIntegration","metadata":{"namespace":"team-a","name":"x"},
			"spec":{"tenantRef":{"name":"acme"},"name":"X","managementPolicy":"Manage"},
			"status":{"conditions":[{"type":"Ready","status":"True","reason":"Synced","message":"Remote integration matches the spec"}]}}`
		if err := json.Unmarshal([]byte(raw), o); err != nil {
			t.Fatal(err)
		}
		out, err := CacheTransform()(o)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*simv1alpha1.SimIntegration)
	}
	a, b := decoded(), decoded()
	same := func(what, x, y string) {
		t.Helper()
		if x != y || unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s: %q and %q are separate copies", what, x, y)
		}
	}
	same("namespace", a.Namespace, b.Namespace)
	same("kind", a.Kind, b.Kind)
	same("tenant", a.Spec.TenantRef.Name, b.Spec.TenantRef.Name)
	same("policy", string(a.Spec.ManagementPolicy), string(b.Spec.ManagementPolicy))
	same("condition message", a.Status.Conditions[0].Message, b.Status.Conditions[0].Message)
	if a.Status.Conditions[0].Message != "Remote integration matches the spec" || a.Spec.Name != "X" {
		t.Errorf("values changed: %+v", a)
	}
}

func TestOlderThan(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"5", "", false},   // nothing written
		{"5", "5", false},  // the cache holds the write
		{"4", "5", true},   // the cache is behind
		{"10", "9", false}, // numeric, not lexical: a later write by someone else
		{"x", "5", true},   // not comparable: wait (briefly)
	} {
		if got := olderThan(tc.a, tc.b); got != tc.want {
			t.Errorf("olderThan(%q, %q) = %t, want %t", tc.a, tc.b, got, tc.want)
		}
	}
}
