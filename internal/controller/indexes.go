package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// Field indexes that map Secrets, tenants and remote ids back to the objects that use them.
const (
	indexCredentialsSecret = "spec.credentialsRef.name"
	indexAttributeSecret   = "spec.secretAttributes.secretKeyRef.name"
	indexTenantRef         = "spec.tenantRef"
	indexRemoteID          = "status.id"
)

// SetupIndexes registers the field indexes the reconcilers rely on.
func SetupIndexes(ctx context.Context, mgr manager.Manager) error {
	ix := mgr.GetFieldIndexer()
	credentials := func(o client.Object) []string {
		return []string{o.(simv1alpha1.TenantObject).GetTenantSpec().CredentialsRef.Name}
	}
	if err := ix.IndexField(ctx, &simv1alpha1.Tenant{}, indexCredentialsSecret, credentials); err != nil {
		return err
	}
	if err := ix.IndexField(ctx, &simv1alpha1.ClusterTenant{}, indexCredentialsSecret, credentials); err != nil {
		return err
	}
	if err := ix.IndexField(ctx, &simv1alpha1.SimIntegration{}, indexAttributeSecret, func(o client.Object) []string {
		var names []string
		for _, sa := range o.(*simv1alpha1.SimIntegration).Spec.SecretAttributes {
			names = append(names, sa.SecretKeyRef.Name)
		}
		return names
	}); err != nil {
		return err
	}
	if err := ix.IndexField(ctx, &simv1alpha1.SimIntegration{}, indexTenantRef, func(o client.Object) []string {
		return []string{tenantRefKey(o.(*simv1alpha1.SimIntegration).Spec.TenantRef)}
	}); err != nil {
		return err
	}
	return ix.IndexField(ctx, &simv1alpha1.SimIntegration{}, indexRemoteID, remoteIDIndex)
}

// remoteIDIndex indexes a SimIntegration by the remote id it records.
func remoteIDIndex(o client.Object) []string {
	if id := o.(*simv1alpha1.SimIntegration).Status.ID; id != "" {
		return []string{id}
	}
	return nil
}

// tenantRefKey is the index value of a tenant reference: "Tenant/acme" or "ClusterTenant/acme".
func tenantRefKey(ref simv1alpha1.TenantReference) string {
	kind := ref.Kind
	if kind == "" {
		kind = simv1alpha1.TenantKindTenant
	}
	return string(kind) + "/" + ref.Name
}

// secretMeta is the metadata-only watch type for Secrets: the operator never caches Secret values.
func secretMeta() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}
