package tenant

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Names are the source and managed-cluster names that SimIntegrations refer to (spec.sourceRefs,
// spec.clusterRef).
type Names struct {
	Sources  []string
	Clusters []string
}

// Found is what the references cache found for one name: the listed objects whose name equals it
// without regard to case (at most MaxCandidates of them, in the order listed) and how many there were.
type Found struct {
	Matches []identitynow.Named
	Count   int
}

// MaxCandidates bounds the objects kept for one name; an ambiguous name reports the first of them and
// the count.
const MaxCandidates = 10

// MaxNamesPerList bounds the names one refresh of a kind asks for. The caller's own names always go
// first; names beyond the bound are resolved by their own objects' reconciles.
const MaxNamesPerList = 2000

// refsErrorHold is how long a failed lookup is answered from memory, so that the objects of a tenant
// whose API client lacks a scope do not each send the request that failed.
const refsErrorHold = 5 * time.Second

// ReferenceLister is one lookup API of a tenant (Remote.ListSources or Remote.ListManagedClusters).
type ReferenceLister func(ctx context.Context, names []string, each func(identitynow.Named)) error

// References is the shared, periodically refreshed cache of one tenant's name references, the
// counterpart of the Snapshot for spec.sourceRefs and spec.clusterRef: per poll interval, at most one
// Sources call and one Managed Clusters call serve every SimIntegration of the tenant, each filtered to
// the names the tenant's objects refer to (its users declare them). A name not yet asked for makes the
// next Resolve list again, with the whole demand. It is safe for concurrent use; concurrent refreshes
// of a kind share one call.
type References struct {
	clock func() time.Time

	mu       sync.Mutex
	sources  refList
	clusters refList
	// demand is the names each user (a tenant key) last declared for its objects.
	demand map[string]Names
}

// LookupError is a failed lookup, naming its API and the scope it needs; it wraps the client's error
// (identitynow.KindOf sees through it).
type LookupError struct {
	// API is "sources" or "managed clusters".
	API string
	// Scope is the read scope the API needs (identitynow.SourcesScope, identitynow.ClustersScope).
	Scope string
	Err   error
}

func (e *LookupError) Error() string { return "list " + e.API + ": " + e.Err.Error() }

// Unwrap returns the client's error.
func (e *LookupError) Unwrap() error { return e.Err }

// refList is the cache of one lookup API.
type refList struct {
	api, scope string
	list       ReferenceLister
	interval   time.Duration
	// found holds, for every name (lower case) the last list asked for, what it found.
	found     map[string]Found
	startedAt time.Time     // when that list was sent
	maxAge    time.Duration // jittered interval for the current contents
	inflight  *refCall
	failed    *refCall // the last failed list, answered for refsErrorHold
}

type refCall struct {
	done      chan struct{}
	err       error
	startedAt time.Time
	names     map[string]string // lower case → as the spec writes it (sent as written)
}

// NewReferences returns an empty cache; a registry sets its lookup calls (setSource).
func NewReferences(clock func() time.Time) *References {
	if clock == nil {
		clock = time.Now
	}
	return &References{clock: clock, demand: map[string]Names{},
		sources:  refList{api: "sources", scope: identitynow.SourcesScope},
		clusters: refList{api: "managed clusters", scope: identitynow.ClustersScope}}
}

// setSource sets the lookup calls and the poll interval for the next refreshes.
func (r *References) setSource(sources, clusters ReferenceLister, interval time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sources.list, r.clusters.list = sources, clusters
	r.sources.interval, r.clusters.interval = interval, interval
}

// forget drops a user's declared names (a tenant leaving the shared cache).
func (r *References) forget(user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.demand, user)
}

// Resolution is what Resolve found for the names asked for.
type Resolution struct {
	// ListedAt is when the oldest of the lists behind it was sent.
	ListedAt time.Time
	sources  map[string]Found
	clusters map[string]Found
}

// ResolutionOf builds a Resolution from what was found for each name (names compare without case),
// for tools that look names up themselves (kubectl sim diff) and for tests.
func ResolutionOf(sources, clusters map[string]Found) Resolution {
	res := Resolution{sources: map[string]Found{}, clusters: map[string]Found{}}
	for n, f := range sources {
		res.sources[strings.ToLower(n)] = f
	}
	for n, f := range clusters {
		res.clusters[strings.ToLower(n)] = f
	}
	return res
}

// Source returns what the tenant's sources named name (without regard to case) are.
func (r Resolution) Source(name string) Found { return r.sources[strings.ToLower(name)] }

// Cluster returns what the tenant's managed clusters named name (without regard to case) are.
func (r Resolution) Cluster(name string) Found { return r.clusters[strings.ToLower(name)] }

// Resolve returns what the names of want refer to, from lists sent after notBefore and younger than
// the poll interval. When a kind must be listed, demand is asked for every name user's objects refer
// to, so that one call serves them all; the lookups wait for another caller's list at most
// MaxListWait (then ErrListInFlight). A list that failed less than refsErrorHold ago fails again
// without a call.
func (r *References) Resolve(ctx context.Context, user string, want Names, demand func() Names, notBefore time.Time) (Resolution, error) {
	res := Resolution{sources: map[string]Found{}, clusters: map[string]Found{}}
	var demanded *Names
	ask := func() Names {
		if demanded == nil {
			d := Names{}
			if demand != nil {
				d = demand()
			}
			d.Sources, d.Clusters = append(d.Sources, want.Sources...), append(d.Clusters, want.Clusters...)
			demanded = &d
		}
		return *demanded
	}
	for _, k := range []struct {
		names []string
		pick  func(*References) *refList
		of    func(Names) []string
		out   map[string]Found
	}{
		{want.Sources, func(r *References) *refList { return &r.sources }, func(n Names) []string { return n.Sources }, res.sources},
		{want.Clusters, func(r *References) *refList { return &r.clusters }, func(n Names) []string { return n.Clusters }, res.clusters},
	} {
		if len(k.names) == 0 {
			continue
		}
		at, err := r.resolve(ctx, user, k.names, k.pick, k.of, ask, notBefore, k.out)
		if err != nil {
			return Resolution{}, err
		}
		if res.ListedAt.IsZero() || at.Before(res.ListedAt) {
			res.ListedAt = at
		}
	}
	return res, nil
}

// resolve fills out with one kind's names, listing when the cache does not hold them all.
func (r *References) resolve(ctx context.Context, user string, names []string, pick func(*References) *refList,
	of func(Names) []string, ask func() Names, notBefore time.Time, out map[string]Found) (time.Time, error) {
	want := lowerSet(names)
	for {
		r.mu.Lock()
		l := pick(r)
		now := r.clock()
		if l.fresh(now, notBefore, want) {
			for n := range want {
				out[n] = cloneFound(l.found[n])
			}
			at := l.startedAt
			r.mu.Unlock()
			return at, nil
		}
		if f := l.failed; f != nil && f.startedAt.After(notBefore) && now.Sub(f.startedAt) < refsErrorHold && coversNames(f.names, want) {
			r.mu.Unlock()
			return time.Time{}, f.err
		}
		if c := l.inflight; c != nil && c.startedAt.After(notBefore) {
			r.mu.Unlock()
			if err := waitCall(ctx, c); err != nil {
				return time.Time{}, err
			}
			if c.err != nil && coversNames(c.names, want) {
				return time.Time{}, c.err
			}
			continue
		}
		r.mu.Unlock()

		d := ask() // outside the lock: it may read the API server's cache
		r.mu.Lock()
		r.demand[user] = Names{Sources: slices.Clone(d.Sources), Clusters: slices.Clone(d.Clusters)}
		if (l.inflight != nil && l.inflight.startedAt.After(notBefore)) || l.fresh(r.clock(), notBefore, want) { // another caller listed meanwhile
			r.mu.Unlock()
			continue
		}
		c := &refCall{done: make(chan struct{}), startedAt: now, names: r.namesToListLocked(user, want, of)}
		l.inflight = c
		list, interval := l.list, l.interval
		r.mu.Unlock()
		r.refresh(ctx, pick, c, list, interval)
		if c.err != nil {
			return time.Time{}, c.err
		}
		// The list this caller sent answers it, whatever the clock says now.
		r.mu.Lock()
		if l.startedAt.Equal(c.startedAt) && covers(l.found, want) {
			for n := range want {
				out[n] = cloneFound(l.found[n])
			}
			r.mu.Unlock()
			return c.startedAt, nil
		}
		r.mu.Unlock()
	}
}

// fresh says the last list was sent after notBefore, is younger than the interval and asked for every
// name of want. Caller holds mu.
func (l *refList) fresh(now, notBefore time.Time, want map[string]string) bool {
	return l.found != nil && l.startedAt.After(notBefore) && now.Sub(l.startedAt) < l.maxAge && covers(l.found, want)
}

// namesToListLocked is want first, then the other names every user declared, up to MaxNamesPerList.
func (r *References) namesToListLocked(user string, want map[string]string, of func(Names) []string) map[string]string {
	out := maps.Clone(want)
	users := slices.Sorted(maps.Keys(r.demand))
	// the caller's own tenant first, then the others sharing the credentials
	slices.SortStableFunc(users, func(a, b string) int {
		switch {
		case a == user && b != user:
			return -1
		case b == user && a != user:
			return 1
		}
		return 0
	})
	for _, u := range users {
		for _, n := range of(r.demand[u]) {
			if len(out) >= MaxNamesPerList {
				return out
			}
			if _, ok := out[strings.ToLower(n)]; !ok {
				out[strings.ToLower(n)] = n
			}
		}
	}
	return out
}

// refresh runs one list and installs its result.
func (r *References) refresh(ctx context.Context, pick func(*References) *refList, c *refCall, list ReferenceLister, interval time.Duration) {
	defer close(c.done)
	found := make(map[string]Found, len(c.names))
	seen := map[string]bool{}
	err := errNoLister
	if list != nil {
		err = list(ctx, slices.Sorted(maps.Values(c.names)), func(n identitynow.Named) {
			key := strings.ToLower(n.Name)
			if _, asked := c.names[key]; !asked || seen[n.ID] {
				return
			}
			seen[n.ID] = true
			f := found[key]
			f.Count++
			if len(f.Matches) < MaxCandidates {
				f.Matches = append(f.Matches, n)
			}
			found[key] = f
		})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := pick(r)
	if l.inflight == c {
		l.inflight = nil
	}
	if err != nil {
		c.err = &LookupError{API: l.api, Scope: l.scope, Err: err}
		l.failed = c
		return
	}
	for n := range c.names {
		if _, ok := found[n]; !ok {
			found[n] = Found{}
		}
	}
	if l.found != nil && l.startedAt.After(c.startedAt) {
		return // a list sent later (a fresh read) answered first: keep its newer result
	}
	l.found, l.startedAt, l.failed = found, c.startedAt, nil
	l.maxAge = interval + time.Duration(rand.Int64N(int64(interval)/10+1))
}

var errNoLister = errors.New("the tenant's lookups are not connected yet")

// waitCall waits for another caller's list, at most MaxListWait.
func waitCall(ctx context.Context, c *refCall) error {
	wait := time.NewTimer(MaxListWait)
	defer wait.Stop()
	select {
	case <-c.done:
		return nil
	case <-wait.C:
		return ErrListInFlight
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lowerSet maps each name without case to the first way it is written.
func lowerSet(names []string) map[string]string {
	out := make(map[string]string, len(names))
	for _, n := range names {
		if _, ok := out[strings.ToLower(n)]; !ok {
			out[strings.ToLower(n)] = n
		}
	}
	return out
}

func covers(found map[string]Found, want map[string]string) bool {
	for n := range want {
		if _, ok := found[n]; !ok {
			return false
		}
	}
	return true
}

func coversNames(have, want map[string]string) bool {
	for n := range want {
		if _, ok := have[n]; !ok {
			return false
		}
	}
	return true
}

func cloneFound(f Found) Found {
	f.Matches = slices.Clone(f.Matches)
	return f
}
