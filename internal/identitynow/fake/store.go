package fake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Object is a stored integration: its request-shape (SimIntegrationDetails)
// document and server-managed fields.
type Object struct {
	ID       string         `json:"id"`
	Doc      map[string]any `json:"doc"`
	Created  time.Time      `json:"created"`
	Modified time.Time      `json:"modified"`
}

type object struct {
	id                string
	doc               map[string]any
	created, modified time.Time
}

func (o *object) export() Object {
	return Object{ID: o.id, Doc: cloneDoc(o.doc), Created: o.created, Modified: o.modified}
}

// Objects returns copies of all stored objects in creation order.
func (s *Server) Objects() []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Object, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.store[id].export())
	}
	return out
}

// Get returns a copy of the object with id.
func (s *Server) Get(id string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.store[id]
	if !ok {
		return Object{}, false
	}
	return o.export(), true
}

// Insert stores doc directly (no validation, no name check, no request
// logged) and returns its id. A string "id" key in doc is used as the id and
// removed from the document; "created" and "modified" keys are dropped.
func (s *Server) Insert(doc map[string]any) string {
	doc = cloneDoc(doc)
	id, _ := doc["id"].(string)
	delete(doc, "id")
	delete(doc, "created")
	delete(doc, "modified")
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = newID()
	}
	s.commitNew(id, doc)
	return id
}

// Edit changes an object out of band (as a person in the ISC UI would) and
// bumps its modified time. It reports whether the object exists.
func (s *Server) Edit(id string, edit func(doc map[string]any)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.store[id]
	if !ok {
		return false
	}
	doc := cloneDoc(o.doc)
	edit(doc)
	s.setDoc(o, cloneDoc(doc))
	return true
}

// Remove deletes an object out of band. It reports whether it existed.
func (s *Server) Remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(id)
}

func (s *Server) removeLocked(id string) bool {
	o, ok := s.store[id]
	if !ok {
		return false
	}
	s.unindexName(o)
	delete(s.store, id)
	for i, x := range s.order {
		if x == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	return true
}

// commitNew stores a new object. Caller holds mu.
func (s *Server) commitNew(id string, doc map[string]any) *object {
	if _, exists := s.store[id]; exists {
		s.removeLocked(id)
	}
	now := s.clock()
	o := &object{id: id, doc: doc, created: now, modified: now}
	s.store[id] = o
	s.indexName(o)
	s.order = append(s.order, id)
	return o
}

// nameTaken reports whether another object than except has name. Caller holds mu.
func (s *Server) nameTaken(name, except string) bool {
	for id := range s.names[name] {
		if id != except {
			return true
		}
	}
	return false
}

// setDoc replaces an object's document and bumps its modified time. Caller holds mu.
func (s *Server) setDoc(o *object, doc map[string]any) {
	s.unindexName(o)
	o.doc, o.modified = doc, s.clock()
	s.indexName(o)
}

func (s *Server) indexName(o *object) {
	name, _ := o.doc["name"].(string)
	if s.names[name] == nil {
		s.names[name] = map[string]struct{}{}
	}
	s.names[name][o.id] = struct{}{}
}

func (s *Server) unindexName(o *object) {
	name, _ := o.doc["name"].(string)
	delete(s.names[name], o.id)
	if len(s.names[name]) == 0 {
		delete(s.names, name)
	}
}

// newID returns 32 lowercase hex characters.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cloneDoc deep-copies a JSON document (values as decoded by encoding/json).
func cloneDoc(doc map[string]any) map[string]any {
	if doc == nil {
		return map[string]any{}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("fake: document is not JSON: " + err.Error())
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// timestamp formats t as ISC does: RFC 3339, milliseconds, UTC.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
