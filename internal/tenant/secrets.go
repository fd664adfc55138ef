package tenant

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SecretReader reads the few Secrets the operator references without caching every Secret of the
// cluster: the manager caches Secret metadata only (resourceVersion), and values are read from the API
// server when that version changes, then kept for the referenced Secrets alone.
type SecretReader struct {
	// Metadata reads metav1.PartialObjectMetadata from the metadata-only cache.
	Metadata client.Reader
	// API reads Secrets from the API server directly.
	API client.Reader

	mu     sync.Mutex
	values map[types.NamespacedName]*corev1.Secret
}

// SecretKeyError says which Secret or key is missing, without any value.
type SecretKeyError struct {
	Namespace, Name, Key string
}

func (e *SecretKeyError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("Secret %s/%s not found", e.Namespace, e.Name)
	}
	return fmt.Sprintf("Secret %s/%s has no key %q", e.Namespace, e.Name, e.Key)
}

// Value returns a Secret key's value and the Secret's resourceVersion.
func (r *SecretReader) Value(ctx context.Context, namespace, name, key string) (value []byte, resourceVersion string, err error) {
	s, err := r.secret(ctx, types.NamespacedName{Namespace: namespace, Name: name})
	if err != nil {
		return nil, "", err
	}
	v, ok := s.Data[key]
	if !ok {
		return nil, "", &SecretKeyError{Namespace: namespace, Name: name, Key: key}
	}
	return v, s.ResourceVersion, nil
}

func (r *SecretReader) secret(ctx context.Context, key types.NamespacedName) (*corev1.Secret, error) {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.Metadata.Get(ctx, key, meta); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &SecretKeyError{Namespace: key.Namespace, Name: key.Name}
		}
		return nil, fmt.Errorf("read Secret %s metadata: %w", key, err)
	}
	r.mu.Lock()
	cached := r.values[key]
	r.mu.Unlock()
	if cached != nil && cached.ResourceVersion == meta.ResourceVersion {
		return cached, nil
	}
	s := &corev1.Secret{}
	if err := r.API.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &SecretKeyError{Namespace: key.Namespace, Name: key.Name}
		}
		return nil, fmt.Errorf("read Secret %s: %w", key, err)
	}
	r.mu.Lock()
	if r.values == nil {
		r.values = map[types.NamespacedName]*corev1.Secret{}
	}
	r.values[key] = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{ResourceVersion: s.ResourceVersion}, Data: s.Data}
	r.mu.Unlock()
	return s, nil
}
