package tenant

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/options"
)

// ConfigError says a tenant object cannot be used as it is written: a human must change it, its Secret
// or the operator's flags. Reason is the condition reason it stalls with (api/v1alpha1).
type ConfigError struct {
	Reason  string
	Message string
}

func (e *ConfigError) Error() string { return e.Reason + ": " + e.Message }

func configError(reason, format string, args ...any) error {
	return &ConfigError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Resolver turns Tenant and ClusterTenant objects into connections: it reads the objects and their
// credential Secrets, applies the operator's URL policy, and checks which namespaces may use a
// ClusterTenant. The Tenant reconcilers and the SimIntegration reconciler share one Resolver, so a
// SimIntegration never waits for its tenant's own reconcile.
type Resolver struct {
	// Client reads tenant objects and namespace metadata (from the manager's cache).
	Client client.Reader
	// Secrets reads credential values; it never caches a Secret nobody references.
	Secrets *SecretReader
	// Registry holds the connections, budgets and snapshots.
	Registry *Registry
	// Options are the operator's flags (URL allowlist, the ClusterTenant Secret namespace).
	Options *options.Options
}

// Connect checks a tenant object's URLs and credentials and returns its connection. It sends no request.
func (r *Resolver) Connect(ctx context.Context, obj simv1alpha1.TenantObject) (*Connection, error) {
	spec := obj.GetTenantSpec()
	for _, u := range []string{spec.BaseURL, spec.TokenURL} {
		if u == "" {
			continue
		}
		if err := r.Options.CheckURL(u); err != nil {
			return nil, configError(simv1alpha1.ReasonHostNotAllowed, "%v", err)
		}
	}
	ns := obj.GetNamespace()
	if obj.GetTenantKind() == simv1alpha1.TenantKindClusterTenant {
		ns = r.Options.ClusterResourceNamespace
	}
	ref := spec.CredentialsRef
	key := KeyOf(obj)
	idKey := SecretKey{Namespace: ns, Name: ref.Name, Key: ref.ClientIDKey}
	secretKey := SecretKey{Namespace: ns, Name: ref.Name, Key: ref.ClientSecretKey}
	r.Secrets.Retain(key, []SecretKey{idKey, secretKey})
	id, err := r.Secrets.Value(ctx, idKey)
	if err != nil {
		return nil, err
	}
	if err := ValidClientID(string(id.Value)); err != nil {
		return nil, configError(simv1alpha1.ReasonInvalidSpec, "the client id in Secret %s/%s key %s is not valid: it %v",
			ns, ref.Name, ref.ClientIDKey, err)
	}
	secret, err := r.Secrets.Value(ctx, secretKey)
	if err != nil {
		return nil, err
	}
	connSpec := *spec
	connSpec.Suspend = false // a change freeze is the reconcilers' business, not the connection's: no new client
	conn, err := r.Registry.Connect(key, connSpec, Credentials{
		ClientID: string(id.Value), ClientSecret: string(secret.Value), ResourceVersion: id.ResourceVersion})
	if err != nil {
		return nil, configError(simv1alpha1.ReasonInvalidSpec, "%v", err)
	}
	return conn, nil
}

// Prove returns the tenant's proven connection: if its credentials have not produced a token yet, it
// obtains one first. Only a proven connection shares the tenant's snapshot and rate budget.
func (r *Resolver) Prove(ctx context.Context, obj simv1alpha1.TenantObject) (*Connection, error) {
	conn, err := r.Connect(ctx, obj)
	if err != nil || conn.Proven() {
		return conn, err
	}
	if err := conn.Remote.CheckToken(ctx); err != nil {
		return nil, err
	}
	return r.Registry.Prove(KeyOf(obj), conn)
}

// Forget drops what the operator keeps for a deleted tenant: its connection and its Secret values.
func (r *Resolver) Forget(key string) {
	r.Registry.Forget(key)
	r.Secrets.Release(key)
}

// Get reads the tenant a SimIntegration in namespace refers to; a missing one is a TenantNotFound
// ConfigError.
func (r *Resolver) Get(ctx context.Context, ref simv1alpha1.TenantReference, namespace string) (simv1alpha1.TenantObject, error) {
	var obj simv1alpha1.TenantObject = &simv1alpha1.Tenant{}
	key := types.NamespacedName{Namespace: namespace, Name: ref.Name}
	if ref.Kind == simv1alpha1.TenantKindClusterTenant {
		obj, key.Namespace = &simv1alpha1.ClusterTenant{}, ""
	}
	if err := r.Client.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			kind := ref.Kind
			if kind == "" {
				kind = simv1alpha1.TenantKindTenant
			}
			return nil, configError(simv1alpha1.ReasonTenantNotFound, "%s %q not found", kind, ref.Name)
		}
		return nil, err
	}
	return obj, nil
}

// CheckAccess returns a TenantNotAllowed ConfigError when a SimIntegration in namespace may not use the
// tenant object. A Tenant serves its own namespace only (references never leave it); a ClusterTenant
// serves the namespaces its spec allows. Every path that may call the remote for a SimIntegration
// calls this first.
func (r *Resolver) CheckAccess(ctx context.Context, obj simv1alpha1.TenantObject, namespace string) error {
	ct, ok := obj.(*simv1alpha1.ClusterTenant)
	if !ok || !scoped(&ct.Spec) {
		return nil
	}
	var nsLabels map[string]string
	if ct.Spec.NamespaceSelector != nil && !slices.Contains(ct.Spec.Namespaces, namespace) {
		nsMeta := NamespaceMetadata()
		if err := r.Client.Get(ctx, types.NamespacedName{Name: namespace}, nsMeta); err != nil {
			return fmt.Errorf("read the labels of namespace %s: %w", namespace, err)
		}
		nsLabels = nsMeta.Labels
	}
	allowed, err := namespaceAllowed(&ct.Spec, namespace, nsLabels)
	if err != nil {
		return configError(simv1alpha1.ReasonTenantNotAllowed,
			"ClusterTenant %q has an invalid spec.namespaceSelector (%v); it serves only spec.namespaces, which does not name namespace %q",
			ct.Name, err, namespace)
	}
	if !allowed {
		return configError(simv1alpha1.ReasonTenantNotAllowed,
			"ClusterTenant %q does not allow namespace %q: it is neither named in spec.namespaces nor matched by spec.namespaceSelector",
			ct.Name, namespace)
	}
	return nil
}

// LastConnection is the registry's last connection for the tenant a SimIntegration in namespace
// refers to, for deleting a remote object when the tenant can no longer connect (a namespace being
// deleted may have lost the Secret). It passes the same namespace check as a connection does: a
// namespace that may not use a ClusterTenant cannot delete through it either, nor when the
// ClusterTenant cannot be read.
func (r *Resolver) LastConnection(ctx context.Context, ref simv1alpha1.TenantReference, namespace string) (*Connection, bool) {
	if ref.Kind == simv1alpha1.TenantKindClusterTenant {
		t, err := r.Get(ctx, ref, namespace)
		if err != nil || r.CheckAccess(ctx, t, namespace) != nil {
			return nil, false
		}
	}
	return r.Registry.Lookup(Key(ref.Kind, namespace, ref.Name))
}

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

// NamespaceMetadata is the metadata-only type for Namespaces: only their labels are read.
func NamespaceMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return m
}

// KeyOf names a tenant object in the registry.
func KeyOf(obj simv1alpha1.TenantObject) string {
	return Key(obj.GetTenantKind(), obj.GetNamespace(), obj.GetName())
}
