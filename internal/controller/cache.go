package controller

import (
	"k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lastAppliedAnnotation is where `kubectl apply` (client-side) keeps a full copy of the object.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// CacheTransform trims what the manager's informer cache keeps of every object: managedFields and the
// client-side-apply copy of the object, which the reconcilers never read and which would otherwise
// double the memory of each cached SimIntegration.
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
		return out, nil
	}
}
