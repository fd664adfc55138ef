package controller

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/options"
	"github.com/sim-operator/sim-operator/internal/tenant"
	"github.com/sim-operator/sim-operator/internal/tenant/remotefake"
)

// The sync steps, one branch per case, through controller-runtime's fake client and a function-field
// fake of the remote: a case sets only the remote calls its branch may make, so any other call fails
// it ("not implemented"). Each case checks the outcome, the remote calls in order, the status the
// reconcile would write, what was persisted before the remote write, and the Events.

const syncNS = "team-a"

// syncRig is one case's world: the Kubernetes objects, the remote's objects and the clock.
type syncRig struct {
	t      *testing.T
	k8s    client.Client
	remote *remotefake.Remote
	r      *SimIntegrationReconciler
	events *events.FakeRecorder

	mu     sync.Mutex
	now    time.Time
	stored map[string]identitynow.Integration
}

func (g *syncRig) clock() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

func (g *syncRig) advance(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now = g.now.Add(d)
}

// freeze suspends the rig's tenant (a change freeze).
func (g *syncRig) freeze() {
	g.t.Helper()
	t := &simv1alpha1.Tenant{}
	if err := g.k8s.Get(g.t.Context(), client.ObjectKey{Namespace: syncNS, Name: "acme"}, t); err != nil {
		g.t.Fatal(err)
	}
	t.Spec.Suspend = true
	if err := g.k8s.Update(g.t.Context(), t); err != nil {
		g.t.Fatal(err)
	}
}

// list serves the remote's objects, as ListEach.
func (g *syncRig) list(_ context.Context, each func(identitynow.Integration)) error {
	g.mu.Lock()
	items := make([]identitynow.Integration, 0, len(g.stored))
	for _, it := range g.stored {
		items = append(items, it)
	}
	g.mu.Unlock()
	for _, it := range items {
		each(it)
	}
	return nil
}

func newSyncRig(t *testing.T, updateStrategy simv1alpha1.UpdateStrategy, objs ...client.Object) *syncRig {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := simv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ready := &simv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: syncNS, Name: "acme"},
		Spec: simv1alpha1.TenantSpec{BaseURL: "https://acme.api.identitynow.com", APIRelease: simv1alpha1.APIReleaseV2024,
			CredentialsRef: simv1alpha1.CredentialsReference{Name: "api-client", ClientIDKey: "clientId", ClientSecretKey: "clientSecret"},
			UpdateStrategy: updateStrategy, PatchFormat: simv1alpha1.PatchFormatOperations,
			PollInterval: metav1.Duration{Duration: time.Minute}},
		Status: simv1alpha1.TenantStatus{Conditions: []metav1.Condition{{Type: simv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: simv1alpha1.ReasonTokenObtained, LastTransitionTime: metav1.Now()}}},
	}
	secrets := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: syncNS, Name: "api-client", ResourceVersion: "1"},
			Data: map[string][]byte{"clientId": []byte("rig-client"), "clientSecret": []byte("rig-secret")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: syncNS, Name: "sn", ResourceVersion: "1"},
			Data: map[string][]byte{"password": []byte("hunter2")}},
	}
	k8s := fakeclient.NewClientBuilder().WithScheme(scheme).
		WithStatusSubresource(&simv1alpha1.SimIntegration{}, &simv1alpha1.Tenant{}).
		WithIndex(&simv1alpha1.SimIntegration{}, indexRemoteID, remoteIDIndex).
		WithObjects(append(append(secrets, ready), objs...)...).
		Build()
	g := &syncRig{t: t, k8s: k8s, now: time.Unix(1_800_000_000, 0), stored: map[string]identitynow.Integration{}}
	g.remote = &remotefake.Remote{
		ListEachFunc:   g.list,
		CheckTokenFunc: func(context.Context) error { return nil },
	}
	registry := tenant.NewRegistry(tenant.RegistryOptions{
		Clock:     g.clock,
		NewRemote: func(identitynow.Config) (tenant.Remote, error) { return g.remote, nil },
	})
	g.events = events.NewFakeRecorder(20)
	g.r = &SimIntegrationReconciler{
		Client:   k8s,
		Recorder: g.events,
		Clock:    g.clock,
		Tenants: &tenant.Resolver{Client: k8s, Registry: registry, Options: &options.Options{TenantHostAllowlist: strings.Split(options.DefaultTenantHostAllowlist, ",")},
			Secrets: &tenant.SecretReader{Metadata: k8s, API: k8s}},
	}
	return g
}

// syncSim is the SimIntegration the cases start from: managed, Delete on deletion, one secret attribute.
func syncSim(mutate func(*simv1alpha1.SimIntegration)) *simv1alpha1.SimIntegration {
	s := &simv1alpha1.SimIntegration{
		ObjectMeta: metav1.ObjectMeta{Namespace: syncNS, Name: "hr", UID: "uid-hr", Generation: 1,
			CreationTimestamp: metav1.NewTime(time.Unix(1_700_000_000, 0))},
		Spec: simv1alpha1.SimIntegrationSpec{
			TenantRef:        simv1alpha1.TenantReference{Name: "acme"},
			Name:             "HR",
			Type:             simv1alpha1.DefaultIntegrationType,
			Description:      new("Tickets"),
			Attributes:       rawJSON(`{"url":"https://acme.service-now.com"}`),
			SecretAttributes: []simv1alpha1.SecretAttribute{{Name: "password", SecretKeyRef: simv1alpha1.SecretKeySelector{Name: "sn", Key: "password"}}},
			ManagementPolicy: simv1alpha1.ManagementPolicyManage,
			DeletionPolicy:   simv1alpha1.DeletionPolicyDelete,
			AdoptionPolicy:   simv1alpha1.AdoptionPolicyNone,
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

// syncedSim is syncSim after a sync of generation 1 with the remote object id.
func syncedSim(t *testing.T, id string, mutate func(*simv1alpha1.SimIntegration)) *simv1alpha1.SimIntegration {
	t.Helper()
	return syncSim(func(s *simv1alpha1.SimIntegration) {
		s.Finalizers = []string{simv1alpha1.Finalizer}
		s.Status.ID, s.Status.ObservedGeneration = id, 1
		s.Status.LastApplied = syncedRecord(t)
		if mutate != nil {
			mutate(s)
		}
	})
}

// remoteHR is the remote object that matches syncSim, as the remote returns it (the password masked).
func remoteHR(id string, mutate func(map[string]any)) identitynow.Integration {
	fields := map[string]any{
		"name": "HR", "description": "Tickets", "type": simv1alpha1.DefaultIntegrationType,
		"attributes": map[string]any{"url": "https://acme.service-now.com", "password": "********"},
	}
	if mutate != nil {
		mutate(fields)
	}
	return identitynow.Integration{ID: id, Name: "HR", Fields: fields, Modified: time.Unix(1_700_000_100, 0)}
}

// syncedRecord is the last-applied record of syncSim sent from Secret sn at version 1.
func syncedRecord(t *testing.T) *simv1alpha1.LastApplied {
	t.Helper()
	want, err := buildDesired(syncSim(nil), map[string]secretValue{"password": {Value: "hunter2",
		Version: simv1alpha1.SecretVersion{Attribute: "password", Secret: "sn", Key: "password", ResourceVersion: "1"}}}, refIDs{})
	if err != nil {
		t.Fatal(err)
	}
	return &want.Applied
}

func remoteErr(kind identitynow.ErrorKind, status int, msg string) error {
	return &identitynow.Error{Kind: kind, StatusCode: status, Messages: []string{msg}}
}

// syncWant is what one pass must conclude.
type syncWant struct {
	// kind and reason of the outcome, after classify for an error
	kind   outcomeKind
	reason string
	// message is a substring of the outcome's message
	message string
	calls   []string
	// id is the status.id the reconcile would write
	id string
	// pendingCreate: status.pendingCreate is set in the status to write
	pendingCreate bool
	// events are the reasons of the Events, in order
	events []string
	// finalizer: the stored object holds the finalizer afterwards
	finalizer bool
}

func TestSyncSteps(t *testing.T) {
	for _, tc := range []struct {
		name           string
		updateStrategy simv1alpha1.UpdateStrategy
		obj            *simv1alpha1.SimIntegration
		others         []client.Object
		// before sets up the remote and the reconciler's memory
		before func(t *testing.T, g *syncRig)
		want   syncWant
		// check asserts the rest
		check func(t *testing.T, g *syncRig, st simv1alpha1.SimIntegrationStatus)
	}{{
		name: "create persists the finalizer and the marker before the POST",
		obj:  syncSim(nil),
		before: func(t *testing.T, g *syncRig) {
			g.remote.CreateFunc = func(ctx context.Context, d identitynow.Details) (*identitynow.Integration, error) {
				stored := &simv1alpha1.SimIntegration{}
				if err := g.k8s.Get(ctx, client.ObjectKey{Namespace: syncNS, Name: "hr"}, stored); err != nil {
					return nil, err
				}
				if stored.Status.PendingCreate == nil || !controllerutil.ContainsFinalizer(stored, simv1alpha1.Finalizer) {
					t.Errorf("POST sent before the marker and finalizer were stored: %+v", stored.Status)
				}
				if d.Attributes["password"] != "hunter2" {
					t.Errorf("the create must carry the Secret's value")
				}
				it := remoteHR("new-id", nil)
				return &it, nil
			}
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced, calls: []string{"CheckToken", "ListEach", "Create"},
			id: "new-id", events: []string{"Created"}, finalizer: true},
	}, {
		name: "an ambiguous 5xx create keeps the marker and waits for a list sent after it",
		obj:  syncSim(nil),
		before: func(t *testing.T, g *syncRig) {
			g.remote.CreateFunc = func(context.Context, identitynow.Details) (*identitynow.Integration, error) {
				g.advance(3 * time.Second)
				return nil, remoteErr(identitynow.KindServer, 503, "upstream timed out")
			}
		},
		want: syncWant{kind: outcomeProgressing, reason: simv1alpha1.ReasonRetrying, message: "upstream timed out",
			calls: []string{"CheckToken", "ListEach", "Create"}, pendingCreate: true, finalizer: true},
		check: func(t *testing.T, g *syncRig, _ simv1alpha1.SimIntegrationStatus) {
			if end := g.r.creates.AmbiguousEnd(syncSim(nil)); !end.Equal(g.clock()) {
				t.Errorf("AmbiguousEnd = %v, want the time the create ended (%v)", end, g.clock())
			}
		},
	}, {
		name: "a create refused because the name was taken since the last list is a NameConflict",
		obj:  syncSim(nil),
		before: func(t *testing.T, g *syncRig) {
			g.remote.CreateFunc = func(context.Context, identitynow.Details) (*identitynow.Integration, error) {
				g.mu.Lock()
				g.stored["ui-made"] = remoteHR("ui-made", nil) // created in the UI after the list
				g.now = g.now.Add(time.Second)
				g.mu.Unlock()
				return nil, remoteErr(identitynow.KindInvalid, 400, "an integration with this name already exists")
			}
		},
		want: syncWant{kind: outcomeStalled, reason: simv1alpha1.ReasonNameConflict, message: "(id ui-made)",
			calls: []string{"CheckToken", "ListEach", "Create", "ListEach"}, finalizer: true},
	}, {
		name: "after an ambiguous create, the object that landed is claimed, not created again",
		obj: syncSim(func(s *simv1alpha1.SimIntegration) {
			s.Finalizers = []string{simv1alpha1.Finalizer}
			s.Status.PendingCreate = &simv1alpha1.PendingCreate{Name: "HR", StartedAt: metav1.NewTime(time.Unix(1_799_999_990, 0))}
		}),
		before: func(t *testing.T, g *syncRig) {
			g.stored["landed"] = remoteHR("landed", nil)
			g.r.creates.EndedAmbiguously(syncSim(nil), g.clock().Add(-time.Second))
			g.remote.PatchFunc = func(_ context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error) {
				if len(ops) != 1 || ops[0].Path != "/attributes/password" {
					t.Errorf("only the masked password, which no record says was sent, may be sent again: %+v", ops)
				}
				it := remoteHR(id, nil)
				return &it, nil
			}
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced, calls: []string{"CheckToken", "ListEach", "Patch"},
			id: "landed", events: []string{"Updated"}, finalizer: true},
	}, {
		name: "a 400 on a patch computed from an old list is retried once on a fresh read",
		obj: syncedSim(t, "id-1", func(s *simv1alpha1.SimIntegration) {
			s.Spec.Description = new("Tickets, triaged")
		}),
		before: func(t *testing.T, g *syncRig) {
			g.stored["id-1"] = remoteHR("id-1", nil)
			patches := 0
			g.remote.PatchFunc = func(_ context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error) {
				patches++
				if patches == 1 {
					g.advance(2 * time.Second) // the list is now older than a second
					return nil, remoteErr(identitynow.KindInvalid, 400, "test operation failed")
				}
				it := remoteHR(id, func(f map[string]any) { f["description"] = "Tickets, triaged" })
				return &it, nil
			}
			g.remote.GetFunc = func(_ context.Context, id string) (*identitynow.Integration, error) {
				it := remoteHR(id, func(f map[string]any) { f["name"] = "HR" })
				return &it, nil
			}
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced, calls: []string{"CheckToken", "ListEach", "Patch", "Get", "Patch"},
			id: "id-1", events: []string{"Updated"}, finalizer: true},
	}, {
		name: "a remote object deleted outside Kubernetes is confirmed gone, then recreated",
		obj:  syncedSim(t, "gone", nil),
		before: func(t *testing.T, g *syncRig) {
			g.remote.GetFunc = func(context.Context, string) (*identitynow.Integration, error) {
				return nil, remoteErr(identitynow.KindNotFound, 404, "not found")
			}
			g.remote.CreateFunc = func(context.Context, identitynow.Details) (*identitynow.Integration, error) {
				it := remoteHR("again", nil)
				return &it, nil
			}
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced, calls: []string{"CheckToken", "ListEach", "Get", "Create"},
			id: "again", events: []string{"Recreated"}, finalizer: true},
	}, {
		name: "a listed-missing object that a direct read finds is updated, not recreated",
		obj:  syncedSim(t, "late", nil),
		before: func(t *testing.T, g *syncRig) {
			g.remote.GetFunc = func(_ context.Context, id string) (*identitynow.Integration, error) {
				it := remoteHR(id, nil)
				return &it, nil
			}
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced, calls: []string{"CheckToken", "ListEach", "Get"},
			id: "late", finalizer: true},
	}, {
		name:           "a PUT sends a managed secret attribute's value over its mask",
		updateStrategy: simv1alpha1.UpdateStrategyPut,
		obj: syncSim(func(s *simv1alpha1.SimIntegration) {
			s.Finalizers = []string{simv1alpha1.Finalizer}
			s.Status.ID = "id-1"
			s.Spec.Description = new("Tickets, triaged")
		}),
		before: func(t *testing.T, g *syncRig) {
			g.stored["id-1"] = remoteHR("id-1", func(f map[string]any) { f["cluster"] = "unmanaged-cluster" })
			g.remote.PutFunc = func(_ context.Context, id string, d identitynow.Details) (*identitynow.Integration, error) {
				if d.Attributes["password"] != "hunter2" || d.Cluster == nil || *d.Cluster != "unmanaged-cluster" || *d.Description != "Tickets, triaged" {
					t.Errorf("PUT body: password from the Secret, unmanaged fields kept, managed ones from spec; got %+v", d)
				}
				it := remoteHR(id, func(f map[string]any) { f["description"] = "Tickets, triaged" })
				return &it, nil
			}
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced, calls: []string{"CheckToken", "ListEach", "Put"},
			id: "id-1", events: []string{"Updated"}, finalizer: true},
	}, {
		name:           "a PUT never writes a mask back over an unmanaged masked attribute",
		updateStrategy: simv1alpha1.UpdateStrategyPut,
		obj: syncSim(func(s *simv1alpha1.SimIntegration) {
			s.Finalizers = []string{simv1alpha1.Finalizer}
			s.Status.ID = "id-1"
			s.Spec.Description = new("Tickets, triaged")
			s.Spec.Attributes, s.Spec.SecretAttributes = nil, nil // attributes are left to the remote
		}),
		before: func(t *testing.T, g *syncRig) {
			g.stored["id-1"] = remoteHR("id-1", func(f map[string]any) {
				f["attributes"].(map[string]any)["apiToken"] = "****"
			})
		},
		want: syncWant{kind: outcomeStalled, reason: simv1alpha1.ReasonInvalidSpec, message: `masked attribute "apiToken"`, // the first by name of the two masked keys
			calls: []string{"CheckToken", "ListEach"}, id: "id-1", finalizer: true},
	}, {
		name: "adoption by name records the id and says so",
		obj:  syncSim(func(s *simv1alpha1.SimIntegration) { s.Spec.AdoptionPolicy = simv1alpha1.AdoptionPolicyAdoptByName }),
		before: func(t *testing.T, g *syncRig) {
			g.stored["theirs"] = remoteHR("theirs", nil)
			g.remote.PatchFunc = func(_ context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error) {
				it := remoteHR(id, nil) // the password is sent once: nothing recorded it yet
				return &it, nil
			}
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced, calls: []string{"CheckToken", "ListEach", "Patch"},
			id: "theirs", events: []string{"Adopted", "Updated"}, finalizer: true},
	}, {
		name: "a remote object another SimIntegration manages is not taken over",
		obj: syncSim(func(s *simv1alpha1.SimIntegration) {
			s.Annotations = map[string]string{simv1alpha1.AnnotationExternalID: "taken"}
		}),
		others: []client.Object{syncSim(func(s *simv1alpha1.SimIntegration) {
			s.Name, s.UID, s.Status.ID = "first", "uid-first", "taken"
		})},
		before: func(t *testing.T, g *syncRig) { g.stored["taken"] = remoteHR("taken", nil) },
		want: syncWant{kind: outcomeStalled, reason: simv1alpha1.ReasonAlreadyManaged, message: "SimIntegration team-a/first",
			calls: []string{"CheckToken", "ListEach"}, finalizer: true},
	}, {
		name: "a deletion during a pending create finds the object by name and deletes it",
		obj: syncSim(func(s *simv1alpha1.SimIntegration) {
			s.Finalizers = []string{simv1alpha1.Finalizer}
			s.DeletionTimestamp = &metav1.Time{Time: time.Unix(1_799_999_999, 0)}
			s.Status.PendingCreate = &simv1alpha1.PendingCreate{Name: "HR", StartedAt: metav1.NewTime(time.Unix(1_799_999_990, 0))}
		}),
		before: func(t *testing.T, g *syncRig) {
			g.stored["landed"] = remoteHR("landed", nil)
			g.remote.DeleteFunc = func(_ context.Context, id string) error {
				if id != "landed" {
					t.Errorf("deleted %s, want the object the interrupted create made", id)
				}
				return nil
			}
		},
		want: syncWant{kind: outcomeDeleted, calls: []string{"CheckToken", "ListEach", "Delete"}, pendingCreate: true, events: []string{"Deleted"}},
	}, {
		name: "a deletion during a pending create that never landed deletes nothing",
		obj: syncSim(func(s *simv1alpha1.SimIntegration) {
			s.Finalizers = []string{simv1alpha1.Finalizer}
			s.DeletionTimestamp = &metav1.Time{Time: time.Unix(1_799_999_999, 0)}
			s.Status.PendingCreate = &simv1alpha1.PendingCreate{Name: "HR", StartedAt: metav1.NewTime(time.Unix(1_799_999_990, 0))}
		}),
		want: syncWant{kind: outcomeDeleted, calls: []string{"CheckToken", "ListEach"}, pendingCreate: true},
	}, {
		name: "an observer reports drift and writes nothing",
		obj: syncSim(func(s *simv1alpha1.SimIntegration) {
			s.Spec.ManagementPolicy = simv1alpha1.ManagementPolicyObserveOnly
			s.Spec.Description = new("Tickets, triaged")
		}),
		before: func(t *testing.T, g *syncRig) { g.stored["id-1"] = remoteHR("id-1", nil) },
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonObserved, message: "differs from the spec at /description",
			calls: []string{"CheckToken", "ListEach"}, id: "id-1"},
		check: func(t *testing.T, g *syncRig, st simv1alpha1.SimIntegrationStatus) {
			if diff := cmp.Diff([]string{"/description"}, st.Drift); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
		},
	}, {
		name: "a frozen tenant's object reports its drift and writes nothing",
		obj: syncedSim(t, "id-1", func(s *simv1alpha1.SimIntegration) {
			s.Spec.Description = new("Tickets, triaged")
		}),
		before: func(t *testing.T, g *syncRig) {
			g.freeze()
			g.stored["id-1"] = remoteHR("id-1", nil)
		},
		want: syncWant{kind: outcomeSuspended, reason: simv1alpha1.ReasonTenantSuspended, message: "differs from the spec at /description",
			calls: []string{"CheckToken", "ListEach"}, id: "id-1", finalizer: true},
		check: func(t *testing.T, g *syncRig, st simv1alpha1.SimIntegrationStatus) {
			if diff := cmp.Diff([]string{"/description"}, st.Drift); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
		},
	}, {
		name:   "a frozen tenant's new object is not created",
		obj:    syncSim(nil),
		before: func(t *testing.T, g *syncRig) { g.freeze() },
		want: syncWant{kind: outcomeSuspended, reason: simv1alpha1.ReasonTenantSuspended, message: "created once the tenant is resumed",
			calls: []string{"CheckToken", "ListEach"}},
	}, {
		name: "a deletion during a freeze keeps the finalizer and deletes nothing",
		obj: syncedSim(t, "id-1", func(s *simv1alpha1.SimIntegration) {
			s.DeletionTimestamp = &metav1.Time{Time: time.Unix(1_799_999_999, 0)}
		}),
		before: func(t *testing.T, g *syncRig) {
			g.freeze()
			g.stored["id-1"] = remoteHR("id-1", nil)
		},
		want: syncWant{kind: outcomeSuspended, reason: simv1alpha1.ReasonTenantSuspended, message: "deleted once the tenant is resumed",
			calls: []string{"CheckToken"}, id: "id-1", finalizer: true},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newSyncRig(t, tc.updateStrategy, append([]client.Object{tc.obj}, tc.others...)...)
			if tc.before != nil {
				tc.before(t, g)
			}
			obj := &simv1alpha1.SimIntegration{}
			if err := g.k8s.Get(t.Context(), client.ObjectKeyFromObject(tc.obj), obj); err != nil {
				t.Fatal(err)
			}
			s := &scope{obj: obj, policy: policyFor(&obj.Spec)}
			o, err := g.r.reconcile(t.Context(), s)
			if err != nil {
				o = classify(err).outcome
			}
			got := syncWant{kind: o.kind, reason: o.reason, message: tc.want.message, calls: g.remote.Calls(),
				id: obj.Status.ID, pendingCreate: obj.Status.PendingCreate != nil, events: recordedReasons(g.events)}
			if tc.want.message != "" && !strings.Contains(o.message, tc.want.message) {
				got.message = o.message
			}
			stored := &simv1alpha1.SimIntegration{}
			if err := g.k8s.Get(t.Context(), client.ObjectKeyFromObject(tc.obj), stored); err == nil {
				got.finalizer = controllerutil.ContainsFinalizer(stored, simv1alpha1.Finalizer)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(syncWant{})); diff != "" {
				t.Errorf("(-want +got):\n%s\n(outcome message: %s)", diff, o.message)
			}
			if tc.check != nil {
				tc.check(t, g, obj.Status)
			}
		})
	}
}

// recordedReasons drains the recorder: the reason of each Event, in order.
func recordedReasons(rec *events.FakeRecorder) []string {
	var reasons []string
	for {
		select {
		case e := <-rec.Events:
			// "<type> <reason> <note>"
			if f := strings.Fields(e); len(f) > 1 {
				reasons = append(reasons, f[1])
			}
		default:
			return reasons
		}
	}
}

func TestRemoteFakeRefusesWhatATestDidNotSet(t *testing.T) {
	var r tenant.Remote = &remotefake.Remote{}
	_, err := r.Create(t.Context(), identitynow.Details{})
	if err == nil || !strings.Contains(err.Error(), "Create is not implemented") {
		t.Fatalf("an unset method must fail clearly, got %v", err)
	}
}
