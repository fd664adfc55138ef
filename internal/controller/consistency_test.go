package controller

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

func TestConsistencyStore(t *testing.T) {
	at := time.Unix(1000, 0)
	object := func(uid types.UID, rv string) *simv1alpha1.SimIntegration {
		o := pureSim(nil)
		o.UID, o.ResourceVersion = uid, rv
		return o
	}
	for _, tc := range []struct {
		name string
		// writes are the resourceVersions this process wrote, in order, for UID u1
		writes []string
		// cached is the copy the next reconcile reads
		cached *simv1alpha1.SimIntegration
		// after is how long after the last write it reads it
		after     time.Duration
		wantReady bool
		// wantKept: the record survives the check
		wantKept bool
	}{
		{name: "never written", cached: object("u1", "5"), wantReady: true},
		{name: "cache holds the write", writes: []string{"11"}, cached: object("u1", "11"), wantReady: true},
		{name: "cache is newer (someone else wrote since)", writes: []string{"11"}, cached: object("u1", "12"), wantReady: true},
		{name: "cache is behind", writes: []string{"11"}, cached: object("u1", "10"), wantReady: false, wantKept: true},
		{name: "of two writes the newer counts", writes: []string{"12", "11"}, cached: object("u1", "11"), wantReady: false, wantKept: true},
		{name: "behind for longer than maxCacheLag: taken as seen", writes: []string{"11"}, cached: object("u1", "10"), after: maxCacheLag, wantReady: true},
		{name: "another incarnation under the same name", writes: []string{"11"}, cached: object("u2", "3"), wantReady: true},
		{name: "versions that do not compare wait briefly", writes: []string{"x"}, cached: object("u1", "y"), wantReady: false, wantKept: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := at
			s := &consistencyStore{clock: func() time.Time { return now }}
			for _, rv := range tc.writes {
				s.WroteAt(object("u1", rv))
			}
			now = now.Add(tc.after)
			if got := s.EnsureReady(tc.cached); got != tc.wantReady {
				t.Errorf("EnsureReady = %t, want %t", got, tc.wantReady)
			}
			if kept := s.Len() == 1; kept != tc.wantKept {
				t.Errorf("record kept = %t, want %t", kept, tc.wantKept)
			}
		})
	}
}

func TestConsistencyStoreForgetsOldWrites(t *testing.T) {
	now := time.Unix(1000, 0)
	s := &consistencyStore{clock: func() time.Time { return now }}
	for i, name := range []string{"a", "b", "c"} {
		o := pureSim(nil)
		o.Name, o.UID, o.ResourceVersion = name, types.UID(name), "1"
		s.WroteAt(o)
		if i == 0 {
			now = now.Add(maxCacheLag) // a's write is old by the next one
		}
	}
	if s.Len() != 2 {
		t.Fatalf("%d records, want 2: a write older than maxCacheLag is dropped by the next sweep", s.Len())
	}
	s.Clear(types.NamespacedName{Name: "b"})
	if s.Len() != 1 {
		t.Fatalf("%d records after Clear, want 1", s.Len())
	}
}

func TestRecentCreates(t *testing.T) {
	end := time.Unix(2000, 0)
	for _, tc := range []struct {
		name string
		// record changes the record for the object (UID u1) before the check
		record func(c *recentCreates, o *simv1alpha1.SimIntegration)
		// status is the cached status.id when Settle runs
		status   string
		uid      types.UID
		wantID   string
		wantEnd  time.Time
		wantKept bool
	}{
		{name: "nothing recorded: status.id", status: "cached", uid: "u1", wantID: "cached"},
		{name: "created, not yet cached", record: func(c *recentCreates, o *simv1alpha1.SimIntegration) { c.Created(o, "new") },
			uid: "u1", wantID: "new", wantKept: true},
		{name: "created and cached", record: func(c *recentCreates, o *simv1alpha1.SimIntegration) { c.Created(o, "new") },
			status: "new", uid: "u1", wantID: "new"},
		{name: "a recreate is newer than the cached vanished id", record: func(c *recentCreates, o *simv1alpha1.SimIntegration) { c.Created(o, "new") },
			status: "vanished", uid: "u1", wantID: "new", wantKept: true},
		{name: "unknown create outcome is kept until resolved", record: func(c *recentCreates, o *simv1alpha1.SimIntegration) { c.EndedAmbiguously(o, end) },
			uid: "u1", wantEnd: end, wantKept: true},
		{name: "a claim resolves an unknown outcome", record: func(c *recentCreates, o *simv1alpha1.SimIntegration) {
			c.EndedAmbiguously(o, end)
			c.Created(o, "found")
		}, status: "found", uid: "u1", wantID: "found"},
		{name: "a new incarnation inherits nothing", record: func(c *recentCreates, o *simv1alpha1.SimIntegration) {
			c.EndedAmbiguously(o, end)
			c.Created(o, "old")
		}, uid: "u2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &recentCreates{}
			o := pureSim(nil)
			o.UID = "u1"
			if tc.record != nil {
				tc.record(c, o)
			}
			cached := o.DeepCopy()
			cached.UID, cached.Status.ID = tc.uid, tc.status
			if got := c.KnownID(cached); got != tc.wantID {
				t.Errorf("KnownID = %q, want %q", got, tc.wantID)
			}
			if got := c.AmbiguousEnd(cached); !got.Equal(tc.wantEnd) {
				t.Errorf("AmbiguousEnd = %v, want %v", got, tc.wantEnd)
			}
			c.Settle(cached)
			if kept := c.Len() == 1; kept != tc.wantKept {
				t.Errorf("record kept after Settle = %t, want %t", kept, tc.wantKept)
			}
		})
	}
}
