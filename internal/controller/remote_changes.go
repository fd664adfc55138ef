package controller

import (
	"context"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// remoteChanges is the SimIntegration controller's source for work found outside the object's own
// events: remote objects that a snapshot refresh saw change or vanish (so drift is corrected within
// one poll interval), and objects the namespace relay hands over. It adds requests to the controller's
// queue directly, never blocking the caller, and only while the controller runs: it starts with the
// controller (on the leader) and stops with it.
type remoteChanges struct {
	reader client.Reader
	log    logr.Logger

	mu    sync.Mutex
	ctx   context.Context
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]
}

// Start implements source.Source: it keeps the queue until ctx ends.
func (c *remoteChanges) Start(ctx context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	c.mu.Lock()
	c.ctx, c.queue = ctx, queue
	c.mu.Unlock()
	go func() {
		<-ctx.Done()
		c.mu.Lock()
		c.ctx, c.queue = nil, nil
		c.mu.Unlock()
	}()
	return nil
}

func (c *remoteChanges) running() (context.Context, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx, c.queue
}

// Enqueue asks for a reconcile of one SimIntegration.
func (c *remoteChanges) Enqueue(key types.NamespacedName) {
	if _, q := c.running(); q != nil {
		q.Add(reconcile.Request{NamespacedName: key})
	}
}

// RemoteChanged is the snapshots' change hook: it enqueues the SimIntegrations that record one of the
// ids (through the cache's remote-id index). A failed lookup is logged; the objects are then corrected
// at their own next poll.
func (c *remoteChanges) RemoteChanged(endpoint string, ids []string) {
	ctx, q := c.running()
	if q == nil {
		return
	}
	for _, id := range ids {
		list := &simv1alpha1.SimIntegrationList{}
		if err := c.reader.List(ctx, list, client.MatchingFields{indexRemoteID: id}); err != nil {
			c.log.Error(err, "Cannot look up the SimIntegrations of a changed remote object", "endpoint", endpoint, "id", id)
			continue
		}
		for i := range list.Items {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
}
