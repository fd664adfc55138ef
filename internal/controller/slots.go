package controller

import "sync"

// namespaceSlots caps how many workers one namespace may hold at once, all but one, so that objects
// whose remote is slow (a tenant API that answers late, a token endpoint that hangs) always leave a
// worker free for the other namespaces, while a namespace alone still uses nearly all of them.
// Safe for concurrent use.
type namespaceSlots struct {
	limit int
	mu    sync.Mutex
	busy  map[string]int
}

func newNamespaceSlots(workers int) *namespaceSlots {
	return &namespaceSlots{limit: max(1, workers-1), busy: map[string]int{}}
}

// acquire takes a slot for namespace; release must be called when ok. A nil namespaceSlots has no cap.
func (s *namespaceSlots) acquire(namespace string) (release func(), ok bool) {
	if s == nil {
		return func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[namespace] >= s.limit {
		return nil, false
	}
	s.busy[namespace]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.busy[namespace]--; s.busy[namespace] == 0 {
			delete(s.busy, namespace)
		}
	}, true
}
