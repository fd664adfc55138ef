package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// bigSecret holds 32 keys of 30 KiB each, of which one is referenced.
func bigSecret(name string) *corev1.Secret {
	data := map[string][]byte{}
	for i := range 32 {
		data[fmt.Sprintf("k%d", i)] = []byte(strings.Repeat("x", 30<<10))
	}
	data["password"] = []byte("p4ssw0rd-" + name)
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: name}, Data: data}
}

func newReader(t *testing.T, objs ...client.Object) (*SecretReader, client.Client) {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	return &SecretReader{Metadata: c, API: c}, c
}

// TestSecretReaderKeepsOnlyReferencedKeys is the memory attack of issue 11: Secrets full of large keys
// referenced by many objects. Only the referenced key is kept, and nothing once no owner references it.
func TestSecretReaderKeepsOnlyReferencedKeys(t *testing.T) {
	ctx := context.Background()
	var objs []client.Object
	for i := range 8 {
		objs = append(objs, bigSecret(fmt.Sprintf("s%d", i)))
	}
	r, _ := newReader(t, objs...)
	for i := range 8 {
		k := SecretKey{Namespace: "team-b", Name: fmt.Sprintf("s%d", i), Key: "password"}
		owner := fmt.Sprintf("SimIntegration/team-b/o%d", i)
		r.Retain(owner, []SecretKey{k})
		v, err := r.Value(ctx, k)
		if err != nil || string(v.Value) != "p4ssw0rd-"+k.Name {
			t.Fatalf("Value: %q, %v", v.Value, err)
		}
	}
	if got, want := r.CachedBytes(), 8*len("p4ssw0rd-s0"); got != want {
		t.Fatalf("kept %d bytes, want %d (the referenced keys only)", got, want)
	}
	for i := range 8 {
		r.Release(fmt.Sprintf("SimIntegration/team-b/o%d", i))
	}
	if got := r.CachedBytes(); got != 0 {
		t.Fatalf("kept %d bytes after every owner was released", got)
	}
}

// TestSecretReaderForgetsDroppedReferencesAndGoneSecrets: an owner that stops referencing a key, and a
// Secret that is deleted, leave nothing behind; a value read without a retaining owner is not kept.
func TestSecretReaderForgetsDroppedReferencesAndGoneSecrets(t *testing.T) {
	ctx := context.Background()
	r, c := newReader(t, bigSecret("a"), bigSecret("b"))
	ka := SecretKey{Namespace: "team-b", Name: "a", Key: "password"}
	kb := SecretKey{Namespace: "team-b", Name: "b", Key: "k1"}
	r.Retain("o", []SecretKey{ka, kb})
	for _, k := range []SecretKey{ka, kb} {
		if _, err := r.Value(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	r.Retain("o", []SecretKey{ka}) // the spec no longer names b
	if got := r.CachedBytes(); got != len("p4ssw0rd-a") {
		t.Fatalf("kept %d bytes, want only a's password", got)
	}
	if err := c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Value(ctx, ka); !errors.As(err, new(*SecretKeyError)) {
		t.Fatalf("deleted Secret: %v", err)
	}
	if got := r.CachedBytes(); got != 0 {
		t.Fatalf("kept %d bytes of a deleted Secret", got)
	}
	if _, err := r.Value(ctx, kb); err != nil || r.CachedBytes() != 0 {
		t.Fatalf("an unretained key was kept (%d bytes, %v)", r.CachedBytes(), err)
	}
}

// TestSecretReaderRefusesHugeValues: a value larger than MaxSecretValueBytes is refused, not held.
func TestSecretReaderRefusesHugeValues(t *testing.T) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "huge"},
		Data: map[string][]byte{"v": make([]byte, MaxSecretValueBytes+1)}}
	r, _ := newReader(t, s)
	k := SecretKey{Namespace: "team-b", Name: "huge", Key: "v"}
	r.Retain("o", []SecretKey{k})
	if _, err := r.Value(context.Background(), k); !errors.As(err, new(*SecretValueTooLargeError)) {
		t.Fatalf("got %v, want SecretValueTooLargeError", err)
	}
	if r.CachedBytes() != 0 {
		t.Fatal("a refused value was kept")
	}
}

// TestSecretReaderReportsTypeAndLabels: the policy on what may be sent needs the Secret's type and labels.
func TestSecretReaderReportsTypeAndLabels(t *testing.T) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "sa", Labels: map[string]string{"l": "v"}},
		Type: corev1.SecretTypeServiceAccountToken, Data: map[string][]byte{"token": []byte("t0k3n-value")}}
	r, _ := newReader(t, s)
	k := SecretKey{Namespace: "team-b", Name: "sa", Key: "token"}
	r.Retain("o", []SecretKey{k})
	for range 2 { // read, then served from the cache
		v, err := r.Value(context.Background(), k)
		if err != nil || v.Type != corev1.SecretTypeServiceAccountToken || v.Labels["l"] != "v" {
			t.Fatalf("Value = %+v, %v", v, err)
		}
	}
}

// traceCheckingReader records whether the request's logger would trace bodies (client-go logs them at
// verbosity 8 through the context's logger).
type traceCheckingReader struct {
	client.Reader
	traced bool
}

func (r *traceCheckingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if logr.FromContextOrDiscard(ctx).V(8).Enabled() {
		r.traced = true
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// TestSecretReaderNeverTracesValues: with the manager at the highest verbosity, the API read of a
// Secret runs with a logger that traces nothing, so client-go never logs the Secret's body.
func TestSecretReaderNeverTracesValues(t *testing.T) {
	_, c := newReader(t, bigSecret("a"))
	api := &traceCheckingReader{Reader: c}
	r := &SecretReader{Metadata: c, API: api}
	verbose := funcr.New(func(string, string) {}, funcr.Options{Verbosity: 10})
	ctx := logr.NewContext(context.Background(), verbose)
	if _, err := r.Value(ctx, SecretKey{Namespace: "team-b", Name: "a", Key: "password"}); err != nil {
		t.Fatal(err)
	}
	if api.traced {
		t.Fatal("the Secret was read with a logger that traces request and response bodies")
	}
}
