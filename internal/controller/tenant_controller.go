package controller

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/options"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// tenantRecheckInterval is how often a Ready tenant's token is checked again (the client reuses its
// token, so this sends a token request only when the token is close to expiry).
const tenantRecheckInterval = 15 * time.Minute

// Tenants resolves Tenant and ClusterTenant objects to connections. The Tenant reconcilers and the
// SimIntegration reconciler share it, so a SimIntegration never waits for a tenant's own reconcile.
type Tenants struct {
	Client   client.Client
	Secrets  *tenant.SecretReader
	Registry *tenant.Registry
	Options  *options.Options
}

// Connect checks a tenant object's URLs and credentials and returns its connection. It sends no request.
func (t *Tenants) Connect(ctx context.Context, obj simv1alpha1.TenantObject) (*tenant.Connection, error) {
	spec := obj.GetTenantSpec()
	for _, u := range []string{spec.BaseURL, spec.TokenURL} {
		if u == "" {
			continue
		}
		if err := t.Options.CheckURL(u); err != nil {
			return nil, stall(simv1alpha1.ReasonHostNotAllowed, "%v", err)
		}
	}
	ns := obj.GetNamespace()
	if obj.GetTenantKind() == simv1alpha1.TenantKindClusterTenant {
		ns = t.Options.ClusterResourceNamespace
	}
	ref := spec.CredentialsRef
	key := tenant.Key(obj.GetTenantKind(), obj.GetNamespace(), obj.GetName())
	idKey := tenant.SecretKey{Namespace: ns, Name: ref.Name, Key: ref.ClientIDKey}
	secretKey := tenant.SecretKey{Namespace: ns, Name: ref.Name, Key: ref.ClientSecretKey}
	t.Secrets.Retain(key, []tenant.SecretKey{idKey, secretKey})
	id, err := t.Secrets.Value(ctx, idKey)
	if err != nil {
		return nil, err
	}
	if err := tenant.ValidClientID(string(id.Value)); err != nil {
		return nil, stall(simv1alpha1.ReasonInvalidSpec, "the client id in Secret %s/%s key %s is not valid: it %v", ns, ref.Name, ref.ClientIDKey, err)
	}
	secret, err := t.Secrets.Value(ctx, secretKey)
	if err != nil {
		return nil, err
	}
	conn, err := t.Registry.Connect(key, *spec, tenant.Credentials{
		ClientID: string(id.Value), ClientSecret: string(secret.Value), ResourceVersion: id.ResourceVersion})
	if err != nil {
		return nil, stall(simv1alpha1.ReasonInvalidSpec, "%v", err)
	}
	return conn, nil
}

// Forget drops what the operator keeps for a deleted tenant: its connection and its Secret values.
func (t *Tenants) Forget(key string) {
	t.Registry.Forget(key)
	t.Secrets.Release(key)
}

// Prove returns the tenant's proven connection: if its credentials have not produced a token yet, it
// obtains one first. Only a proven connection shares the tenant's snapshot and rate budget.
func (t *Tenants) Prove(ctx context.Context, obj simv1alpha1.TenantObject) (*tenant.Connection, error) {
	conn, err := t.Connect(ctx, obj)
	if err != nil || conn.Proven() {
		return conn, err
	}
	if err := conn.Remote.CheckToken(ctx); err != nil {
		return nil, err
	}
	return t.Registry.Prove(tenant.Key(obj.GetTenantKind(), obj.GetNamespace(), obj.GetName()), conn)
}

// Get reads the tenant a SimIntegration refers to.
func (t *Tenants) Get(ctx context.Context, ref simv1alpha1.TenantReference, namespace string) (simv1alpha1.TenantObject, error) {
	var obj simv1alpha1.TenantObject = &simv1alpha1.Tenant{}
	key := types.NamespacedName{Namespace: namespace, Name: ref.Name}
	if ref.Kind == simv1alpha1.TenantKindClusterTenant {
		obj, key.Namespace = &simv1alpha1.ClusterTenant{}, ""
	}
	if err := t.Client.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			kind := ref.Kind
			if kind == "" {
				kind = simv1alpha1.TenantKindTenant
			}
			return nil, stall(simv1alpha1.ReasonTenantNotFound, "%s %q not found", kind, ref.Name)
		}
		return nil, err
	}
	return obj, nil
}

// TenantReconciler reconciles Tenants or ClusterTenants: Ready once the credentials were found and a
// token was obtained.
type TenantReconciler struct {
	Tenants *Tenants
	// New returns an empty object of the reconciled kind.
	New func() simv1alpha1.TenantObject
}

// tenantWorkers is the number of workers per tenant kind; one namespace holds at most one of them.
const tenantWorkers = 2

// +kubebuilder:rbac:groups=sim.identitynow.io,resources=tenants;clustertenants,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=sim.identitynow.io,resources=tenants/finalizers;clustertenants/finalizers,verbs=update
// +kubebuilder:rbac:groups=sim.identitynow.io,resources=tenants/status;clustertenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconcile checks one tenant object.
func (r *TenantReconciler) Reconcile(ctx context.Context, req reconcile.Request) (result reconcile.Result, retErr error) {
	obj := r.New()
	if err := r.Tenants.Client.Get(ctx, req.NamespacedName, obj); err != nil {
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
	defer func() {
		if err := patchTenantStatus(ctx, r.Tenants.Client, before, obj); err != nil && retErr == nil {
			retErr = err
		}
	}()

	status := obj.GetTenantStatus()
	status.ObservedGeneration = obj.GetGeneration()
	conn, err := r.Tenants.Connect(ctx, obj)
	if err == nil {
		err = conn.Remote.CheckToken(ctx)
	}
	if err == nil {
		_, err = r.Tenants.Registry.Prove(tenant.Key(obj.GetTenantKind(), obj.GetNamespace(), obj.GetName()), conn)
	}
	if err != nil {
		v := classify(err)
		setTenantConditions(&status.Conditions, obj.GetGeneration(), v.outcome)
		return reconcile.Result{RequeueAfter: v.requeueAfter}, v.err
	}
	setTenantConditions(&status.Conditions, obj.GetGeneration(), ready(simv1alpha1.ReasonTokenObtained, "Credentials found and a token was obtained"))
	return reconcile.Result{RequeueAfter: tenantRecheckInterval}, nil
}

// ensureFinalizer adds the in-use finalizer.
func (r *TenantReconciler) ensureFinalizer(ctx context.Context, obj simv1alpha1.TenantObject) error {
	if controllerutil.ContainsFinalizer(obj, simv1alpha1.TenantFinalizer) {
		return nil
	}
	orig := obj.DeepCopyObject().(client.Object)
	controllerutil.AddFinalizer(obj, simv1alpha1.TenantFinalizer)
	return r.Tenants.Client.Patch(ctx, obj, client.MergeFrom(orig))
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
	if err := r.Tenants.Client.List(ctx, users, opts...); err != nil {
		return reconcile.Result{}, err
	}
	if len(users.Items) > 0 {
		return reconcile.Result{RequeueAfter: 5 * time.Second}, nil
	}
	r.Tenants.Forget(tenant.Key(obj.GetTenantKind(), obj.GetNamespace(), obj.GetName()))
	orig := obj.DeepCopyObject().(client.Object)
	controllerutil.RemoveFinalizer(obj, simv1alpha1.TenantFinalizer)
	return reconcile.Result{}, client.IgnoreNotFound(r.Tenants.Client.Patch(ctx, obj, client.MergeFrom(orig)))
}

// setTenantConditions writes Ready and Stalled for a tenant (it has no Reconciling phase of its own
// beyond transient errors, which keep Ready=False without Stalled).
func setTenantConditions(conds *[]metav1.Condition, generation int64, o outcome) {
	setConditions(conds, generation, o)
	meta.RemoveStatusCondition(conds, simv1alpha1.ConditionReconciling)
}

func patchTenantStatus(ctx context.Context, c client.Client, before, after simv1alpha1.TenantObject) error {
	if equality.Semantic.DeepEqual(before.GetTenantStatus(), after.GetTenantStatus()) {
		return nil
	}
	err := c.Status().Patch(ctx, after, client.MergeFrom(before))
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// SetupWithManager registers the reconciler for its kind, watching the credential Secrets' metadata.
func (r *TenantReconciler) SetupWithManager(mgr manager.Manager, name string) error {
	sample := r.New()
	return ctrl.ControllerManagedBy(mgr).
		Named(name).
		For(sample, ctrl.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deletionStarted()))).
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
		if err := r.Tenants.Client.List(ctx, ctList, client.MatchingFields{indexCredentialsSecret: secret.GetName()}); err != nil {
			return nil
		}
		for _, t := range ctList.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: t.Name}})
		}
		return reqs
	}
	if err := r.Tenants.Client.List(ctx, list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{indexCredentialsSecret: secret.GetName()}); err != nil {
		return nil
	}
	for _, t := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: t.Namespace, Name: t.Name}})
	}
	return reqs
}
