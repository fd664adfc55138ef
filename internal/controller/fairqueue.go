package controller

import (
	"sync"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// fairQueue orders a workqueue's requests round-robin across namespaces and first-in first-out within
// one: a namespace with thousands of queued objects delays another namespace's next object by at most
// one of its own. The workqueue keeps its own de-duplication and in-flight rules and calls these
// methods under its lock.
type fairQueue struct {
	byNamespace map[string][]reconcile.Request
	// ring holds the namespaces with queued requests, in the order they are served; next is the one
	// served by the next Pop.
	ring []string
	next int
	n    int
}

var _ workqueue.Queue[reconcile.Request] = (*fairQueue)(nil)

func newFairQueue() *fairQueue {
	return &fairQueue{byNamespace: map[string][]reconcile.Request{}}
}

// Touch is called when a queued request is added again; its place stays.
func (q *fairQueue) Touch(reconcile.Request) {}

// Push queues a request behind the others of its namespace.
func (q *fairQueue) Push(req reconcile.Request) {
	ns := req.Namespace
	if len(q.byNamespace[ns]) == 0 {
		// A namespace that was idle is served after those already waiting.
		q.ring = append(q.ring, "")
		copy(q.ring[q.next+1:], q.ring[q.next:])
		q.ring[q.next] = ns
		q.next++
		q.next %= len(q.ring)
	}
	q.byNamespace[ns] = append(q.byNamespace[ns], req)
	q.n++
}

// Len is the number of queued requests.
func (q *fairQueue) Len() int { return q.n }

// Pop returns the oldest request of the next namespace in turn. The workqueue calls it only when Len > 0.
func (q *fairQueue) Pop() reconcile.Request {
	ns := q.ring[q.next]
	reqs := q.byNamespace[ns]
	req := reqs[0]
	q.n--
	if len(reqs) == 1 {
		delete(q.byNamespace, ns)
		q.ring = append(q.ring[:q.next], q.ring[q.next+1:]...)
	} else {
		reqs[0] = reconcile.Request{}
		q.byNamespace[ns] = reqs[1:]
		q.next++
	}
	if q.next >= len(q.ring) {
		q.next = 0
	}
	return req
}

// cappedQueue hands a worker a request only while its namespace holds fewer workers than its cap (all
// but one), so objects whose remote is slow (a tenant API that answers late, a token endpoint that
// hangs) always leave a worker for the other namespaces. A request of a namespace at its cap is parked,
// still counted as in flight by the inner queue, and put back when one of that namespace's requests is
// done: nothing is delayed, and no worker spins over requests it may not take.
type cappedQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	limit int

	mu     sync.Mutex
	busy   map[string]int
	parked map[string][]reconcile.Request
}

func newCappedQueue(inner workqueue.TypedRateLimitingInterface[reconcile.Request], workers int) *cappedQueue {
	return &cappedQueue{TypedRateLimitingInterface: inner, limit: max(1, workers-1),
		busy: map[string]int{}, parked: map[string][]reconcile.Request{}}
}

// Get returns the next request whose namespace is under its cap.
func (q *cappedQueue) Get() (reconcile.Request, bool) {
	for {
		req, shutdown := q.TypedRateLimitingInterface.Get()
		if shutdown {
			return req, true
		}
		q.mu.Lock()
		if q.busy[req.Namespace] < q.limit {
			q.busy[req.Namespace]++
			q.mu.Unlock()
			return req, false
		}
		q.parked[req.Namespace] = append(q.parked[req.Namespace], req)
		q.mu.Unlock()
	}
}

// Done frees the request's worker and puts back one parked request of the same namespace.
func (q *cappedQueue) Done(req reconcile.Request) {
	q.mu.Lock()
	ns := req.Namespace
	if q.busy[ns]--; q.busy[ns] <= 0 {
		delete(q.busy, ns)
	}
	var next *reconcile.Request
	if p := q.parked[ns]; len(p) > 0 {
		next = &p[0]
		if len(p) == 1 {
			delete(q.parked, ns)
		} else {
			q.parked[ns] = p[1:]
		}
	}
	q.mu.Unlock()
	q.TypedRateLimitingInterface.Done(req)
	if next != nil {
		q.TypedRateLimitingInterface.Done(*next)
		q.Add(*next)
	}
}

// ShutDownWithDrain releases the parked requests first: the inner queue waits for every request in
// flight to be done.
func (q *cappedQueue) ShutDownWithDrain() {
	q.mu.Lock()
	parked := q.parked
	q.parked = map[string][]reconcile.Request{}
	q.mu.Unlock()
	for _, reqs := range parked {
		for _, req := range reqs {
			q.TypedRateLimitingInterface.Done(req)
		}
	}
	q.TypedRateLimitingInterface.ShutDownWithDrain()
}

// fairQueueFor returns a controller's NewQueue: a workqueue over a fairQueue, capped per namespace.
func fairQueueFor(workers int) func(string, workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return func(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
		queue := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[reconcile.Request]{Name: name, Queue: newFairQueue()})
		inner := workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{
			Name:          name,
			DelayingQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[reconcile.Request]{Name: name, Queue: queue}),
		})
		return newCappedQueue(inner, workers)
	}
}
