package tenant

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sim-operator/sim-operator/internal/identitynow"
)

func lister(calls *atomic.Int64, items func() []identitynow.Integration) ListFunc {
	return listOf(func() ([]identitynow.Integration, error) {
		calls.Add(1)
		time.Sleep(10 * time.Millisecond) // long enough for concurrent callers to pile up
		return items(), nil
	})
}

// listOf adapts a function returning the whole list.
func listOf(f func() ([]identitynow.Integration, error)) ListFunc {
	return func(_ context.Context, each func(identitynow.Integration)) error {
		items, err := f()
		for _, it := range items {
			each(it)
		}
		return err
	}
}

func TestSnapshotSharesOneListPerInterval(t *testing.T) {
	c := clocktesting.NewFakeClock(time.Unix(1000, 0))
	s := NewSnapshot(SnapshotOptions{Clock: c.Now})
	var calls atomic.Int64
	list := lister(&calls, func() []identitynow.Integration {
		return []identitynow.Integration{{ID: "a", Name: "A"}, {ID: "b", Name: "B"}}
	})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			v, err := getWith(s, context.Background(), list, time.Minute, time.Time{})
			if err != nil || v.Len() != 2 {
				t.Errorf("Get = %d items, %v", v.Len(), err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("50 concurrent callers made %d list calls, want 1", n)
	}
	c.Step(59 * time.Second)
	if _, err := getWith(s, context.Background(), list, time.Minute, time.Time{}); err != nil || calls.Load() != 1 {
		t.Fatalf("within the interval: calls = %d, err %v", calls.Load(), err)
	}
	c.Step(7 * time.Second) // past the interval plus the largest jitter (10%)
	if _, err := getWith(s, context.Background(), list, time.Minute, time.Time{}); err != nil || calls.Load() != 2 {
		t.Fatalf("after the interval: calls = %d, want 2", calls.Load())
	}
}

func TestSnapshotNotBeforeForcesAFreshList(t *testing.T) {
	c := clocktesting.NewFakeClock(time.Unix(1000, 0))
	s := NewSnapshot(SnapshotOptions{Clock: c.Now})
	var calls atomic.Int64
	list := lister(&calls, func() []identitynow.Integration { return nil })
	_, _ = getWith(s, context.Background(), list, time.Hour, time.Time{})
	c.Step(time.Second)
	_, _ = getWith(s, context.Background(), list, time.Hour, c.Now().Add(-time.Millisecond))
	if calls.Load() != 2 {
		t.Fatalf("a list older than notBefore must not be used: calls = %d", calls.Load())
	}
}

func TestSnapshotWritesAndChanges(t *testing.T) {
	c := clocktesting.NewFakeClock(time.Unix(1000, 0))
	var changed []string
	s := NewSnapshot(SnapshotOptions{Clock: c.Now, OnChange: func(ids []string) { changed = append(changed, ids...) }})
	modified := time.Unix(1, 0)
	items := func() []identitynow.Integration {
		return []identitynow.Integration{{ID: "a", Name: "A", Modified: modified}, {ID: "b", Name: "B"}}
	}
	var calls atomic.Int64
	v, _ := getWith(s, context.Background(), lister(&calls, items), time.Minute, time.Time{})
	if it, ok := v.ByName("B"); !ok || it.ID != "b" {
		t.Fatalf("ByName(B) = %v, %v", it, ok)
	}
	s.Put(identitynow.Integration{ID: "c", Name: "C"})
	s.Remove("b")
	v, _ = getWith(s, context.Background(), lister(&calls, items), time.Minute, time.Time{})
	if _, ok := v.ByID("c"); !ok {
		t.Fatal("Put not visible")
	}
	if _, ok := v.ByID("b"); ok {
		t.Fatal("Remove not visible")
	}
	if calls.Load() != 1 {
		t.Fatalf("writes must not cause lists: %d", calls.Load())
	}
	modified = time.Unix(2, 0) // "a" edited out of band; "c" was deleted out of band
	s.Expire()
	if _, err := getWith(s, context.Background(), lister(&calls, items), time.Minute, time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"a": true, "c": true}
	if len(changed) != 2 || !want[changed[0]] || !want[changed[1]] {
		t.Fatalf("changed = %v, want a and c", changed)
	}
}

func TestSnapshotListErrorIsShared(t *testing.T) {
	s := NewSnapshot(SnapshotOptions{})
	boom := errors.New("boom")
	_, err := getWith(s, context.Background(), listOf(func() ([]identitynow.Integration, error) { return nil, boom }), time.Minute, time.Time{})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var calls atomic.Int64
	if _, err := getWith(s, context.Background(), lister(&calls, func() []identitynow.Integration { return nil }), time.Minute, time.Time{}); err != nil || calls.Load() != 1 {
		t.Fatalf("a failed list must not be cached: calls %d err %v", calls.Load(), err)
	}
}

func TestSnapshotKeepsWritesMadeDuringAList(t *testing.T) {
	s := NewSnapshot(SnapshotOptions{})
	ctx := context.Background()
	_, _ = getWith(s, ctx, listOf(func() ([]identitynow.Integration, error) {
		return []identitynow.Integration{{ID: "old", Name: "Old"}}, nil
	}), time.Minute, time.Time{})
	listing := make(chan struct{})
	release := make(chan struct{})
	done := make(chan View)
	go func() {
		v, _ := getWith(s, ctx, listOf(func() ([]identitynow.Integration, error) {
			close(listing)
			<-release // the remote answered before the create below landed
			return []identitynow.Integration{{ID: "old", Name: "Old"}}, nil
		}), time.Minute, time.Now())
		done <- v
	}()
	<-listing
	s.Put(identitynow.Integration{ID: "new", Name: "New"})
	s.Remove("old")
	close(release)
	v := <-done
	if _, ok := v.ByName("New"); !ok {
		t.Error("a create made during the list was lost")
	}
	if _, ok := v.ByID("old"); ok {
		t.Error("a delete made during the list was undone")
	}
}

func TestSnapshotKeepsFieldsAndHandsOutCopies(t *testing.T) {
	var changed []string
	s := NewSnapshot(SnapshotOptions{OnChange: func(ids []string) { changed = append(changed, ids...) }})
	fields := func(desc string) map[string]any {
		return map[string]any{"name": "A", "description": desc, "attributes": map[string]any{"port": 443.0, "tls": true}}
	}
	desc := "one"
	list := listOf(func() ([]identitynow.Integration, error) {
		return []identitynow.Integration{{ID: "a", Name: "A", Fields: fields(desc)}}, nil
	})
	v, err := getWith(s, context.Background(), list, time.Minute, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := v.ByID("a")
	if !reflect.DeepEqual(it.Fields, fields("one")) {
		t.Fatalf("fields = %v", it.Fields)
	}
	it.Fields["description"] = "changed by a caller"
	it.Fields["attributes"].(map[string]any)["port"] = 1.0
	if again, _ := v.ByName("A"); !reflect.DeepEqual(again.Fields, fields("one")) {
		t.Fatalf("a caller's change leaked into the snapshot: %v", again.Fields)
	}

	s.Expire()
	_, _ = getWith(s, context.Background(), list, time.Minute, time.Time{})
	if len(changed) != 0 {
		t.Fatalf("an unchanged list reported changes: %v", changed)
	}
	desc = "two" // same modified time, different fields
	s.Expire()
	_, _ = getWith(s, context.Background(), list, time.Minute, time.Time{})
	if !reflect.DeepEqual(changed, []string{"a"}) {
		t.Fatalf("changed = %v, want [a]", changed)
	}
}

func TestSnapshotDiscardsAFailedPartialList(t *testing.T) {
	s := NewSnapshot(SnapshotOptions{})
	_, _ = getWith(s, context.Background(), listOf(func() ([]identitynow.Integration, error) {
		return []identitynow.Integration{{ID: "a", Name: "A"}}, nil
	}), time.Minute, time.Time{})
	s.Expire()
	_, err := getWith(s, context.Background(), listOf(func() ([]identitynow.Integration, error) {
		return []identitynow.Integration{{ID: "b", Name: "B"}}, errors.New("connection reset mid-list")
	}), time.Minute, time.Time{})
	if err == nil {
		t.Fatal("want the list error")
	}
	v := View{s: s}
	if _, ok := v.ByID("b"); ok {
		t.Error("an object from a failed list was kept")
	}
	if _, ok := v.ByID("a"); !ok {
		t.Error("a failed list dropped the previous contents")
	}
}

func TestSnapshotRefreshKeepsUnchangedEntries(t *testing.T) {
	s := NewSnapshot(SnapshotOptions{})
	desc := "one"
	list := listOf(func() ([]identitynow.Integration, error) {
		return []identitynow.Integration{
			{ID: "a", Name: "A", Fields: map[string]any{"name": "A"}},
			{ID: "b", Name: "B", Fields: map[string]any{"name": "B", "description": desc}},
		}, nil
	})
	_, _ = getWith(s, context.Background(), list, time.Minute, time.Time{})
	before := map[string]remoteEntry{"a": s.byID["a"], "b": s.byID["b"]}
	desc = "two"
	s.Expire()
	_, _ = getWith(s, context.Background(), list, time.Minute, time.Time{})
	if &s.byID["a"].fields[0] != &before["a"].fields[0] {
		t.Error("an unchanged object's fields were copied again")
	}
	if &s.byID["b"].fields[0] == &before["b"].fields[0] || string(s.byID["b"].fields) == string(before["b"].fields) {
		t.Error("a changed object kept its old fields")
	}
	if it, _ := (View{s: s}).ByID("b"); it.Fields["description"] != "two" {
		t.Errorf("fields = %v", it.Fields)
	}
}

// TestSnapshotBoundsTheWaitForAnotherCallersList: while one caller's list hangs (a slow tenant API),
// another caller waits MaxListWait at most, then is told to come back instead of holding its worker.
func TestSnapshotBoundsTheWaitForAnotherCallersList(t *testing.T) {
	s := NewSnapshot(SnapshotOptions{})
	release := make(chan struct{})
	hanging := func(ctx context.Context, _ func(identitynow.Integration)) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	go func() { _, _ = getWith(s, context.Background(), hanging, time.Minute, time.Time{}) }()
	defer close(release)
	time.Sleep(50 * time.Millisecond) // the first caller's list is in flight
	start := time.Now()
	_, err := getWith(s, context.Background(), hanging, time.Minute, time.Time{})
	if took := time.Since(start); !errors.Is(err, ErrListInFlight) || took > MaxListWait+time.Second {
		t.Fatalf("second caller: %v after %s; want ErrListInFlight after about %s", err, took, MaxListWait)
	}
}

// getWith is Get after pointing the snapshot at list and interval, as a registry does for its users.
func getWith(s *Snapshot, ctx context.Context, list ListFunc, interval time.Duration, notBefore time.Time) (View, error) {
	s.setSource(list, interval)
	return s.Get(ctx, notBefore)
}

// TestSnapshotGetWithAFrozenClock: a view listed at notBefore itself serves the caller, so a clock
// that does not move between the caller's reading and the list (coarse clocks, fake clocks) cannot
// make Get list for ever; an expired snapshot still lists again.
func TestSnapshotGetWithAFrozenClock(t *testing.T) {
	at := time.Unix(1000, 0)
	var calls atomic.Int64
	s := NewSnapshot(SnapshotOptions{Clock: func() time.Time { return at },
		List: lister(&calls, func() []identitynow.Integration { return nil }), Interval: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.Get(ctx, at); err != nil || calls.Load() != 1 {
		t.Fatalf("Get(notBefore = now) with a frozen clock: err %v after %d lists, want one list", err, calls.Load())
	}
	s.Expire()
	if _, err := s.Get(ctx, time.Time{}); err != nil || calls.Load() != 2 {
		t.Fatalf("an expired snapshot must list again: %d lists, err %v", calls.Load(), err)
	}
}
