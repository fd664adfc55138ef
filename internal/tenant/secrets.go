package tenant

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MaxSecretValueBytes is the largest Secret value the operator sends: an API client secret, a
// password or a PEM key is far smaller, and a larger value is refused rather than held in memory.
const MaxSecretValueBytes = 64 << 10

// maxCachedBytes bounds the values kept between reconciles, whatever users reference; past it, values
// are read from the API server each time they are needed.
const maxCachedBytes = 32 << 20

// SecretReader reads the few Secret keys the operator references without caching every Secret of the
// cluster: the manager caches Secret metadata only (resourceVersion, type is read with the value), and
// a value is read from the API server when that version changes. Between reconciles it keeps only the
// keys that some owner (a tenant or a SimIntegration) references, and forgets them when no owner
// references them any more or the Secret is gone.
type SecretReader struct {
	// Metadata reads metav1.PartialObjectMetadata from the metadata-only cache.
	Metadata client.Reader
	// API reads Secrets from the API server directly.
	API client.Reader

	mu sync.Mutex
	// refs holds each owner's referenced keys; counts how many owners reference each key.
	refs   map[string][]SecretKey
	counts map[SecretKey]int
	cache  map[types.NamespacedName]*cachedSecret
	bytes  int
}

// SecretKey names one key of one Secret.
type SecretKey struct {
	Namespace, Name, Key string
}

// SecretValue is one key's value with what the operator needs to know about its Secret.
type SecretValue struct {
	Value []byte
	// ResourceVersion of the Secret; a new version means the value may have changed.
	ResourceVersion string
	// Type and Labels of the Secret, for the policy on what may be sent to a tenant.
	Type   corev1.SecretType
	Labels map[string]string
}

type cachedSecret struct {
	resourceVersion string
	secretType      corev1.SecretType
	values          map[string][]byte
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

// SecretValueTooLargeError refuses a value larger than MaxSecretValueBytes.
type SecretValueTooLargeError struct {
	SecretKey
	Size int
}

func (e *SecretValueTooLargeError) Error() string {
	return fmt.Sprintf("Secret %s/%s key %q holds %d bytes, more than the %d the operator sends",
		e.Namespace, e.Name, e.Key, e.Size, MaxSecretValueBytes)
}

// Retain declares the keys owner references now, replacing what it referenced before: keys no owner
// references any more are forgotten. Call it before Value, with every key the owner's spec names.
func (r *SecretReader) Retain(owner string, keys []SecretKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.refs, r.counts, r.cache = map[string][]SecretKey{}, map[SecretKey]int{}, map[types.NamespacedName]*cachedSecret{}
	}
	for _, k := range keys {
		r.counts[k]++
	}
	r.releaseLocked(owner)
	if len(keys) > 0 {
		r.refs[owner] = keys
	}
}

// Release forgets owner's references (the owner was deleted).
func (r *SecretReader) Release(owner string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseLocked(owner)
}

func (r *SecretReader) releaseLocked(owner string) {
	for _, k := range r.refs[owner] {
		if r.counts[k]--; r.counts[k] <= 0 {
			delete(r.counts, k)
			r.dropLocked(k)
		}
	}
	delete(r.refs, owner)
}

func (r *SecretReader) dropLocked(k SecretKey) {
	nn := types.NamespacedName{Namespace: k.Namespace, Name: k.Name}
	cs := r.cache[nn]
	if cs == nil {
		return
	}
	r.bytes -= len(cs.values[k.Key])
	delete(cs.values, k.Key)
	if len(cs.values) == 0 {
		delete(r.cache, nn)
	}
}

// dropSecretLocked forgets every cached value of a Secret (gone, or at a new version).
func (r *SecretReader) dropSecretLocked(nn types.NamespacedName) {
	if cs := r.cache[nn]; cs != nil {
		for _, v := range cs.values {
			r.bytes -= len(v)
		}
		delete(r.cache, nn)
	}
}

// Value returns a Secret key's value with the Secret's resourceVersion, type and labels. The value is
// kept for later calls only while some owner retains the key.
func (r *SecretReader) Value(ctx context.Context, k SecretKey) (SecretValue, error) {
	nn := types.NamespacedName{Namespace: k.Namespace, Name: k.Name}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.Metadata.Get(ctx, nn, meta); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(nn)
			return SecretValue{}, &SecretKeyError{Namespace: k.Namespace, Name: k.Name}
		}
		return SecretValue{}, fmt.Errorf("read Secret %s metadata: %w", nn, err)
	}
	if v, ok := r.cached(k, meta.ResourceVersion); ok {
		v.Labels = meta.Labels
		return v, nil
	}
	s := &corev1.Secret{}
	if err := r.API.Get(quiet(ctx), nn, s); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(nn)
			return SecretValue{}, &SecretKeyError{Namespace: k.Namespace, Name: k.Name}
		}
		return SecretValue{}, fmt.Errorf("read Secret %s: %w", nn, err)
	}
	v, ok := s.Data[k.Key]
	switch {
	case !ok:
		return SecretValue{}, &SecretKeyError{Namespace: k.Namespace, Name: k.Name, Key: k.Key}
	case len(v) > MaxSecretValueBytes:
		return SecretValue{}, &SecretValueTooLargeError{SecretKey: k, Size: len(v)}
	}
	r.keep(k, s, v)
	return SecretValue{Value: v, ResourceVersion: s.ResourceVersion, Type: s.Type, Labels: meta.Labels}, nil
}

// quiet keeps the API client from tracing this request's body (client-go logs bodies at verbosity 8
// and above through the context's logger): a Secret's values never reach a log, at any verbosity.
func quiet(ctx context.Context) context.Context {
	return logr.NewContext(ctx, logr.Discard())
}

func (r *SecretReader) cached(k SecretKey, resourceVersion string) (SecretValue, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.cache[types.NamespacedName{Namespace: k.Namespace, Name: k.Name}]
	if cs == nil || cs.resourceVersion != resourceVersion {
		return SecretValue{}, false
	}
	v, ok := cs.values[k.Key]
	return SecretValue{Value: v, ResourceVersion: cs.resourceVersion, Type: cs.secretType}, ok
}

// keep caches a retained key's value, within maxCachedBytes.
func (r *SecretReader) keep(k SecretKey, s *corev1.Secret, v []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts[k] == 0 {
		return
	}
	nn := types.NamespacedName{Namespace: k.Namespace, Name: k.Name}
	if cs := r.cache[nn]; cs != nil && cs.resourceVersion != s.ResourceVersion {
		r.dropSecretLocked(nn)
	}
	cs := r.cache[nn]
	if cs == nil {
		cs = &cachedSecret{resourceVersion: s.ResourceVersion, secretType: s.Type, values: map[string][]byte{}}
	}
	grow := len(v) - len(cs.values[k.Key])
	if r.bytes+grow > maxCachedBytes {
		return
	}
	cs.values[k.Key] = v
	r.bytes += grow
	r.cache[nn] = cs
}

func (r *SecretReader) forget(nn types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropSecretLocked(nn)
}

// CachedBytes is the size of the values kept (for tests).
func (r *SecretReader) CachedBytes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}
