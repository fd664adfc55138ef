package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Snapshot is the shared, periodically refreshed view of one tenant's remote objects: one list call per
// poll interval serves every SimIntegration of the tenant, instead of one GET per object. Writes made
// by the operator update it at once. It is safe for concurrent use; concurrent refreshes share one call.
type Snapshot struct {
	clock func() time.Time

	mu sync.Mutex
	// list and interval are the tenant's list call and poll interval; a registry sets them from the
	// snapshot's users (setSource).
	list      ListFunc
	interval  time.Duration
	byID      map[string]remoteEntry
	byName    map[string]string // remote name → id
	startedAt time.Time         // when the list behind byID was sent
	listTook  time.Duration     // how long that list took (Stats)
	maxAge    time.Duration     // jittered poll interval for the current contents
	inflight  *listCall
	onChange  func(ids []string)
	// writes made by the operator while a list may be in flight, replayed over its result (the list
	// may have been answered before they landed)
	writes []write
}

type write struct {
	at      time.Time
	e       remoteEntry
	removed bool
}

// remoteEntry is a remote object as the snapshot keeps it: its fields as compact JSON. Decoded maps cost
// several times more, and a tenant may hold 10,000 objects; a lookup decodes the one it returns.
type remoteEntry struct {
	id, name          string
	created, modified time.Time
	fields            []byte
}

func newRemoteEntry(it identitynow.Integration) remoteEntry {
	var buf bytes.Buffer
	return remoteEntry{id: it.ID, name: it.Name, created: it.Created, modified: it.Modified, fields: bytes.Clone(fieldsJSON(&buf, it.Fields))}
}

// listedEntry is newRemoteEntry for a listed object, sharing the bytes and strings of the entry it
// replaces when they are equal: a refresh that finds nothing changed allocates nothing it keeps.
func listedEntry(it identitynow.Integration, old remoteEntry, buf *bytes.Buffer) remoteEntry {
	e := remoteEntry{id: it.ID, name: it.Name, created: it.Created, modified: it.Modified, fields: old.fields}
	if doc := fieldsJSON(buf, it.Fields); !bytes.Equal(doc, old.fields) {
		e.fields = bytes.Clone(doc)
	}
	// Equal strings, separately allocated: keep the old copies so the new ones can be freed.
	if e.id == old.id {
		e.id = old.id
	}
	if e.name == old.name {
		e.name = old.name
	}
	return e
}

// fieldsJSON encodes fields into buf; the result is valid until buf is used again. Map keys are
// sorted, so equal fields give equal bytes.
func fieldsJSON(buf *bytes.Buffer, fields map[string]any) []byte {
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(fields); err != nil { // decoded JSON always encodes
		return nil
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// integration returns a fresh copy that the caller may modify.
func (e remoteEntry) integration() identitynow.Integration {
	it := identitynow.Integration{ID: e.id, Name: e.name, Created: e.created, Modified: e.modified}
	if json.Unmarshal(e.fields, &it.Fields) != nil || it.Fields == nil {
		it.Fields = map[string]any{}
	}
	return it
}

// ListFunc lists a tenant's remote objects, passing them to each one at a time; after an error, the
// objects already passed are discarded.
type ListFunc func(ctx context.Context, each func(identitynow.Integration)) error

type listCall struct {
	done      chan struct{}
	err       error
	startedAt time.Time
}

// View reads a Snapshot that was listed recently enough; it also sees the operator's own writes made
// after that list. Lookups are O(1).
type View struct {
	s *Snapshot
	// ListedAt is when the list behind this view was sent.
	ListedAt time.Time
}

// ByID returns the remote object with that id.
func (v View) ByID(id string) (identitynow.Integration, bool) {
	v.s.mu.Lock()
	e, ok := v.s.byID[id]
	v.s.mu.Unlock()
	if !ok {
		return identitynow.Integration{}, false
	}
	return e.integration(), true
}

// ByName returns the remote object with that name (names are unique per tenant).
func (v View) ByName(name string) (identitynow.Integration, bool) {
	v.s.mu.Lock()
	e, ok := v.s.byID[v.s.byName[name]]
	v.s.mu.Unlock()
	if !ok {
		return identitynow.Integration{}, false
	}
	return e.integration(), true
}

// Len is the number of remote objects.
func (v View) Len() int {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return len(v.s.byID)
}

// SnapshotOptions configure a Snapshot.
type SnapshotOptions struct {
	// List lists the tenant's remote objects.
	List ListFunc
	// Interval is the poll interval: how long a view is served before the next Get lists again
	// (jittered by up to +10 % per refresh, so tenants and restarts do not list in lockstep).
	Interval time.Duration
	// Clock defaults to time.Now.
	Clock func() time.Time
	// OnChange (optional) is told the ids of objects that changed or disappeared between two lists, so
	// their owners are reconciled without waiting for their own timer.
	OnChange func(ids []string)
}

// NewSnapshot returns an empty snapshot that lists with o.List.
func NewSnapshot(o SnapshotOptions) *Snapshot {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Snapshot{clock: o.Clock, onChange: o.OnChange, list: o.List, interval: o.Interval}
}

// setSource changes the list call and the poll interval, for the next list (a shared snapshot lists
// through one of its users, at the shortest interval any of them asks for).
func (s *Snapshot) setSource(list ListFunc, interval time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list, s.interval = list, interval
}

// MaxListWait is how long a caller waits for a list that another caller sent. A slow tenant API then
// holds one worker (the one listing) rather than every worker with an object of that tenant.
const MaxListWait = 2 * time.Second

// ErrListInFlight says another caller's list of the tenant did not end within MaxListWait; try again
// shortly.
var ErrListInFlight = errors.New("a list of the tenant's remote objects is still in flight")

// Get returns a view listed at or after notBefore and younger than the poll interval (a list that
// starts at notBefore itself counts, so that a clock that does not move between the two cannot make
// a caller list for ever). Otherwise it lists,
// sharing the call with concurrent callers; a caller waits at most MaxListWait for another's list.
func (s *Snapshot) Get(ctx context.Context, notBefore time.Time) (View, error) {
	for {
		s.mu.Lock()
		now := s.clock()
		if s.byID != nil && !s.startedAt.IsZero() && !s.startedAt.Before(notBefore) && now.Sub(s.startedAt) < s.maxAge {
			v := View{s: s, ListedAt: s.startedAt}
			s.mu.Unlock()
			return v, nil
		}
		if c := s.inflight; c != nil && !c.startedAt.Before(notBefore) {
			s.mu.Unlock()
			wait := time.NewTimer(MaxListWait)
			select {
			case <-c.done:
				wait.Stop()
			case <-wait.C:
				return View{}, ErrListInFlight
			case <-ctx.Done():
				wait.Stop()
				return View{}, ctx.Err()
			}
			if c.err != nil {
				return View{}, c.err
			}
			continue
		}
		c := &listCall{done: make(chan struct{}), startedAt: now}
		s.inflight = c
		list, interval := s.list, s.interval
		s.mu.Unlock()
		s.refresh(ctx, c, list, interval)
		if c.err != nil {
			return View{}, c.err
		}
	}
}

func (s *Snapshot) refresh(ctx context.Context, c *listCall, list ListFunc, maxAge time.Duration) {
	defer close(c.done)
	s.mu.Lock()
	size := len(s.byID)
	s.mu.Unlock()
	next := make(map[string]remoteEntry, size)
	names := make(map[string]string, size)
	var buf bytes.Buffer
	err := list(ctx, func(it identitynow.Integration) {
		s.mu.Lock()
		old := s.byID[it.ID]
		s.mu.Unlock()
		e := listedEntry(it, old, &buf)
		next[e.id] = e
		names[e.name] = e.id
	})
	s.mu.Lock()
	if s.inflight == c {
		s.inflight = nil
	}
	if err != nil {
		c.err = err
		s.mu.Unlock()
		return
	}
	kept := s.writes[:0]
	for _, w := range s.writes {
		if w.at.Before(c.startedAt) {
			continue
		}
		kept = append(kept, w)
		if w.removed {
			delete(next, w.e.id)
			delete(names, w.e.name)
		} else {
			next[w.e.id] = w.e
			names[w.e.name] = w.e.id
		}
	}
	s.writes = kept
	changed := changedIDs(s.byID, next)
	s.byID, s.byName = next, names
	s.startedAt = c.startedAt
	s.listTook = s.clock().Sub(c.startedAt)
	s.maxAge = maxAge + time.Duration(rand.Int64N(int64(maxAge)/10+1))
	notify := s.onChange
	s.mu.Unlock()
	if notify != nil && len(changed) > 0 {
		notify(changed)
	}
}

// Put records the object returned by a create or update.
func (s *Snapshot) Put(it identitynow.Integration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		return
	}
	if old, ok := s.byID[it.ID]; ok && s.byName[old.name] == it.ID {
		delete(s.byName, old.name)
	}
	e := newRemoteEntry(it)
	s.byID[it.ID] = e
	s.byName[it.Name] = it.ID
	s.recordWrite(write{at: s.clock(), e: e})
}

// Remove records a deletion.
func (s *Snapshot) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[id]
	if !ok {
		return
	}
	delete(s.byID, id)
	if s.byName[old.name] == id {
		delete(s.byName, old.name)
	}
	s.recordWrite(write{at: s.clock(), e: old, removed: true})
}

// recordWrite keeps a write for replay only while a list is in flight.
func (s *Snapshot) recordWrite(w write) {
	if s.inflight != nil {
		s.writes = append(s.writes, w)
	}
}

// Expire forces the next Get to list again.
func (s *Snapshot) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startedAt = time.Time{}
}

// changedIDs lists ids present before whose object changed or vanished.
// Fields encode with sorted keys, so equal bytes mean equal fields.
func changedIDs(before, after map[string]remoteEntry) []string {
	var ids []string
	for id, old := range before {
		cur, ok := after[id]
		if !ok || !cur.modified.Equal(old.modified) || !bytes.Equal(cur.fields, old.fields) {
			ids = append(ids, id)
		}
	}
	return ids
}
