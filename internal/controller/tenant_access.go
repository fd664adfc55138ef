package controller

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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

// namespaceAllowed says whether a SimIntegration in namespace ns, whose labels are nsLabels, may use
// a ClusterTenant with this spec: any namespace when neither namespaces nor namespaceSelector is set,
// else one named in namespaces or matching namespaceSelector. An invalid selector allows nothing.
func namespaceAllowed(spec *simv1alpha1.ClusterTenantSpec, ns string, nsLabels map[string]string) (bool, error) {
	if !scoped(spec) || slices.Contains(spec.Namespaces, ns) {
		return true, nil
	}
	if spec.NamespaceSelector == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.NamespaceSelector)
	if err != nil {
		return false, err
	}
	return sel.Matches(labels.Set(nsLabels)), nil
}

// scoped says whether a ClusterTenant limits the namespaces that may use it.
func scoped(spec *simv1alpha1.ClusterTenantSpec) bool {
	return len(spec.Namespaces) > 0 || spec.NamespaceSelector != nil
}

// CheckAccess returns a TenantNotAllowed stall when a SimIntegration in namespace may not use the
// tenant object. A Tenant serves its own namespace only (references never leave it); a ClusterTenant
// serves the namespaces its spec allows. Every path that may call the remote for a SimIntegration
// calls this first.
func (t *Tenants) CheckAccess(ctx context.Context, obj simv1alpha1.TenantObject, namespace string) error {
	ct, ok := obj.(*simv1alpha1.ClusterTenant)
	if !ok || !scoped(&ct.Spec) {
		return nil
	}
	var nsLabels map[string]string
	if ct.Spec.NamespaceSelector != nil && !slices.Contains(ct.Spec.Namespaces, namespace) {
		nsMeta := namespaceMeta()
		if err := t.Client.Get(ctx, types.NamespacedName{Name: namespace}, nsMeta); err != nil {
			return fmt.Errorf("read the labels of namespace %s: %w", namespace, err)
		}
		nsLabels = nsMeta.Labels
	}
	allowed, err := namespaceAllowed(&ct.Spec, namespace, nsLabels)
	if err != nil {
		return stall(simv1alpha1.ReasonTenantNotAllowed,
			"ClusterTenant %q has an invalid spec.namespaceSelector (%v); it serves only spec.namespaces, which does not name namespace %q",
			ct.Name, err, namespace)
	}
	if !allowed {
		return stall(simv1alpha1.ReasonTenantNotAllowed,
			"ClusterTenant %q does not allow namespace %q: it is neither named in spec.namespaces nor matched by spec.namespaceSelector",
			ct.Name, namespace)
	}
	return nil
}

// lastConnection is the registry's last connection for the SimIntegration's tenant, used to delete a
// remote object when the tenant can no longer connect (a namespace being deleted may have lost the
// Secret). It passes the same namespace check as connect: a namespace that may not use a ClusterTenant
// cannot delete through it either, nor when the ClusterTenant cannot be read.
func (r *SimIntegrationReconciler) lastConnection(ctx context.Context, obj *simv1alpha1.SimIntegration) (*tenant.Connection, bool) {
	ref := obj.Spec.TenantRef
	if ref.Kind == simv1alpha1.TenantKindClusterTenant {
		t, err := r.Tenants.Get(ctx, ref, obj.Namespace)
		if err != nil || r.Tenants.CheckAccess(ctx, t, obj.Namespace) != nil {
			return nil, false
		}
	}
	return r.Tenants.Registry.Lookup(tenant.Key(ref.Kind, obj.Namespace, ref.Name))
}

// namespaceMeta is the metadata-only type for Namespaces: only their labels are read.
func namespaceMeta() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return m
}

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
		WatchesMetadata(namespaceMeta(), handler.EnqueueRequestsFromMapFunc(relay.selectedUsers),
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

// Reconcile hands one SimIntegration to the SimIntegration controller.
func (r *namespaceRelay) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj := &simv1alpha1.SimIntegration{}
	obj.Namespace, obj.Name = req.Namespace, req.Name
	select {
	case r.sims.changedEvents() <- event.GenericEvent{Object: obj}:
	case <-ctx.Done():
	}
	return reconcile.Result{}, nil
}
