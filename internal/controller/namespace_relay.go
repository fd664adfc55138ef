package controller

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// namespaceRelay re-enqueues the SimIntegrations of a namespace whose labels changed, when they use a
// ClusterTenant that selects namespaces by label. It is a small controller of its own (so it runs on
// the leader only) that hands each object to the SimIntegration controller's queue.
type namespaceRelay struct {
	client.Client
	sims *SimIntegrationReconciler
}

// setupNamespaceRelay registers the namespace watch.
func setupNamespaceRelay(mgr manager.Manager, sims *SimIntegrationReconciler) error {
	relay := &namespaceRelay{Client: mgr.GetClient(), sims: sims}
	return builder.ControllerManagedBy(mgr).
		Named("simintegration-namespaces").
		WatchesMetadata(tenant.NamespaceMetadata(), handler.EnqueueRequestsFromMapFunc(relay.selectedUsers),
			builder.WithPredicates(predicate.LabelChangedPredicate{}, updatesOnly())).
		Complete(relay)
}

// updatesOnly passes updates: a new namespace has no SimIntegrations yet, and every object is
// reconciled when the manager starts.
func updatesOnly() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// selectedUsers maps a namespace to its SimIntegrations that use a ClusterTenant with a
// namespaceSelector (through the tenantRef index).
func (r *namespaceRelay) selectedUsers(ctx context.Context, ns client.Object) []reconcile.Request {
	tenants := &simv1alpha1.ClusterTenantList{}
	if err := r.List(ctx, tenants); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, ct := range tenants.Items {
		if ct.Spec.NamespaceSelector == nil {
			continue
		}
		ref := simv1alpha1.TenantReference{Kind: simv1alpha1.TenantKindClusterTenant, Name: ct.Name}
		reqs = append(reqs, r.sims.requests(ctx, client.InNamespace(ns.GetName()), client.MatchingFields{indexTenantRef: tenantRefKey(ref)})...)
	}
	return reqs
}

// Reconcile hands one SimIntegration to the SimIntegration controller's queue.
func (r *namespaceRelay) Reconcile(_ context.Context, req reconcile.Request) (reconcile.Result, error) {
	r.sims.changes.Enqueue(req.NamespacedName)
	return reconcile.Result{}, nil
}
