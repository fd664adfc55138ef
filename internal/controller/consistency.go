package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// consistencyStore remembers what this process wrote to each object and when, so that a reconcile
// never acts on a cached copy older than its own last write (it would carry an out-of-date
// last-applied record and send a change twice). This is the stale-controller mitigation that
// Kubernetes names in KEP-5647 and cluster-api keeps in util/controller (WroteAt, EnsureReady, Clear):
// a reconcile that finds its cache behind requeues shortly instead of waiting in the worker.
//
// It holds one entry per object written in the last maxCacheLag, whatever the number of objects. It
// is safe for concurrent use.
type consistencyStore struct {
	// clock defaults to time.Now.
	clock func() time.Time

	mu      sync.Mutex
	writes  map[types.NamespacedName]lastWrite
	sweptAt time.Time
}

// lastWrite is one incarnation's (UID's) latest write by this process.
type lastWrite struct {
	uid             types.UID
	resourceVersion string
	at              time.Time
}

// maxCacheLag is how long a write is waited for. The cache sees a write within milliseconds; one that
// is still missing after this is taken as seen, so an apiserver serving resourceVersions that do not
// compare costs requeues for a moment, never a stuck object.
const maxCacheLag = 2 * time.Second

// staleCacheRequeue is how soon a reconcile whose cache is behind runs again.
const staleCacheRequeue = 100 * time.Millisecond

func (s *consistencyStore) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// WroteAt records a write of obj by this process; obj carries the resourceVersion the write returned.
// Of two writes of one incarnation, the newer resourceVersion is kept.
func (s *consistencyStore) WroteAt(obj client.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweepLocked(now)
	if s.writes == nil {
		s.writes = map[types.NamespacedName]lastWrite{}
	}
	key := client.ObjectKeyFromObject(obj)
	w := lastWrite{uid: obj.GetUID(), resourceVersion: obj.GetResourceVersion(), at: now}
	if old, ok := s.writes[key]; ok && old.uid == w.uid && olderThan(w.resourceVersion, old.resourceVersion) {
		w.resourceVersion = old.resourceVersion
	}
	s.writes[key] = w
}

// EnsureReady reports whether the cached copy obj already holds this process's last write to it, and
// drops the record once it does (or once maxCacheLag has passed, or the write was to an earlier
// incarnation). An object this process never wrote is always ready.
func (s *consistencyStore) EnsureReady(obj client.Object) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := client.ObjectKeyFromObject(obj)
	w, ok := s.writes[key]
	if !ok {
		return true
	}
	if w.uid == obj.GetUID() && olderThan(obj.GetResourceVersion(), w.resourceVersion) && s.now().Sub(w.at) < maxCacheLag {
		return false
	}
	delete(s.writes, key)
	return true
}

// Clear drops the record of an object that is gone.
func (s *consistencyStore) Clear(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.writes, key)
}

// Len is the number of writes remembered.
func (s *consistencyStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.writes)
}

// sweepLocked drops, at most once per maxCacheLag, the writes that are too old to wait for: objects
// written once and not reconciled again for a poll interval keep no entry.
func (s *consistencyStore) sweepLocked(now time.Time) {
	if now.Sub(s.sweptAt) < maxCacheLag {
		return
	}
	s.sweptAt = now
	for key, w := range s.writes {
		if now.Sub(w.at) >= maxCacheLag {
			delete(s.writes, key)
		}
	}
}

// olderThan reports whether resourceVersion a is older than b ("" is never newer). Versions that do
// not compare (not served from etcd) count as older unless equal, which only costs a short wait.
func olderThan(a, b string) bool {
	if b == "" || a == b {
		return false
	}
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err != nil || c < 0
}
