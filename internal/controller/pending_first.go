package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// pendingFirst is a second handler of the SimIntegration watch. The watch's own handler puts every
// object of the initial list in the work queue's second lane; this one adds, as an ordinary add, those
// of them that wait for work the user asked for: a spec edited since the last reconcile, a deletion, a
// requested fresh read. An edit made while no manager ran, or before the new one had listed its cache,
// is then served before the rest of the first pass (the queue moves a request out of the second lane
// when it is added again the ordinary way).
type pendingFirst struct{}

var _ handler.TypedEventHandler[client.Object, reconcile.Request] = pendingFirst{}

// Create adds an object of the initial list that waits for the user's work.
func (pendingFirst) Create(_ context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if sim, ok := e.Object.(*simv1alpha1.SimIntegration); ok && e.IsInInitialList && awaitsUser(sim) {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: sim.Namespace, Name: sim.Name}})
	}
}

// Update is the watch's own handler's.
func (pendingFirst) Update(context.Context, event.TypedUpdateEvent[client.Object], workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// Delete is the watch's own handler's.
func (pendingFirst) Delete(context.Context, event.TypedDeleteEvent[client.Object], workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// Generic is the watch's own handler's.
func (pendingFirst) Generic(context.Context, event.TypedGenericEvent[client.Object], workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// awaitsUser tells whether a SimIntegration holds a change no reconcile has handled yet.
func awaitsUser(sim *simv1alpha1.SimIntegration) bool {
	_, fresh := newRequestedAt(sim)
	return sim.Generation != sim.Status.ObservedGeneration || !sim.DeletionTimestamp.IsZero() || fresh
}
