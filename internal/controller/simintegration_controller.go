package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/export"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// SimIntegrationReconciler keeps remote SIM integrations equal to their SimIntegration objects.
type SimIntegrationReconciler struct {
	client.Client
	Tenants  *Tenants
	Recorder events.EventRecorder
	// Clock defaults to time.Now.
	Clock func() time.Time
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int

	mu      sync.Mutex
	memory  map[types.NamespacedName]*memo
	changed chan event.GenericEvent
}

// memo is what this process knows about an object beyond its (possibly stale) cached copy. It is kept
// by name and belongs to one incarnation (UID) of the object.
type memo struct {
	uid types.UID
	// id is the remote id this process created or claimed; it covers the window in which the cache
	// has not yet seen the status write that stored it.
	id string
	// createEndedAt is when a create with an unknown outcome (timeout, 5xx) ended: the next lookup by
	// name must use a list sent after it.
	createEndedAt time.Time
	// statusVersion is the resourceVersion of this process's last status write: a cached copy older
	// than that must not be acted on (it would carry an out-of-date last-applied record).
	statusVersion string
}

// +kubebuilder:rbac:groups=sim.identitynow.io,resources=simintegrations,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=sim.identitynow.io,resources=simintegrations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=sim.identitynow.io,resources=simintegrations/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile orchestrates one pass: read, act, then write status once.
func (r *SimIntegrationReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, err := r.getCurrent(ctx, req.NamespacedName)
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj == nil { // deleted
		r.forget(req.NamespacedName)
		r.Tenants.Secrets.Release(simSecretOwner(req.NamespacedName))
		return reconcile.Result{}, nil
	}
	before := obj.DeepCopy()

	o, result, err := r.reconcile(ctx, obj)
	if errors.Is(err, tenant.ErrListInFlight) {
		// Another reconcile of the tenant is listing: nothing changed for this object, so its status
		// stays as it is (a slow list of a large tenant must not rewrite every status twice).
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	if err != nil {
		v := classify(err)
		o, result, err = v.outcome, reconcile.Result{RequeueAfter: v.requeueAfter}, v.err
		if v.rateLimited {
			r.event(obj, corev1.EventTypeWarning, "RateLimited", "Wait", "%s", v.outcome.message)
		}
	}
	if !controllerutil.ContainsFinalizer(obj, simv1alpha1.Finalizer) && !obj.DeletionTimestamp.IsZero() {
		return result, err // gone: nothing left to write
	}
	obj.Status.ObservedGeneration = obj.Generation
	setConditions(&obj.Status.Conditions, obj.Generation, o)
	if perr := r.writeStatus(ctx, before, obj); perr != nil && err == nil {
		result, err = reconcile.Result{}, perr
	}
	if ctx.Err() != nil {
		return reconcile.Result{}, nil // the manager is stopping: the next leader reconciles everything
	}
	return result, err
}

// reconcile runs the ordered steps and returns the outcome; errors are classified by the caller.
func (r *SimIntegrationReconciler) reconcile(ctx context.Context, obj *simv1alpha1.SimIntegration) (outcome, reconcile.Result, error) {
	if !obj.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, obj)
	}
	if obj.Spec.Suspend {
		return outcome{outcomeSuspended, simv1alpha1.ReasonSuspended, "Suspended: no remote calls until spec.suspend is false"}, reconcile.Result{}, nil
	}
	requestedAt, fresh := newRequestedAt(obj)
	conn, err := r.connect(ctx, obj)
	if err != nil {
		return outcome{}, reconcile.Result{}, err
	}
	secrets, err := r.secretAttributes(ctx, obj)
	if err != nil {
		return outcome{}, reconcile.Result{}, err
	}
	if err := refusePlaceholders(obj, secrets); err != nil {
		return outcome{}, reconcile.Result{}, err
	}
	ctx = withSecretValues(ctx, secrets)
	want, err := buildDesired(obj, secrets)
	if err != nil {
		return outcome{}, reconcile.Result{}, stall(simv1alpha1.ReasonInvalidSpec, "%v", err)
	}
	o, result, err := r.sync(ctx, obj, conn, want, fresh)
	if err == nil && fresh {
		obj.Status.LastHandledRequestedAt = requestedAt
	}
	return o, result, err
}

// newRequestedAt returns a sim.identitynow.io/requested-at value not yet handled; the remote is then
// read afresh, and the value is recorded once that pass succeeded.
func newRequestedAt(obj *simv1alpha1.SimIntegration) (string, bool) {
	v, ok := obj.Annotations[simv1alpha1.AnnotationRequestedAt]
	return v, ok && v != obj.Status.LastHandledRequestedAt
}

// connect resolves the referenced tenant to its proven connection. A SimIntegration acts only through
// a tenant that is Ready: a Stalled tenant stalls it, any other not-Ready tenant makes it wait.
func (r *SimIntegrationReconciler) connect(ctx context.Context, obj *simv1alpha1.SimIntegration) (*tenant.Connection, error) {
	t, err := r.Tenants.Get(ctx, obj.Spec.TenantRef, obj.Namespace)
	if err != nil {
		return nil, err
	}
	if err := r.Tenants.CheckAccess(ctx, t, obj.Namespace); err != nil {
		return nil, err
	}
	conds := t.GetTenantStatus().Conditions
	if !meta.IsStatusConditionTrue(conds, simv1alpha1.ConditionReady) {
		msg := "it has not been checked yet"
		if c := meta.FindStatusCondition(conds, simv1alpha1.ConditionReady); c != nil && c.Message != "" {
			msg = c.Message
		}
		if meta.IsStatusConditionTrue(conds, simv1alpha1.ConditionStalled) {
			return nil, stall(simv1alpha1.ReasonTenantNotReady, "%s %q is not ready: %s", t.GetTenantKind(), t.GetName(), msg)
		}
		return nil, waitFor(simv1alpha1.ReasonTenantNotReady, tenantWaitInterval,
			"Waiting for %s %q to become Ready: %s", t.GetTenantKind(), t.GetName(), msg)
	}
	return r.Tenants.Prove(ctx, t)
}

// tenantWaitInterval is how often a SimIntegration waiting for its tenant looks again; a change of the
// tenant's status enqueues it at once.
const tenantWaitInterval = 30 * time.Second

// secretAttributes reads the values of spec.secretAttributes with their Secrets' versions, refusing
// Secrets that are not meant to leave the cluster.
func (r *SimIntegrationReconciler) secretAttributes(ctx context.Context, obj *simv1alpha1.SimIntegration) (map[string]secretValue, error) {
	keys := make([]tenant.SecretKey, 0, len(obj.Spec.SecretAttributes))
	for _, sa := range obj.Spec.SecretAttributes {
		keys = append(keys, tenant.SecretKey{Namespace: obj.Namespace, Name: sa.SecretKeyRef.Name, Key: sa.SecretKeyRef.Key})
	}
	r.Tenants.Secrets.Retain(simSecretOwner(client.ObjectKeyFromObject(obj)), keys)
	out := make(map[string]secretValue, len(obj.Spec.SecretAttributes))
	for i, sa := range obj.Spec.SecretAttributes {
		v, err := r.Tenants.Secrets.Value(ctx, keys[i])
		if err != nil {
			return nil, err
		}
		if err := r.Tenants.Options.SecretAttributeAllowed(v.Type, v.Labels); err != nil {
			return nil, stall(simv1alpha1.ReasonInvalidSpec, "secret attribute %q: Secret %s %v", sa.Name, sa.SecretKeyRef.Name, err)
		}
		out[sa.Name] = secretValue{Value: string(v.Value), Version: simv1alpha1.SecretVersion{
			Attribute: sa.Name, Secret: sa.SecretKeyRef.Name, Key: sa.SecretKeyRef.Key, ResourceVersion: v.ResourceVersion}}
	}
	return out, nil
}

// withSecretValues declares the object's secret attribute values sensitive for every remote call of
// this reconcile, so that a remote message echoing one (from this request or from the stored object)
// is redacted or withheld.
func withSecretValues(ctx context.Context, secrets map[string]secretValue) context.Context {
	values := make([]string, 0, len(secrets))
	for _, sv := range secrets {
		values = append(values, sv.Value)
	}
	return identitynow.WithSensitive(ctx, values...)
}

// simSecretOwner names a SimIntegration as an owner of Secret references (tenants use their registry key).
func simSecretOwner(key types.NamespacedName) string {
	return "SimIntegration/" + key.Namespace + "/" + key.Name
}

// refusePlaceholders stops a managed object from sending the placeholder that sim-operator-export
// writes into the Secrets it generates; observing with it is fine.
func refusePlaceholders(obj *simv1alpha1.SimIntegration, secrets map[string]secretValue) error {
	if obj.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly {
		return nil
	}
	for name, sv := range secrets {
		if sv.Value == export.Placeholder {
			return stall(simv1alpha1.ReasonInvalidSpec,
				"secret attribute %q: Secret %s key %s still holds the placeholder %s written by sim-operator-export; put the real value there",
				name, sv.Version.Secret, sv.Version.Key, export.Placeholder)
		}
	}
	return nil
}

// ensureFinalizer adds the finalizer that makes deletion wait for the remote delete. It must be in
// place before the operator creates, claims or writes a remote object; observers get none.
func (r *SimIntegrationReconciler) ensureFinalizer(ctx context.Context, obj *simv1alpha1.SimIntegration) error {
	if obj.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly || controllerutil.ContainsFinalizer(obj, simv1alpha1.Finalizer) {
		return nil
	}
	orig := obj.DeepCopy()
	controllerutil.AddFinalizer(obj, simv1alpha1.Finalizer)
	return r.Patch(ctx, obj, client.MergeFrom(orig))
}

func (r *SimIntegrationReconciler) removeFinalizer(ctx context.Context, obj *simv1alpha1.SimIntegration) error {
	orig := obj.DeepCopy()
	controllerutil.RemoveFinalizer(obj, simv1alpha1.Finalizer)
	r.forget(client.ObjectKeyFromObject(obj))
	r.Tenants.Secrets.Release(simSecretOwner(client.ObjectKeyFromObject(obj)))
	return client.IgnoreNotFound(r.Patch(ctx, obj, client.MergeFrom(orig)))
}

// writeStatus writes the status once, at the end of the reconcile, and remembers the version it
// wrote (see getCurrent). A conflict is not an error: the object is simply reconciled again.
func (r *SimIntegrationReconciler) writeStatus(ctx context.Context, before, after *simv1alpha1.SimIntegration) error {
	if equality.Semantic.DeepEqual(before.Status, after.Status) {
		return nil
	}
	// A remote write that happened must be recorded even if the manager is stopping meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
	defer cancel()
	if err := r.Status().Update(ctx, after); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	r.remember(after, func(m *memo) { m.statusVersion = after.ResourceVersion })
	return nil
}

// statusWriteTimeout bounds the status write, which does not stop when the manager does.
const statusWriteTimeout = 10 * time.Second

// getCurrent reads the object from the cache; if the cache has not yet seen this process's last
// status write, it waits for it (at most a second), so a reconcile never acts on an out-of-date
// last-applied record. Waiting here, rather than after each write, keeps workers free: the next
// reconcile of an object usually comes a poll interval later, long after the cache caught up.
// It returns nil when the object is gone.
func (r *SimIntegrationReconciler) getCurrent(ctx context.Context, key types.NamespacedName) (*simv1alpha1.SimIntegration, error) {
	obj := &simv1alpha1.SimIntegration{}
	var err error
	behind := false
	_ = wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, time.Second, true, func(ctx context.Context) (bool, error) {
		if err = r.Get(ctx, key, obj); err != nil {
			return true, nil
		}
		behind = olderThan(obj.ResourceVersion, r.recall(obj).statusVersion)
		return !behind, nil
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	switch {
	case err == nil && behind: // waited long enough; do not wait again for the same write
		r.remember(obj, func(m *memo) { m.statusVersion = "" })
	case err == nil:
		r.settle(obj)
	}
	return obj, err
}

// settle drops the memo of an object whose cached copy holds everything in it: 10,000 objects at
// rest keep no memo.
func (r *SimIntegrationReconciler) settle(obj *simv1alpha1.SimIntegration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := client.ObjectKeyFromObject(obj)
	if m := r.memory[key]; m != nil && (m.uid != obj.UID ||
		m.id == obj.Status.ID && m.createEndedAt.IsZero() && !olderThan(obj.ResourceVersion, m.statusVersion)) {
		delete(r.memory, key)
	}
}

// olderThan reports whether resourceVersion a is older than b ("" is never newer). Versions that do
// not compare (not served from etcd) count as older unless equal, which only costs a short wait.
func olderThan(a, b string) bool {
	if b == "" || a == b {
		return false
	}
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err != nil || c < 0
}

func (r *SimIntegrationReconciler) event(obj *simv1alpha1.SimIntegration, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, eventType, reason, action, note, args...)
	}
}

func (r *SimIntegrationReconciler) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

func (r *SimIntegrationReconciler) remember(obj *simv1alpha1.SimIntegration, update func(*memo)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.memory == nil {
		r.memory = map[types.NamespacedName]*memo{}
	}
	key := client.ObjectKeyFromObject(obj)
	m := r.memory[key]
	if m == nil || m.uid != obj.UID {
		m = &memo{uid: obj.UID}
		r.memory[key] = m
	}
	update(m)
}

func (r *SimIntegrationReconciler) recall(obj *simv1alpha1.SimIntegration) memo {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.memory[client.ObjectKeyFromObject(obj)]; m != nil && m.uid == obj.UID {
		return *m
	}
	return memo{}
}

func (r *SimIntegrationReconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.memory, key)
}

// reconcileTimeout is every reconcile's deadline: a few remote requests (each bounded by its own
// timeout) and their Kubernetes writes fit well within it, and nothing a tenant does holds a shared
// worker longer.
const reconcileTimeout = 2 * time.Minute

// pollRequeue is the jittered poll interval: objects of one tenant spread over the interval.
func pollRequeue(conn *tenant.Connection) reconcile.Result {
	return reconcile.Result{RequeueAfter: wait.Jitter(conn.PollInterval(), 0.1)}
}

// RemoteChanged is the snapshot's change hook: objects whose remote copy changed or vanished between
// two lists are reconciled at once, so drift is corrected within one poll interval.
func (r *SimIntegrationReconciler) RemoteChanged(_ string, ids []string) {
	ch := r.changedEvents()
	go func() {
		for _, id := range ids {
			list := &simv1alpha1.SimIntegrationList{}
			if err := r.List(context.Background(), list, client.MatchingFields{indexRemoteID: id}); err != nil {
				continue
			}
			for i := range list.Items {
				ch <- event.GenericEvent{Object: &list.Items[i]}
			}
		}
	}()
}

func (r *SimIntegrationReconciler) changedEvents() chan event.GenericEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed == nil {
		r.changed = make(chan event.GenericEvent, 1024)
	}
	return r.changed
}

// SetupWithManager registers the reconciler and its watches: its own spec and annotations, the
// tenants, the referenced Secrets' metadata and remote changes seen by the snapshots.
func (r *SimIntegrationReconciler) SetupWithManager(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		For(&simv1alpha1.SimIntegration{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted()))).
		Watches(&simv1alpha1.Tenant{}, handler.EnqueueRequestsFromMapFunc(r.forTenant)).
		Watches(&simv1alpha1.ClusterTenant{}, handler.EnqueueRequestsFromMapFunc(r.forTenant)).
		WatchesMetadata(secretMeta(), handler.EnqueueRequestsFromMapFunc(r.forSecret)).
		WatchesRawSource(source.Channel(r.changedEvents(), &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles),
			ReconciliationTimeout:   reconcileTimeout,
			NewQueue:                fairQueueFor(max(1, r.MaxConcurrentReconciles)), // namespaces in turn, capped
		}).
		Complete(r)
}

// deletionStarted passes the update that sets metadata.deletionTimestamp.
func deletionStarted() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}

func (r *SimIntegrationReconciler) forTenant(ctx context.Context, t client.Object) []reconcile.Request {
	tobj := t.(simv1alpha1.TenantObject)
	ref := simv1alpha1.TenantReference{Kind: tobj.GetTenantKind(), Name: t.GetName()}
	opts := []client.ListOption{client.MatchingFields{indexTenantRef: tenantRefKey(ref)}}
	if ref.Kind == simv1alpha1.TenantKindTenant {
		opts = append(opts, client.InNamespace(t.GetNamespace()))
	}
	return r.requests(ctx, opts...)
}

func (r *SimIntegrationReconciler) forSecret(ctx context.Context, s client.Object) []reconcile.Request {
	return r.requests(ctx, client.InNamespace(s.GetNamespace()), client.MatchingFields{indexAttributeSecret: s.GetName()})
}

func (r *SimIntegrationReconciler) requests(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	list := &simv1alpha1.SimIntegrationList{}
	if err := r.List(ctx, list, opts...); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, s := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
	}
	return reqs
}
