package controller

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
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

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/export"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// SimIntegrationReconciler keeps remote SIM integrations equal to their SimIntegration objects.
type SimIntegrationReconciler struct {
	client.Client
	Tenants  *tenant.Resolver
	Recorder events.EventRecorder
	// Clock defaults to time.Now.
	Clock func() time.Time
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int

	// written is what this process wrote to each object, so a stale cached copy is never acted on.
	written consistencyStore
	// creates holds remote ids and create outcomes the cached status may not show yet.
	creates recentCreates
	// changes enqueues objects whose remote copy changed (set up by SetupWithManager).
	changes *remoteChanges
}

// scope is one reconcile of one SimIntegration: the object as it is being changed in memory, its
// management policy, and what the steps found on the way.
type scope struct {
	obj    *simv1alpha1.SimIntegration
	policy policy
	// conn is the tenant's connection, once connected.
	conn *tenant.Connection
	// want is the desired remote document, once built.
	want desiredState
	// fresh: the user asked for a fresh read (a requested-at annotation not yet handled).
	fresh bool
}

// +kubebuilder:rbac:groups=sim.identitynow.io,resources=simintegrations,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=sim.identitynow.io,resources=simintegrations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=sim.identitynow.io,resources=simintegrations/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile orchestrates one pass: read, act, then write status once.
func (r *SimIntegrationReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj := &simv1alpha1.SimIntegration{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !r.written.EnsureReady(obj) {
		return reconcile.Result{RequeueAfter: staleCacheRequeue}, nil // the cache has not seen our last write yet
	}
	r.creates.Settle(obj)
	before := obj.DeepCopy()
	s := &scope{obj: obj, policy: policyFor(&obj.Spec)}

	o, err := r.reconcile(ctx, s)
	switch {
	case errors.Is(err, tenant.ErrListInFlight):
		// Another reconcile of the tenant is listing: nothing changed for this object, so its status
		// stays as it is (a slow list of a large tenant must not rewrite every status twice).
		return reconcile.Result{RequeueAfter: time.Second}, nil
	case apierrors.IsConflict(err):
		return reconcile.Result{RequeueAfter: conflictRequeue}, nil
	case o.kind == outcomeDeleted:
		return reconcile.Result{}, nil // the finalizer is gone: nothing left to write
	}
	result, err := r.resultFor(s, &o, err)
	obj.Status.ObservedGeneration = obj.Generation
	setConditions(&obj.Status.Conditions, obj.Generation, o)
	if werr := r.recordStatus(ctx, before, obj); werr != nil && err == nil {
		if apierrors.IsConflict(werr) {
			return reconcile.Result{RequeueAfter: conflictRequeue}, nil
		}
		result, err = reconcile.Result{}, werr
	}
	if ctx.Err() != nil {
		return reconcile.Result{}, nil // the manager is stopping: the next leader reconciles everything
	}
	return result, err
}

// conflictRequeue is how soon a reconcile that lost a write race runs again, on a fresher copy. A
// conflict never becomes a condition: it says nothing about the object.
const conflictRequeue = 500 * time.Millisecond

// resultFor is the one place where a reconcile's conclusion becomes its result: an error is
// classified (it replaces o with its outcome), an object at rest is polled at its tenant's interval,
// a suspended one waits for its spec to change.
func (r *SimIntegrationReconciler) resultFor(s *scope, o *outcome, err error) (reconcile.Result, error) {
	if err != nil {
		v := classify(err)
		*o = v.outcome
		if v.rateLimited {
			r.event(s.obj, corev1.EventTypeWarning, "RateLimited", "Wait", "%s", v.outcome.message)
		}
		return reconcile.Result{RequeueAfter: v.requeueAfter}, v.err
	}
	if s.conn == nil { // deleted, or suspended before any remote call: its spec's next change wakes it
		return reconcile.Result{}, nil
	}
	// jittered, so that the objects of one tenant spread over the interval
	return reconcile.Result{RequeueAfter: wait.Jitter(s.conn.PollInterval(), 0.1)}, nil
}

// reconcile runs the ordered steps and returns the outcome; errors are classified by the caller.
func (r *SimIntegrationReconciler) reconcile(ctx context.Context, s *scope) (outcome, error) {
	obj := s.obj
	if !obj.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, s)
	}
	if !s.policy.callsRemote() {
		return outcome{outcomeSuspended, simv1alpha1.ReasonSuspended, "Suspended: no remote calls until spec.suspend is false"}, nil
	}
	requestedAt, fresh := newRequestedAt(obj)
	s.fresh = fresh
	if err := r.connect(ctx, s); err != nil {
		return outcome{}, err
	}
	refs, err := r.resolveReferences(ctx, s)
	if err != nil {
		return outcome{}, err
	}
	secrets, err := r.secretAttributes(ctx, obj)
	if err != nil {
		return outcome{}, err
	}
	if err := refusePlaceholders(s.policy, secrets); err != nil {
		return outcome{}, err
	}
	ctx = withSecretValues(ctx, secrets)
	if s.want, err = buildDesired(obj, secrets, refs); err != nil {
		return outcome{}, stall(simv1alpha1.ReasonInvalidSpec, "%v", err)
	}
	o, err := r.sync(ctx, s)
	recordReferences(&obj.Status, refs)
	if err == nil && fresh {
		obj.Status.LastHandledRequestedAt = requestedAt
	}
	return o, err
}

// newRequestedAt returns a sim.identitynow.io/requested-at value not yet handled; the remote is then
// read afresh, and the value is recorded once that pass succeeded.
func newRequestedAt(obj *simv1alpha1.SimIntegration) (string, bool) {
	v, ok := obj.Annotations[simv1alpha1.AnnotationRequestedAt]
	return v, ok && v != obj.Status.LastHandledRequestedAt
}

// connect resolves the referenced tenant to its proven connection (s.conn) and notes whether the
// tenant is frozen (s.policy). A SimIntegration acts only through a tenant that is Ready: a Stalled
// tenant stalls it, any other not-Ready tenant makes it wait.
func (r *SimIntegrationReconciler) connect(ctx context.Context, s *scope) error {
	var err error
	s.conn, err = r.tenantConnection(ctx, s)
	return err
}

func (r *SimIntegrationReconciler) tenantConnection(ctx context.Context, s *scope) (*tenant.Connection, error) {
	obj := s.obj
	t, err := r.Tenants.Get(ctx, obj.Spec.TenantRef, obj.Namespace)
	if err != nil {
		return nil, err
	}
	s.policy.frozen = t.GetTenantSpec().Suspend
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
	keys := secretKeys(obj)
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

// secretKeys are the Secret keys of spec.secretAttributes, in order.
func secretKeys(obj *simv1alpha1.SimIntegration) []tenant.SecretKey {
	keys := make([]tenant.SecretKey, 0, len(obj.Spec.SecretAttributes))
	for _, sa := range obj.Spec.SecretAttributes {
		keys = append(keys, tenant.SecretKey{Namespace: obj.Namespace, Name: sa.SecretKeyRef.Name, Key: sa.SecretKeyRef.Key})
	}
	return keys
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
func refusePlaceholders(p policy, secrets map[string]secretValue) error {
	if !p.manages() {
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
func (r *SimIntegrationReconciler) ensureFinalizer(ctx context.Context, s *scope) error {
	obj := s.obj
	if !s.policy.holdsFinalizer() || controllerutil.ContainsFinalizer(obj, simv1alpha1.Finalizer) {
		return nil
	}
	orig := obj.DeepCopy()
	controllerutil.AddFinalizer(obj, simv1alpha1.Finalizer)
	if err := r.Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		return err
	}
	r.written.WroteAt(obj)
	return nil
}

func (r *SimIntegrationReconciler) removeFinalizer(ctx context.Context, obj *simv1alpha1.SimIntegration) error {
	orig := obj.DeepCopy()
	controllerutil.RemoveFinalizer(obj, simv1alpha1.Finalizer)
	r.forget(client.ObjectKeyFromObject(obj))
	return client.IgnoreNotFound(r.Patch(ctx, obj, client.MergeFrom(orig)))
}

// recordStatus writes the status once, at the end of the reconcile, and records the write so that the
// next reconcile waits for the cache to hold it. A conflict is returned: the caller requeues.
func (r *SimIntegrationReconciler) recordStatus(ctx context.Context, before, after *simv1alpha1.SimIntegration) error {
	wrote, err := writeStatus(ctx, r.Client, before, after, func(o *simv1alpha1.SimIntegration) any { return &o.Status })
	if wrote {
		r.written.WroteAt(after)
	}
	return err
}

// forget drops what this process keeps for an object that is gone.
func (r *SimIntegrationReconciler) forget(key types.NamespacedName) {
	r.written.Clear(key)
	r.creates.Clear(key)
	r.Tenants.Secrets.Release(simSecretOwner(key))
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

// reconcileTimeout is every reconcile's deadline: a few remote requests (each bounded by its own
// timeout) and their Kubernetes writes fit well within it, and nothing a tenant does holds a shared
// worker longer.
const reconcileTimeout = 2 * time.Minute

// RemoteChanged is the snapshots' change hook (tenant.RegistryOptions.OnChange): the objects whose
// remote copy changed or vanished between two lists are reconciled at once.
func (r *SimIntegrationReconciler) RemoteChanged(endpoint string, ids []string) {
	if r.changes != nil {
		r.changes.RemoteChanged(endpoint, ids)
	}
}

// SetupWithManager registers the reconciler and its watches: its own spec and annotations (with the
// objects of the initial list that hold an unhandled change served first, see pendingFirst), the
// tenants, the referenced Secrets' metadata and remote changes seen by the snapshots.
func (r *SimIntegrationReconciler) SetupWithManager(mgr manager.Manager) error {
	r.changes = &remoteChanges{reader: mgr.GetClient(), log: mgr.GetLogger().WithName("remote-changes")}
	return builder.ControllerManagedBy(mgr).
		For(&simv1alpha1.SimIntegration{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted()))).
		Watches(&simv1alpha1.SimIntegration{}, pendingFirst{}).
		Watches(&simv1alpha1.Tenant{}, handler.EnqueueRequestsFromMapFunc(r.forTenant)).
		Watches(&simv1alpha1.ClusterTenant{}, handler.EnqueueRequestsFromMapFunc(r.forTenant)).
		WatchesMetadata(secretMeta(), handler.EnqueueRequestsFromMapFunc(r.forSecret)).
		WatchesRawSource(r.changes).
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
