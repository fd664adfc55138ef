package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// TestRemoteChangesEnqueueOnlyWhileRunning: the hook maps changed remote ids to their objects and adds
// them to the controller's queue without blocking; before the controller starts and after it stops
// it adds nothing; a failed lookup is logged, not dropped silently.
func TestRemoteChangesEnqueueOnlyWhileRunning(t *testing.T) {
	withID := func(name, id string) client.Object {
		return syncSim(func(s *simv1alpha1.SimIntegration) { s.Name, s.UID, s.Status.ID = name, types.UID(name), id })
	}
	g := newSyncRig(t, "", withID("a", "id-a"), withID("b", "id-b"))
	var logged []string
	c := &remoteChanges{reader: g.k8s, log: funcr.New(func(_, args string) { logged = append(logged, args) }, funcr.Options{})}
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer queue.ShutDown()

	c.RemoteChanged("acme", []string{"id-a"})
	if queue.Len() != 0 {
		t.Fatal("a hook called before the controller started enqueued work")
	}
	ctx, stop := context.WithCancel(t.Context())
	if err := c.Start(ctx, queue); err != nil {
		t.Fatal(err)
	}
	c.RemoteChanged("acme", []string{"id-a", "id-unknown", "id-b"})
	var got []string
	for queue.Len() > 0 {
		req, _ := queue.Get()
		got = append(got, req.Name)
		queue.Done(req)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("enqueued %v, want [a b]", got)
	}

	broken := &remoteChanges{reader: interceptor.NewClient(g.k8s.(client.WithWatch), interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return errors.New("cache not synced")
		},
	}), log: c.log}
	if err := broken.Start(ctx, queue); err != nil {
		t.Fatal(err)
	}
	broken.RemoteChanged("acme", []string{"id-a"})
	if len(logged) != 1 || !strings.Contains(logged[0], "cache not synced") || !strings.Contains(logged[0], `"id"="id-a"`) {
		t.Errorf("a failed lookup must be logged with its id: %q", logged)
	}

	stop()
	deadline := time.Now().Add(5 * time.Second)
	for _, q := c.running(); q != nil; _, q = c.running() { // Start lets go of the queue once ctx ends
		if time.Now().After(deadline) {
			t.Fatal("the hook kept the queue after the controller stopped")
		}
		time.Sleep(time.Millisecond)
	}
	c.RemoteChanged("acme", []string{"id-a"})
	c.Enqueue(types.NamespacedName{Namespace: syncNS, Name: "a"})
	if queue.Len() != 0 {
		t.Error("a stopped controller's hook enqueued work")
	}
}
