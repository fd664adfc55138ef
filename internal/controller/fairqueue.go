package controller

import (
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// fairQueue orders a workqueue's requests round-robin across namespaces and first-in first-out within
// one: a namespace with thousands of queued objects delays another namespace's next object by at most
// one of its own. Requests from a watch's initial list (handed in with a negative priority, see
// cappedQueue.AddWithOpts) wait in a second lane, served when the first is empty and at least every
// initialShare-th time, so that after a restart a spec edit or a remote change is not queued behind
// the whole first pass; an ordinary add of a request waiting there moves it to the first lane. The workqueue keeps its own de-duplication
// and in-flight rules and calls these methods under its lock.
type fairQueue struct {
	lane
	// initial holds the requests of the initial lists.
	initial lane
	// ordinaryRun counts the pops from the ordinary lane since the initial lane's last turn.
	ordinaryRun int

	mu sync.Mutex
	// lowMarks are requests being added to the initial lane: set before the workqueue's Add (or
	// AddAfter, with the time it is due), taken by the Push or Touch that add makes once due.
	lowMarks map[reconcile.Request]time.Time
}

// lane is one round-robin of namespaces.
type lane struct {
	byNamespace map[string][]reconcile.Request
	// ring holds the namespaces with queued requests, in the order they are served; next is the one
	// served by the next pop.
	ring []string
	next int
	n    int
}

var _ workqueue.Queue[reconcile.Request] = (*fairQueue)(nil)

func newFairQueue() *fairQueue {
	return &fairQueue{lane: lane{byNamespace: map[string][]reconcile.Request{}},
		initial: lane{byNamespace: map[string][]reconcile.Request{}}, lowMarks: map[reconcile.Request]time.Time{}}
}

// markLow says that the next Push or Touch of req comes from an initial list.
func (q *fairQueue) markLow(req reconcile.Request) { q.markLowAt(req, time.Time{}) }

// markLowAt says that the Push or Touch of req made at or after at comes from a requeue (AddAfter);
// one made before is another add. Of two marks the earlier stays, as the delaying queue keeps the
// earlier of two pending adds.
func (q *fairQueue) markLowAt(req reconcile.Request, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if prev, ok := q.lowMarks[req]; !ok || at.Before(prev) {
		q.lowMarks[req] = at
	}
}

// takeMark takes req's mark if it is due.
func (q *fairQueue) takeMark(req reconcile.Request) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	at, ok := q.lowMarks[req]
	if !ok || at.After(time.Now()) {
		return false
	}
	delete(q.lowMarks, req)
	return true
}

// Touch is called when a queued request is added again: its place stays, unless it waits in the
// initial lane and this add is an ordinary one.
func (q *fairQueue) Touch(req reconcile.Request) {
	if q.takeMark(req) {
		return
	}
	if q.initial.remove(req) {
		q.push(req)
	}
}

// Push queues a request behind the others of its namespace, in its lane.
func (q *fairQueue) Push(req reconcile.Request) {
	if q.takeMark(req) {
		q.initial.push(req)
		return
	}
	q.push(req)
}

// Len is the number of queued requests.
func (q *fairQueue) Len() int { return q.n + q.initial.n }

// initialShare: when both lanes hold requests, one pop in initialShare serves the initial lane, so
// that requeues coming due during a long first pass cannot hold it back for good.
const initialShare = 4

// Pop returns the oldest request of the next namespace in turn, from the ordinary lane first (see
// initialShare). The workqueue calls it only when Len > 0.
func (q *fairQueue) Pop() reconcile.Request {
	if q.n == 0 || (q.initial.n > 0 && q.ordinaryRun >= initialShare-1) {
		q.ordinaryRun = 0
		return q.initial.pop()
	}
	q.ordinaryRun++
	return q.pop()
}

func (l *lane) push(req reconcile.Request) {
	ns := req.Namespace
	if len(l.byNamespace[ns]) == 0 {
		// A namespace that was idle is served after those already waiting.
		l.ring = append(l.ring, "")
		copy(l.ring[l.next+1:], l.ring[l.next:])
		l.ring[l.next] = ns
		l.next++
		l.next %= len(l.ring)
	}
	l.byNamespace[ns] = append(l.byNamespace[ns], req)
	l.n++
}

func (l *lane) pop() reconcile.Request {
	ns := l.ring[l.next]
	reqs := l.byNamespace[ns]
	req := reqs[0]
	l.n--
	if len(reqs) == 1 {
		delete(l.byNamespace, ns)
		l.ring = append(l.ring[:l.next], l.ring[l.next+1:]...)
	} else {
		reqs[0] = reconcile.Request{}
		l.byNamespace[ns] = reqs[1:]
		l.next++
	}
	if l.next >= len(l.ring) {
		l.next = 0
	}
	return req
}

// remove takes req out of the lane, if it is there.
func (l *lane) remove(req reconcile.Request) bool {
	ns := req.Namespace
	reqs := l.byNamespace[ns]
	i := slices.Index(reqs, req)
	if i < 0 {
		return false
	}
	l.n--
	if len(reqs) > 1 {
		l.byNamespace[ns] = slices.Delete(reqs, i, i+1)
		return true
	}
	delete(l.byNamespace, ns)
	at := slices.Index(l.ring, ns)
	l.ring = slices.Delete(l.ring, at, at+1)
	if at < l.next {
		l.next--
	}
	if l.next >= len(l.ring) {
		l.next = 0
	}
	return true
}

// cappedQueue hands a worker a request only while its namespace holds fewer workers than its cap (all
// but one), so objects whose remote is slow (a tenant API that answers late, a token endpoint that
// hangs) always leave a worker for the other namespaces. A request of a namespace at its cap is parked,
// still counted as in flight by the inner queue, and put back when one of that namespace's requests is
// done: nothing is delayed, and no worker spins over requests it may not take.
type cappedQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	limit int
	fair  *fairQueue

	mu     sync.Mutex
	busy   map[string]int
	parked map[string][]reconcile.Request
}

func newCappedQueue(inner workqueue.TypedRateLimitingInterface[reconcile.Request], workers int, fair *fairQueue) *cappedQueue {
	return &cappedQueue{TypedRateLimitingInterface: inner, limit: max(1, workers-1), fair: fair,
		busy: map[string]int{}, parked: map[string][]reconcile.Request{}}
}

// The controller hands the priority of each add to a priority queue: that is how the requests of a
// watch's initial list (handler.LowPriority) reach the fair queue's initial lane.
var _ priorityqueue.PriorityQueue[reconcile.Request] = (*cappedQueue)(nil)

// AddWithOpts adds as controller-runtime's wrapper of a plain queue does, except that an immediate
// add with a negative priority (an object of a watch's initial list, or an unchanged resync) and a
// delayed add (a requeue after the poll interval) go to the initial lane when they are due: they
// take turns there, and an edit or a remote change is served before them.
func (q *cappedQueue) AddWithOpts(o priorityqueue.AddOpts, items ...reconcile.Request) {
	for _, item := range items {
		switch {
		case o.RateLimited:
			q.AddRateLimited(item)
		case o.After > 0:
			if q.fair != nil {
				q.fair.markLowAt(item, time.Now().Add(o.After))
			}
			q.AddAfter(item, o.After)
		case o.Priority != nil && *o.Priority < 0 && q.fair != nil:
			q.fair.markLow(item)
			q.TypedRateLimitingInterface.Add(item)
		default:
			q.Add(item)
		}
	}
}

// Add is an ordinary add: the request goes to the ordinary lane.
func (q *cappedQueue) Add(item reconcile.Request) {
	if q.fair != nil {
		q.fair.takeMark(item) // a due mark left by an add that found the request in flight
	}
	q.TypedRateLimitingInterface.Add(item)
}

// GetWithPriority is Get; the priority is not kept (a requeue goes to the ordinary lane).
func (q *cappedQueue) GetWithPriority() (reconcile.Request, int, bool) {
	item, shutdown := q.Get()
	return item, 0, shutdown
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
		fair := newFairQueue()
		queue := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[reconcile.Request]{Name: name, Queue: fair})
		inner := workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{
			Name:          name,
			DelayingQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[reconcile.Request]{Name: name, Queue: queue}),
		})
		return newCappedQueue(inner, workers, fair)
	}
}
