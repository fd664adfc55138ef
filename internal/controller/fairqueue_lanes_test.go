package controller

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func initialList() priorityqueue.AddOpts {
	return priorityqueue.AddOpts{Priority: new(handler.LowPriority)}
}

func getN(t *testing.T, q workqueue.TypedRateLimitingInterface[reconcile.Request], n int) []string {
	t.Helper()
	var got []string
	for range n {
		r, shutdown := q.Get()
		if shutdown {
			t.Fatal("queue shut down")
		}
		got = append(got, r.Namespace+"/"+r.Name)
		q.Done(r)
	}
	return got
}

// After a restart every object comes from the initial list; an edit made meanwhile (an ordinary add)
// is served before them, in its own namespace or another, and the initial ones keep their turns.
func TestFairQueueServesEditsBeforeTheInitialList(t *testing.T) {
	q := fairQueueFor(100)("test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	pq := q.(priorityqueue.PriorityQueue[reconcile.Request])
	for i := range 1000 {
		pq.AddWithOpts(initialList(), req("team-b", i), req("team-c", i))
	}
	q.Add(req("team-a", 0))   // an edit in another namespace
	q.Add(req("team-c", 500)) // an edit of an object already queued by the initial list
	got := getN(t, q, 4)
	if want := "[team-a/o0 team-c/o500 team-b/o0 team-c/o0]"; fmt.Sprint(got) != want {
		t.Fatalf("hand-out order %v, want %s", got, want)
	}
	if q.Len() != 1997 {
		t.Fatalf("Len = %d, want 1997", q.Len())
	}
	// An initial-list add of an object already in the ordinary lane does not demote it.
	q.Add(req("team-d", 0))
	pq.AddWithOpts(initialList(), req("team-d", 0))
	if got := getN(t, q, 1); got[0] != "team-d/o0" {
		t.Fatalf("got %v, want team-d/o0 first", got)
	}
	// Every initial request is still handed out once, in turns.
	rest := getN(t, q, q.Len())
	if len(rest) != 1997 || rest[0] != "team-b/o1" || rest[1] != "team-c/o1" {
		t.Fatalf("rest %d, starting %v", len(rest), rest[:2])
	}
}

// A delayed or rate-limited add (a requeue) goes to the ordinary lane whatever its priority.
func TestFairQueueRequeuesAreOrdinary(t *testing.T) {
	fair := newFairQueue()
	inner := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request](),
		workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{
			DelayingQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[reconcile.Request]{
				Queue: workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[reconcile.Request]{Queue: fair})}),
		})
	q := newCappedQueue(inner, 4, fair)
	defer q.ShutDown()
	q.AddWithOpts(priorityqueue.AddOpts{RateLimited: true, Priority: new(handler.LowPriority)}, req("a", 0))
	r, _, _ := q.GetWithPriority()
	q.Done(r)
	if r != req("a", 0) || fair.initial.n != 0 || len(fair.lowMarks) != 0 {
		t.Fatalf("got %v; initial lane %d, marks %d", r, fair.initial.n, len(fair.lowMarks))
	}
}

// lane.remove keeps the ring and its turn consistent.
func TestLaneRemove(t *testing.T) {
	q := newFairQueue()
	for _, r := range []reconcile.Request{req("a", 0), req("a", 1), req("b", 0), req("c", 0)} {
		q.Push(r)
	}
	if r := q.Pop(); r != req("a", 0) {
		t.Fatalf("first %v", r)
	}
	if !q.remove(req("a", 1)) || q.remove(req("a", 1)) || !q.remove(req("c", 0)) {
		t.Fatal("remove")
	}
	if r := q.Pop(); r != req("b", 0) || q.Len() != 0 || len(q.ring) != 0 || len(q.byNamespace) != 0 {
		t.Fatalf("then %v; Len %d, ring %v", r, q.Len(), q.ring)
	}
}

// Requeues coming due during a long first pass share the workers with it: one pop in initialShare
// serves the initial lane.
func TestFairQueueInitialLaneKeepsAShare(t *testing.T) {
	q := newFairQueue()
	for i := range 6 {
		q.markLow(req("y", i))
		q.Push(req("y", i))
		q.Push(req("x", i))
	}
	var order []string
	for q.Len() > 0 {
		r := q.Pop()
		order = append(order, r.Namespace+r.Name[1:])
	}
	if want := "[x0 x1 x2 y0 x3 x4 x5 y1 y2 y3 y4 y5]"; fmt.Sprint(order) != want {
		t.Fatalf("order %v, want %s", order, want)
	}
}

// A requeue after the poll interval waits in the initial lane when it is due, so an edit that arrives
// meanwhile goes first; an edit that arrives before the requeue is due stays in the ordinary lane.
func TestFairQueueRequeueAfterTakesTheInitialLane(t *testing.T) {
	q := fairQueueFor(4)("test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]()).(*cappedQueue)
	defer q.ShutDown()
	q.AddWithOpts(priorityqueue.AddOpts{After: 20 * time.Millisecond}, req("a", 0), req("b", 0))
	q.AddWithOpts(priorityqueue.AddOpts{After: time.Hour}, req("d", 0))
	q.Add(req("d", 0)) // an edit of an object whose requeue is pending
	if got := getN(t, q, 1); got[0] != "d/o0" {
		t.Fatalf("got %v", got)
	}
	time.Sleep(100 * time.Millisecond)
	if q.Len() != 2 {
		t.Fatalf("Len %d, want the 2 requeues", q.Len())
	}
	q.Add(req("c", 0))
	if got := fmt.Sprint(getN(t, q, 3)); got != "[c/o0 a/o0 b/o0]" && got != "[c/o0 b/o0 a/o0]" {
		t.Fatalf("order %s", got)
	}
	q.fair.mu.Lock()
	marks := len(q.fair.lowMarks)
	q.fair.mu.Unlock()
	if marks != 1 { // d's requeue, due in an hour
		t.Fatalf("%d marks left, want 1", marks)
	}
}

// While a request is in flight, an edit is noted (dirty) and pushed when it is done: a requeue the
// reconcile asked for meanwhile must not take it to the initial lane.
func TestFairQueueEditDuringReconcileStaysOrdinary(t *testing.T) {
	q := fairQueueFor(4)("test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]()).(*cappedQueue)
	defer q.ShutDown()
	q.Add(req("a", 0))
	r, _ := q.Get()
	q.Add(req("a", 0)) // the edit, while a/o0 is being reconciled
	q.AddWithOpts(priorityqueue.AddOpts{After: time.Minute}, r)
	q.Done(r)
	if q.fair.n != 1 || q.fair.initial.n != 0 {
		t.Fatalf("ordinary %d, initial %d", q.fair.n, q.fair.initial.n)
	}
}
