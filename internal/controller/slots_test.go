package controller

import "testing"

// TestNamespaceSlots: with 4 workers one namespace holds at most 3, another namespace still gets the
// last one, and released slots leave nothing behind.
func TestNamespaceSlots(t *testing.T) {
	s := newNamespaceSlots(4)
	var releases []func()
	for range 3 {
		rel, ok := s.acquire("team-b")
		if !ok {
			t.Fatal("team-b could not take its first three slots")
		}
		releases = append(releases, rel)
	}
	if _, ok := s.acquire("team-b"); ok {
		t.Fatal("team-b took all four workers")
	}
	relA, ok := s.acquire("team-a")
	if !ok {
		t.Fatal("team-a got no worker while team-b held its share")
	}
	relA()
	for _, rel := range releases {
		rel()
	}
	if len(s.busy) != 0 {
		t.Fatalf("released slots left %v", s.busy)
	}
	if _, ok := newNamespaceSlots(1).acquire("x"); !ok {
		t.Fatal("a single worker must still serve a namespace")
	}
}
