package tenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// refsRemote serves a tenant's sources and clusters as the remote does: names compared without
// case, near matches included when the server is loose. It records the names of each call.
type refsRemote struct {
	mu       sync.Mutex
	sources  []identitynow.Named
	clusters []identitynow.Named
	calls    map[string][][]string // "sources" / "clusters" → the names asked, per call
	err      error
	delay    time.Duration
}

func (f *refsRemote) lister(kind string, items func() []identitynow.Named) ReferenceLister {
	return func(_ context.Context, names []string, each func(identitynow.Named)) error {
		f.mu.Lock()
		if f.calls == nil {
			f.calls = map[string][][]string{}
		}
		f.calls[kind] = append(f.calls[kind], slices.Clone(names))
		err, delay := f.err, f.delay
		all := slices.Clone(items())
		f.mu.Unlock()
		time.Sleep(delay)
		if err != nil {
			return err
		}
		for _, it := range all {
			for _, n := range names {
				if strings.EqualFold(it.Name, n) || strings.HasPrefix(strings.ToLower(it.Name), strings.ToLower(n)+" ") {
					each(it)
					break
				}
			}
		}
		return nil
	}
}

func (f *refsRemote) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls[kind])
}

// lastSources is the names of the last sources call.
func (f *refsRemote) lastSources() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls["sources"][len(f.calls["sources"])-1]
}

// newRefs is a cache with a poll interval of a minute over a small tenant.
func newRefs(t *testing.T) (*References, *refsRemote, *clocktesting.FakeClock) {
	t.Helper()
	c := clocktesting.NewFakeClock(time.Unix(1000, 0))
	f := &refsRemote{
		sources: []identitynow.Named{
			{ID: "ad-1", Name: "Active Directory"}, {ID: "ad-emea", Name: "Active Directory EMEA"},
			{ID: "wd-1", Name: "Workday"}, {ID: "hr-1", Name: "HR"}, {ID: "hr-2", Name: "hr"},
		},
		clusters: []identitynow.Named{{ID: "va-1", Name: "Production VA"}},
	}
	r := NewReferences(c.Now)
	r.setSource(f.lister("sources", func() []identitynow.Named { return f.sources }),
		f.lister("clusters", func() []identitynow.Named { return f.clusters }), time.Minute)
	return r, f, c
}

func TestReferencesResolveWithoutCase(t *testing.T) {
	r, f, _ := newRefs(t)
	res, err := r.Resolve(t.Context(), "Tenant/a/acme", Names{
		Sources: []string{"active directory", "Workday", "HR", "Missing"}, Clusters: []string{"PRODUCTION VA"}}, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Found{
		"active directory": {Matches: []identitynow.Named{{ID: "ad-1", Name: "Active Directory"}}, Count: 1},
		"ACTIVE DIRECTORY": {Matches: []identitynow.Named{{ID: "ad-1", Name: "Active Directory"}}, Count: 1},
		"Workday":          {Matches: []identitynow.Named{{ID: "wd-1", Name: "Workday"}}, Count: 1},
		"HR":               {Matches: []identitynow.Named{{ID: "hr-1", Name: "HR"}, {ID: "hr-2", Name: "hr"}}, Count: 2},
		"Missing":          {},
	} {
		if got := res.Source(name); !equalFound(got, want) {
			t.Errorf("Source(%q) = %+v, want %+v", name, got, want)
		}
	}
	if got := res.Cluster("production va"); got.Count != 1 || got.Matches[0].ID != "va-1" {
		t.Errorf("Cluster = %+v", got)
	}
	if f.count("sources") != 1 || f.count("clusters") != 1 {
		t.Errorf("calls: %d sources, %d clusters; want one each", f.count("sources"), f.count("clusters"))
	}
}

func equalFound(a, b Found) bool {
	return a.Count == b.Count && slices.Equal(a.Matches, b.Matches)
}

// TestReferencesOneCallPerInterval: the first caller lists everything the tenant's objects name; the
// others, whatever they ask for among those names, are served from it until the interval ends.
func TestReferencesOneCallPerInterval(t *testing.T) {
	r, f, c := newRefs(t)
	all := Names{Sources: []string{"Active Directory", "Workday", "HR"}, Clusters: []string{"Production VA"}}
	demand := func() Names { // reading the informer takes a while: other callers race past meanwhile
		time.Sleep(5 * time.Millisecond)
		return all
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			want := Names{Sources: []string{all.Sources[i%3]}, Clusters: all.Clusters}
			if _, err := r.Resolve(context.Background(), "Tenant/a/acme", want, demand, time.Time{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if f.count("sources") != 1 || f.count("clusters") != 1 {
		t.Fatalf("100 objects: %d sources calls, %d clusters calls; want 1 each", f.count("sources"), f.count("clusters"))
	}
	if got := f.lastSources(); len(got) != 3 {
		t.Errorf("the list asked for %v, want the three names of the demand", got)
	}
	c.Step(59 * time.Second)
	if _, err := r.Resolve(t.Context(), "Tenant/a/acme", Names{Sources: []string{"workday"}}, demand, time.Time{}); err != nil || f.count("sources") != 1 {
		t.Fatalf("within the interval: %d calls, %v", f.count("sources"), err)
	}
	c.Step(7 * time.Second) // past the interval and its largest jitter
	if _, err := r.Resolve(t.Context(), "Tenant/a/acme", Names{Sources: []string{"workday"}}, demand, time.Time{}); err != nil || f.count("sources") != 2 {
		t.Fatalf("after the interval: %d calls, %v; want a second list", f.count("sources"), err)
	}
	if f.count("clusters") != 1 {
		t.Errorf("a kind nobody asked for is not listed: %d cluster calls", f.count("clusters"))
	}
	c.Step(time.Second)
	if _, err := r.Resolve(t.Context(), "Tenant/a/acme", Names{Sources: []string{"workday"}}, demand, c.Now()); err != nil || f.count("sources") != 3 {
		t.Errorf("a fresh read (notBefore now) lists again: %d calls, %v", f.count("sources"), err)
	}
}

// TestReferencesNoticeRenames: the next interval's list sees a renamed source and the one now
// holding its name.
func TestReferencesNoticeRenames(t *testing.T) {
	r, f, c := newRefs(t)
	want := Names{Sources: []string{"Workday"}}
	res, _ := r.Resolve(t.Context(), "u", want, nil, time.Time{})
	if got := res.Source("Workday"); got.Count != 1 || got.Matches[0].ID != "wd-1" {
		t.Fatalf("before: %+v", got)
	}
	f.mu.Lock()
	f.sources[2].Name = "Workday (old)"
	f.sources = append(f.sources, identitynow.Named{ID: "wd-2", Name: "Workday"})
	f.mu.Unlock()
	res, _ = r.Resolve(t.Context(), "u", want, nil, time.Time{})
	if got := res.Source("Workday"); got.Matches[0].ID != "wd-1" {
		t.Errorf("within the interval the cached id stays: %+v", got)
	}
	c.Step(67 * time.Second)
	res, _ = r.Resolve(t.Context(), "u", want, nil, time.Time{})
	if got := res.Source("Workday"); got.Count != 1 || got.Matches[0].ID != "wd-2" {
		t.Errorf("next interval: %+v, want the source now named Workday", got)
	}
}

// TestReferencesNewNameListsTheWholeDemand: a name the last list did not ask for lists again, with
// every name declared so far, so the next newcomers are served.
func TestReferencesNewNameListsTheWholeDemand(t *testing.T) {
	r, f, _ := newRefs(t)
	demand := Names{Sources: []string{"Workday"}}
	if _, err := r.Resolve(t.Context(), "u", Names{Sources: []string{"Workday"}}, func() Names { return demand }, time.Time{}); err != nil {
		t.Fatal(err)
	}
	demand = Names{Sources: []string{"Workday", "HR", "Active Directory"}}
	res, err := r.Resolve(t.Context(), "u", Names{Sources: []string{"HR"}}, func() Names { return demand }, time.Time{})
	if err != nil || res.Source("HR").Count != 2 {
		t.Fatalf("%+v %v", res.Source("HR"), err)
	}
	if f.count("sources") != 2 || len(f.lastSources()) != 3 {
		t.Fatalf("%d calls, the last for %v; want 2, the last for the three names", f.count("sources"), f.lastSources())
	}
	if _, err := r.Resolve(t.Context(), "u", Names{Sources: []string{"active directory"}}, nil, time.Time{}); err != nil || f.count("sources") != 2 {
		t.Errorf("a name of the demand is served from the cache: %d calls, %v", f.count("sources"), err)
	}
}

func TestReferencesHoldAFailureBriefly(t *testing.T) {
	r, f, c := newRefs(t)
	f.err = &identitynow.Error{Kind: identitynow.KindForbidden, StatusCode: 403}
	want := Names{Sources: []string{"Workday"}}
	for range 10 {
		if _, err := r.Resolve(t.Context(), "u", want, nil, time.Time{}); identitynow.KindOf(err) != identitynow.KindForbidden {
			t.Fatalf("err %v, want the 403", err)
		}
	}
	if f.count("sources") != 1 {
		t.Errorf("10 objects after a 403: %d calls, want 1", f.count("sources"))
	}
	f.mu.Lock()
	f.err = nil
	f.mu.Unlock()
	c.Step(refsErrorHold)
	if _, err := r.Resolve(t.Context(), "u", want, nil, time.Time{}); err != nil || f.count("sources") != 2 {
		t.Errorf("after the hold: %d calls, %v", f.count("sources"), err)
	}
}

// TestReferencesBounded: a list asks for at most MaxNamesPerList names, the caller's own first, and
// keeps at most MaxCandidates objects per name; a user that leaves takes its names with it.
func TestReferencesBounded(t *testing.T) {
	r, f, c := newRefs(t)
	var flood []string
	for i := range MaxNamesPerList + 500 {
		flood = append(flood, fmt.Sprintf("flood-%05d", i))
	}
	f.mu.Lock()
	for i := range MaxCandidates + 5 {
		f.sources = append(f.sources, identitynow.Named{ID: fmt.Sprint("dup-", i), Name: "Dup"})
	}
	f.mu.Unlock()
	if _, err := r.Resolve(t.Context(), "ClusterTenant//shared", Names{Sources: flood[:1]}, func() Names { return Names{Sources: flood} }, time.Time{}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Resolve(t.Context(), "Tenant/b/acme", Names{Sources: []string{"Dup", "Workday"}}, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	asked := f.lastSources()
	if len(asked) != MaxNamesPerList || !slices.Contains(asked, "Dup") || !slices.Contains(asked, "Workday") {
		t.Errorf("asked for %d names (Dup and Workday in: %t), want %d with the caller's, as written", len(asked),
			slices.Contains(asked, "Dup") && slices.Contains(asked, "Workday"), MaxNamesPerList)
	}
	if got := res.Source("Dup"); got.Count != MaxCandidates+5 || len(got.Matches) != MaxCandidates {
		t.Errorf("Dup: count %d, %d kept; want %d and %d", got.Count, len(got.Matches), MaxCandidates+5, MaxCandidates)
	}
	r.forget("ClusterTenant//shared")
	c.Step(2 * time.Minute)
	own := func() Names { return Names{Sources: []string{"Dup", "Workday"}} }
	if _, err := r.Resolve(t.Context(), "Tenant/b/acme", Names{Sources: []string{"Workday"}}, own, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if asked := f.lastSources(); len(asked) != 2 {
		t.Errorf("after the flooding tenant left, the list asked for %d names, want its own 2", len(asked))
	}
}

func TestReferencesWaitBoundedForAnotherList(t *testing.T) {
	r, f, _ := newRefs(t)
	f.delay = MaxListWait + 500*time.Millisecond
	started := make(chan struct{})
	go func() {
		close(started)
		_, _ = r.Resolve(context.Background(), "u", Names{Sources: []string{"Workday"}}, nil, time.Time{})
	}()
	<-started
	time.Sleep(50 * time.Millisecond)
	begin := time.Now()
	_, err := r.Resolve(t.Context(), "u", Names{Sources: []string{"Workday"}}, nil, time.Time{})
	if !errors.Is(err, ErrListInFlight) || time.Since(begin) > MaxListWait+time.Second {
		t.Errorf("err %v after %s, want ErrListInFlight after about %s", err, time.Since(begin), MaxListWait)
	}
}

// TestReferencesKeepTheNewerList: a list sent earlier that answers after a fresh read's list does not
// replace the newer result.
func TestReferencesKeepTheNewerList(t *testing.T) {
	c := clocktesting.NewFakeClock(time.Unix(1000, 0))
	r := NewReferences(c.Now)
	release := make(chan struct{})
	var calls int
	var mu sync.Mutex
	r.setSource(func(_ context.Context, _ []string, each func(identitynow.Named)) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			<-release // the old list answers last, with the old id
			each(identitynow.Named{ID: "old", Name: "Workday"})
			return nil
		}
		each(identitynow.Named{ID: "new", Name: "Workday"})
		return nil
	}, nil, time.Minute)
	want := Names{Sources: []string{"Workday"}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = r.Resolve(context.Background(), "u", want, nil, time.Time{})
	}()
	for {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.Step(time.Second)
	res, err := r.Resolve(t.Context(), "u", want, nil, c.Now().Add(-time.Millisecond)) // a fresh read
	if err != nil || res.Source("Workday").Matches[0].ID != "new" {
		t.Fatalf("fresh read: %+v %v", res.Source("Workday"), err)
	}
	close(release)
	<-done
	res, err = r.Resolve(t.Context(), "u", want, nil, time.Time{})
	if err != nil || res.Source("Workday").Matches[0].ID != "new" {
		t.Errorf("after the older list answered: %+v %v, want the newer result kept", res.Source("Workday"), err)
	}
}
