package controller

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// After a restart, the objects of the initial list that hold a change no reconcile has handled (an
// edit, a deletion, a requested fresh read) are handed out before the others, whichever of the
// watch's two handlers sees them first.
func TestPendingFirstServesUnhandledChangesBeforeTheInitialList(t *testing.T) {
	inSync := func(i int) *simv1alpha1.SimIntegration {
		s := &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: fmt.Sprintf("o%d", i), Generation: 3}}
		s.Status.ObservedGeneration = 3
		return s
	}
	edited := inSync(500)
	edited.Generation = 4
	deleting := inSync(600)
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	refresh := inSync(700)
	refresh.Annotations = map[string]string{simv1alpha1.AnnotationRequestedAt: "2026-12-02T04:00:00Z"}
	handled := inSync(800)
	handled.Annotations = map[string]string{simv1alpha1.AnnotationRequestedAt: "then"}
	handled.Status.LastHandledRequestedAt = "then"
	special := map[int]*simv1alpha1.SimIntegration{500: edited, 600: deleting, 700: refresh, 800: handled}

	for _, pendingSeenFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("pending handler first=%v", pendingSeenFirst), func(t *testing.T) {
			q := fairQueueFor(4)("test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
			defer q.ShutDown()
			own := &handler.EnqueueRequestForObject{}
			for i := range 1000 {
				obj := inSync(i)
				if s, ok := special[i]; ok {
					obj = s
				}
				e := event.TypedCreateEvent[client.Object]{Object: obj, IsInInitialList: true}
				if pendingSeenFirst {
					pendingFirst{}.Create(context.Background(), e, q)
				}
				own.Create(context.Background(), e, q)
				if !pendingSeenFirst {
					pendingFirst{}.Create(context.Background(), e, q)
				}
			}
			if q.Len() != 1000 {
				t.Fatalf("Len = %d, want each object once", q.Len())
			}
			if got, want := fmt.Sprint(getN(t, q, 4)), "[team-b/o500 team-b/o600 team-b/o700 team-b/o0]"; got != want {
				t.Fatalf("hand-out order %s, want %s", got, want)
			}
		})
	}
}

// Outside the initial list the watch's own handler and its predicates decide alone.
func TestPendingFirstIgnoresLaterEvents(t *testing.T) {
	q := fairQueueFor(4)("test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	obj := &simv1alpha1.SimIntegration{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "o0", Generation: 2}}
	pendingFirst{}.Create(context.Background(), event.TypedCreateEvent[client.Object]{Object: obj}, q)
	pendingFirst{}.Update(context.Background(), event.TypedUpdateEvent[client.Object]{ObjectOld: obj, ObjectNew: obj}, q)
	pendingFirst{}.Delete(context.Background(), event.TypedDeleteEvent[client.Object]{Object: obj}, q)
	pendingFirst{}.Generic(context.Background(), event.TypedGenericEvent[client.Object]{Object: obj}, q)
	if q.Len() != 0 {
		t.Fatalf("Len = %d, want 0", q.Len())
	}
}
