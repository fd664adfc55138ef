package controller

import (
	"unique"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// ClientOptions are the manager client's options: Secret values are never cached, the reconcilers
// watch Secret metadata and read the few referenced Secrets directly. Every manager of sim-operator
// (the binary and the test suites) uses them.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// CacheOptions are the manager cache's options (CacheTransform on every object).
func CacheOptions() crcache.Options {
	return crcache.Options{DefaultTransform: CacheTransform()}
}

// lastAppliedAnnotation is where `kubectl apply` (client-side) keeps a full copy of the object.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// CacheTransform trims what the manager's informer cache keeps of every object: managedFields and the
// client-side-apply copy of the object, which the reconcilers never read and which would otherwise
// double the memory of each cached SimIntegration. The strings that repeat across SimIntegrations
// (kind, namespace, tenant, policies, condition texts) are shared instead of copied per object.
func CacheTransform() cache.TransformFunc {
	stripManagedFields := crcache.TransformStripManagedFields()
	return func(in any) (any, error) {
		out, err := stripManagedFields(in)
		if err != nil {
			return out, err
		}
		if obj, ok := out.(client.Object); ok {
			if a := obj.GetAnnotations(); a[lastAppliedAnnotation] != "" {
				trimmed := make(map[string]string, len(a)-1)
				for k, v := range a {
					if k != lastAppliedAnnotation {
						trimmed[k] = v
					}
				}
				obj.SetAnnotations(trimmed)
			}
		}
		if sim, ok := out.(*simv1alpha1.SimIntegration); ok {
			internRepeated(sim)
		}
		return out, nil
	}
}

// internRepeated points the strings that thousands of cached SimIntegrations have in common at one
// shared copy each (about 500 bytes per object).
func internRepeated(o *simv1alpha1.SimIntegration) {
	o.APIVersion, o.Kind = intern(o.APIVersion), intern(o.Kind)
	o.Namespace = intern(o.Namespace)
	for i := range o.Finalizers {
		o.Finalizers[i] = intern(o.Finalizers[i])
	}
	sp := &o.Spec
	sp.TenantRef.Kind = intern(sp.TenantRef.Kind)
	sp.TenantRef.Name = intern(sp.TenantRef.Name)
	sp.Type = intern(sp.Type)
	sp.DeletionPolicy, sp.ManagementPolicy, sp.AdoptionPolicy = intern(sp.DeletionPolicy), intern(sp.ManagementPolicy), intern(sp.AdoptionPolicy)
	for i := range sp.Sources {
		sp.Sources[i] = intern(sp.Sources[i])
	}
	for i := range o.Status.Conditions {
		c := &o.Status.Conditions[i]
		c.Type, c.Status, c.Reason, c.Message = intern(c.Type), intern(c.Status), intern(c.Reason), intern(c.Message)
	}
}

func intern[S ~string](s S) S {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}
