package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// recentCreates remembers what this process learned from its remote creates (and claims) that the
// object's status may not hold yet: the id of an object it created or claimed, until the cached
// status carries it (the status write may have lost a race), and when a create with an unknown
// outcome (a timeout, a 5xx) ended, since only a list sent after that may decide whether it landed.
// Entries belong to one incarnation (UID) of an object; it is safe for concurrent use.
type recentCreates struct {
	mu      sync.Mutex
	records map[types.NamespacedName]createRecord
}

type createRecord struct {
	uid types.UID
	// id is the remote id this process created or claimed.
	id string
	// ambiguousEnd is when a create with an unknown outcome ended.
	ambiguousEnd time.Time
}

// Created records the id of a remote object this process created or claimed for obj; any earlier
// unknown create outcome is resolved by it.
func (c *recentCreates) Created(obj *simv1alpha1.SimIntegration, id string) {
	c.update(obj, func(r *createRecord) { r.id, r.ambiguousEnd = id, time.Time{} })
}

// EndedAmbiguously records that a create for obj ended at `at` without saying whether it landed.
func (c *recentCreates) EndedAmbiguously(obj *simv1alpha1.SimIntegration, at time.Time) {
	c.update(obj, func(r *createRecord) { r.ambiguousEnd = at })
}

// KnownID is obj's remote id: the one this process created or claimed last, which is newer than the
// cached status whenever it is remembered, else status.id.
func (c *recentCreates) KnownID(obj *simv1alpha1.SimIntegration) string {
	if id := c.get(obj).id; id != "" {
		return id
	}
	return obj.Status.ID
}

// AmbiguousEnd is when obj's last create with an unknown outcome ended (zero if none is pending).
func (c *recentCreates) AmbiguousEnd(obj *simv1alpha1.SimIntegration) time.Time {
	return c.get(obj).ambiguousEnd
}

// Settle drops the record of an object whose cached copy holds everything in it: the id it names is
// in status.id and no create outcome is pending. Objects at rest keep no record.
func (c *recentCreates) Settle(obj *simv1alpha1.SimIntegration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := client.ObjectKeyFromObject(obj)
	if r, ok := c.records[key]; ok && (r.uid != obj.UID || r.id == obj.Status.ID && r.ambiguousEnd.IsZero()) {
		delete(c.records, key)
	}
}

// Clear drops the record of an object that is gone.
func (c *recentCreates) Clear(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.records, key)
}

// Len is the number of records held.
func (c *recentCreates) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.records)
}

func (c *recentCreates) get(obj *simv1alpha1.SimIntegration) createRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.records[client.ObjectKeyFromObject(obj)]; ok && r.uid == obj.UID {
		return r
	}
	return createRecord{}
}

func (c *recentCreates) update(obj *simv1alpha1.SimIntegration, change func(*createRecord)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.records == nil {
		c.records = map[types.NamespacedName]createRecord{}
	}
	key := client.ObjectKeyFromObject(obj)
	r := c.records[key]
	if r.uid != obj.UID {
		r = createRecord{uid: obj.UID}
	}
	change(&r)
	c.records[key] = r
}

// nameTakenMeanwhile explains a create the remote rejected because the name was taken after the
// tenant's last list (someone created it in the UI meanwhile): a fresh list is read and the object is
// located again, so the user sees NameConflict (or the object is adopted at once) rather than the
// remote's 400. It returns nil when the name is still free or the list fails: the rejection stands.
func (r *SimIntegrationReconciler) nameTakenMeanwhile(ctx context.Context, s *scope) error {
	view, err := s.conn.Snapshot.Get(ctx, r.now())
	if err != nil {
		return nil
	}
	if _, ok := view.ByName(s.obj.RemoteName()); !ok {
		return nil
	}
	if _, err := locate(s.obj, s.policy, "", view); err != nil {
		return err
	}
	return waitFor(simv1alpha1.ReasonProgressing, time.Second,
		"A remote integration named %q appeared since the last list; taking it over", s.obj.RemoteName())
}
