package controller

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func req(ns string, i int) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("o%d", i)}}
}

// TestFairQueueServesNamespacesInTurn: namespace B queues 5,000 objects, then A queues one edit; A's
// edit is handed out second, not 5,001st, and B's objects keep their order.
func TestFairQueueServesNamespacesInTurn(t *testing.T) {
	q := fairQueueFor(100)("test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	for i := range 5000 {
		q.Add(req("team-b", i))
	}
	q.Add(req("team-a", 0))
	var got []reconcile.Request
	for range 4 {
		r, _ := q.Get()
		got = append(got, r)
		q.Done(r)
	}
	want := []reconcile.Request{req("team-b", 0), req("team-a", 0), req("team-b", 1), req("team-b", 2)}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("hand-out order %v, want %v", got, want)
		}
	}
	if q.Len() != 4997 {
		t.Fatalf("Len = %d", q.Len())
	}
}

// TestFairQueueRoundRobin: three busy namespaces are served in turn, FIFO within each, and a
// namespace that empties leaves the ring.
func TestFairQueueRoundRobin(t *testing.T) {
	q := newFairQueue()
	for i := range 3 {
		q.Push(req("a", i))
		q.Push(req("b", i))
	}
	q.Push(req("c", 0))
	var order []string
	for q.Len() > 0 {
		r := q.Pop()
		order = append(order, r.Namespace+"/"+r.Name)
	}
	want := "[a/o0 b/o0 c/o0 a/o1 b/o1 a/o2 b/o2]"
	if got := fmt.Sprint(order); got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
	if len(q.ring) != 0 || len(q.byNamespace) != 0 {
		t.Fatalf("empty queue keeps %v / %v", q.ring, q.byNamespace)
	}
}

// TestCappedQueueLeavesAWorkerForOthers: with 4 workers, namespace B's requests hold at most 3; the
// 4th worker gets A's request at once although B has more queued, B's parked requests come back as
// B's workers finish, and nothing is lost or handed out twice.
func TestCappedQueueLeavesAWorkerForOthers(t *testing.T) {
	q := fairQueueFor(4)("test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	for i := range 10 {
		q.Add(req("team-b", i))
	}
	var held []reconcile.Request
	for range 3 {
		r, _ := q.Get()
		held = append(held, r)
	}
	q.Add(req("team-a", 0))
	if r, _ := q.Get(); r != req("team-a", 0) {
		t.Fatalf("the last free worker got %v, want team-a's request", r)
	}
	seen := map[reconcile.Request]bool{req("team-a", 0): true}
	for _, r := range held {
		seen[r] = true
	}
	// B's workers finish one at a time; each time one parked B request comes back.
	for len(held) > 0 {
		q.Done(held[0])
		held = held[1:]
		if len(seen) == 11 {
			continue
		}
		r, _ := q.Get()
		if r.Namespace != "team-b" || seen[r] {
			t.Fatalf("got %v (seen before: %t)", r, seen[r])
		}
		seen[r] = true
		held = append(held, r)
	}
	if len(seen) != 11 {
		t.Fatalf("%d distinct requests handed out, want 11", len(seen))
	}
}
