package controller

import (
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

// newFairRateLimitingQueue is a controller's workqueue over a fairQueue.
func newFairRateLimitingQueue(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	queue := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[reconcile.Request]{Name: name, Queue: newFairQueue()})
	return workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{
		Name:          name,
		DelayingQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[reconcile.Request]{Name: name, Queue: queue}),
	})
}
