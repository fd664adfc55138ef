package controller

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// tenantRecheckInterval is how often a Ready tenant's token is checked again (the client reuses its
// token, so this sends a token request only when the token is close to expiry).
const tenantRecheckInterval = 15 * time.Minute

// TenantReconciler reconciles Tenants or ClusterTenants: Ready once the credentials were found and a
// token was obtained.
type TenantReconciler struct {
	Tenants *tenant.Resolver
	// Client reads and writes the tenant objects.
	Client client.Client
	// New returns an empty object of the reconciled kind.
	New func() simv1alpha1.TenantObject
}

// tenantWorkers is the number of workers per tenant kind; one namespace holds at most one of them.
const tenantWorkers = 2

// +kubebuilder:rbac:groups=sim.identitynow.io,resources=tenants;clustertenants,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=sim.identitynow.io,resources=tenants/finalizers;clustertenants/finalizers,verbs=update
// +kubebuilder:rbac:groups=sim.identitynow.io,resources=tenants/status;clustertenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconcile checks one tenant object: its finalizer, then its credentials (a token), then one status write.
func (r *TenantReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj := r.New()
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.Tenants.Forget(tenant.Key(obj.GetTenantKind(), req.Namespace, req.Name))
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return r.finalize(ctx, obj)
	}
	if err := r.ensureFinalizer(ctx, obj); err != nil {
		return reconcile.Result{}, err
	}
	before := obj.DeepCopyObject().(simv1alpha1.TenantObject)

	result, err := reconcile.Result{RequeueAfter: tenantRecheckInterval}, error(nil)
	o := ready(simv1alpha1.ReasonTokenObtained, "Credentials found and a token was obtained")
	if cerr := r.check(ctx, obj); cerr != nil {
		v := classify(cerr)
		o, result, err = v.outcome, reconcile.Result{RequeueAfter: v.requeueAfter}, v.err
	}
	status := obj.GetTenantStatus()
	status.ObservedGeneration = obj.GetGeneration()
	setTenantConditions(&status.Conditions, obj.GetGeneration(), o)
	_, werr := writeStatus(ctx, r.Client, before, obj, func(t simv1alpha1.TenantObject) any { return t.GetTenantStatus() })
	switch {
	case apierrors.IsConflict(werr):
		return reconcile.Result{RequeueAfter: conflictRequeue}, nil
	case werr != nil && err == nil:
		return reconcile.Result{}, werr
	}
	return result, err
}

// check connects with the tenant's credentials and proves them with a token.
func (r *TenantReconciler) check(ctx context.Context, obj simv1alpha1.TenantObject) error {
	conn, err := r.Tenants.Connect(ctx, obj)
	if err != nil {
		return err
	}
	if err := conn.Remote.CheckToken(ctx); err != nil {
		return err
	}
	_, err = r.Tenants.Registry.Prove(tenant.KeyOf(obj), conn)
	return err
}

// ensureFinalizer adds the in-use finalizer.
func (r *TenantReconciler) ensureFinalizer(ctx context.Context, obj simv1alpha1.TenantObject) error {
	if controllerutil.ContainsFinalizer(obj, simv1alpha1.TenantFinalizer) {
		return nil
	}
	orig := obj.DeepCopyObject().(client.Object)
	controllerutil.AddFinalizer(obj, simv1alpha1.TenantFinalizer)
	return r.Client.Patch(ctx, obj, client.MergeFrom(orig))
}

// finalize releases a deleted tenant once no SimIntegration refers to it any more; until then its
// connection stays usable for their remote deletes, even when its Secret is already gone.
func (r *TenantReconciler) finalize(ctx context.Context, obj simv1alpha1.TenantObject) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, simv1alpha1.TenantFinalizer) {
		return reconcile.Result{}, nil
	}
	ref := simv1alpha1.TenantReference{Kind: obj.GetTenantKind(), Name: obj.GetName()}
	opts := []client.ListOption{client.MatchingFields{indexTenantRef: tenantRefKey(ref)}}
	if ref.Kind == simv1alpha1.TenantKindTenant {
		opts = append(opts, client.InNamespace(obj.GetNamespace()))
	}
	users := &simv1alpha1.SimIntegrationList{}
	if err := r.Client.List(ctx, users, opts...); err != nil {
		return reconcile.Result{}, err
	}
	if len(users.Items) > 0 {
		return reconcile.Result{RequeueAfter: 5 * time.Second}, nil
	}
	r.Tenants.Forget(tenant.KeyOf(obj))
	orig := obj.DeepCopyObject().(client.Object)
	controllerutil.RemoveFinalizer(obj, simv1alpha1.TenantFinalizer)
	return reconcile.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, obj, client.MergeFrom(orig)))
}

// setTenantConditions writes Ready and Stalled for a tenant (it has no Reconciling phase of its own
// beyond transient errors, which keep Ready=False without Stalled).
func setTenantConditions(conds *[]metav1.Condition, generation int64, o outcome) {
	setConditions(conds, generation, o)
	meta.RemoveStatusCondition(conds, simv1alpha1.ConditionReconciling)
}

// SetupWithManager registers the reconciler for its kind, watching the credential Secrets' metadata.
func (r *TenantReconciler) SetupWithManager(mgr manager.Manager, name string) error {
	sample := r.New()
	return builder.ControllerManagedBy(mgr).
		Named(name).
		For(sample, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deletionStarted()))).
		WatchesMetadata(secretMeta(), handler.EnqueueRequestsFromMapFunc(r.tenantsForSecret)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: tenantWorkers,
			ReconciliationTimeout:   reconcileTimeout,
			NewQueue:                fairQueueFor(tenantWorkers),
		}).
		Complete(r)
}

// tenantsForSecret maps a credentials Secret to the tenants that use it.
func (r *TenantReconciler) tenantsForSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	list := &simv1alpha1.TenantList{}
	var reqs []reconcile.Request
	if r.New().GetTenantKind() == simv1alpha1.TenantKindClusterTenant {
		if secret.GetNamespace() != r.Tenants.Options.ClusterResourceNamespace {
			return nil
		}
		ctList := &simv1alpha1.ClusterTenantList{}
		if err := r.Client.List(ctx, ctList, client.MatchingFields{indexCredentialsSecret: secret.GetName()}); err != nil {
			return nil
		}
		for _, t := range ctList.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: t.Name}})
		}
		return reqs
	}
	if err := r.Client.List(ctx, list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{indexCredentialsSecret: secret.GetName()}); err != nil {
		return nil
	}
	for _, t := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: t.Namespace, Name: t.Name}})
	}
	return reqs
}
