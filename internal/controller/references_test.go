package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

func found(ids ...string) tenant.Found {
	f := tenant.Found{Count: len(ids)}
	for _, id := range ids {
		name, _, _ := strings.Cut(id, "=")
		_, id, _ = strings.Cut(id, "=")
		f.Matches = append(f.Matches, identitynow.Named{ID: id, Name: name})
	}
	return f
}

func byName(mutate func(*simv1alpha1.SimIntegrationSpec)) *simv1alpha1.SimIntegrationSpec {
	spec := &simv1alpha1.SimIntegrationSpec{
		SourceRefs: []simv1alpha1.SourceReference{{Name: "Active Directory"}, {Name: "workday"}},
		ClusterRef: &simv1alpha1.ClusterReference{Name: "Production VA"},
	}
	if mutate != nil {
		mutate(spec)
	}
	return spec
}

func TestResolveFrom(t *testing.T) {
	tenantRefs := tenant.ResolutionOf(map[string]tenant.Found{
		"active directory": found("Active Directory=ad-1"),
		"workday":          found("Workday=wd-1"),
		"hr":               found("HR=hr-1", "hr=hr-2"),
		"crowded":          {Count: 14, Matches: found("Crowded=c1", "crowded=c2").Matches},
	}, map[string]tenant.Found{"production va": found("Production VA=va-1")})
	for _, tc := range []struct {
		name    string
		spec    *simv1alpha1.SimIntegrationSpec
		want    refIDs
		reason  string
		message []string
	}{{
		name: "every name matches one object, whatever its case",
		spec: byName(nil),
		want: refIDs{sources: []string{"ad-1", "wd-1"}, cluster: new("va-1"),
			resolvedSources: []simv1alpha1.ResolvedReference{{Name: "Active Directory", ID: "ad-1"}, {Name: "workday", ID: "wd-1"}},
			resolvedCluster: &simv1alpha1.ResolvedReference{Name: "Production VA", ID: "va-1"}},
	}, {
		name: "an empty sourceRefs manages an empty sources list",
		spec: &simv1alpha1.SimIntegrationSpec{SourceRefs: []simv1alpha1.SourceReference{}},
		want: refIDs{sources: []string{}},
	}, {
		name: "no references: nothing resolved, spec ids untouched",
		spec: &simv1alpha1.SimIntegrationSpec{Sources: []string{"x"}},
	}, {
		name: "a missing source stalls, naming it",
		spec: byName(func(s *simv1alpha1.SimIntegrationSpec) {
			s.SourceRefs = append(s.SourceRefs, simv1alpha1.SourceReference{Name: "Gone"})
		}),
		reason:  simv1alpha1.ReasonReferenceNotFound,
		message: []string{`source "Gone"`, "nothing is sent"},
	}, {
		name:    "a missing cluster stalls, naming it",
		spec:    byName(func(s *simv1alpha1.SimIntegrationSpec) { s.ClusterRef.Name = "Old VA" }),
		reason:  simv1alpha1.ReasonReferenceNotFound,
		message: []string{`managed cluster "Old VA"`},
	}, {
		name:    "names that differ only in case are ambiguous, listing the candidates' ids",
		spec:    byName(func(s *simv1alpha1.SimIntegrationSpec) { s.SourceRefs = []simv1alpha1.SourceReference{{Name: "HR"}} }),
		reason:  simv1alpha1.ReasonReferenceAmbiguous,
		message: []string{`source "HR" matches 2: hr-1 ("HR"), hr-2 ("hr")`},
	}, {
		name: "the candidates listed are bounded, the rest counted",
		spec: byName(func(s *simv1alpha1.SimIntegrationSpec) {
			s.SourceRefs = []simv1alpha1.SourceReference{{Name: "crowded"}}
		}),
		reason:  simv1alpha1.ReasonReferenceAmbiguous,
		message: []string{"matches 14: c1", "and 12 more"},
	}, {
		name: "missing wins over ambiguous, and the message names both",
		spec: byName(func(s *simv1alpha1.SimIntegrationSpec) {
			s.SourceRefs = []simv1alpha1.SourceReference{{Name: "HR"}, {Name: "Gone"}}
		}),
		reason:  simv1alpha1.ReasonReferenceNotFound,
		message: []string{`source "Gone"`, `ambiguous: source "HR"`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveFrom(tc.spec, tenantRefs)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(refIDs{})); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				return
			}
			se, ok := errors.AsType[*stallError](err)
			if !ok || se.reason != tc.reason {
				t.Fatalf("err %v, want a stall with %s", err, tc.reason)
			}
			for _, m := range tc.message {
				if !strings.Contains(se.message, m) {
					t.Errorf("message %q lacks %q", se.message, m)
				}
			}
		})
	}
}

func TestLookupFailureNamesTheScope(t *testing.T) {
	for api, scope := range map[string]string{"sources": identitynow.SourcesScope, "managed clusters": identitynow.ClustersScope} {
		err := lookupFailure(&tenant.LookupError{API: api, Scope: scope, Err: remoteErr(identitynow.KindForbidden, 403, "refused")})
		v := classify(err)
		if v.outcome.kind != outcomeStalled || v.outcome.reason != simv1alpha1.ReasonForbidden || !strings.Contains(v.outcome.message, scope) ||
			!strings.Contains(v.outcome.message, "list "+api) {
			t.Errorf("%s: %+v, want Stalled Forbidden naming %s", api, v.outcome, scope)
		}
		if strings.Contains(v.outcome.message, "service-desk-integration") {
			t.Errorf("%s: the message names the SIM scope instead of the lookup's: %s", api, v.outcome.message)
		}
	}
	rl := lookupFailure(&tenant.LookupError{API: "sources", Err: remoteErr(identitynow.KindRateLimited, 429, "slow down")})
	if v := classify(rl); v.outcome.reason != simv1alpha1.ReasonRateLimited {
		t.Errorf("a 429 on a lookup waits like any other: %+v", v.outcome)
	}
}

// refsRig serves sources and clusters through the sync rig's remote; it records the names asked.
func refsRig(g *syncRig, sources, clusters map[string][]string) {
	serve := func(all map[string][]string) func(context.Context, []string, func(identitynow.Named)) error {
		return func(_ context.Context, names []string, each func(identitynow.Named)) error {
			for _, n := range names {
				for name, ids := range all {
					if strings.EqualFold(name, n) {
						for _, id := range ids {
							each(identitynow.Named{ID: id, Name: name})
						}
					}
				}
			}
			return nil
		}
	}
	g.remote.ListSourcesFunc = serve(sources)
	g.remote.ListManagedClustersFunc = serve(clusters)
}

func withRefs(s *simv1alpha1.SimIntegration) {
	s.Spec.SourceRefs = []simv1alpha1.SourceReference{{Name: "active directory"}, {Name: "Workday"}}
	s.Spec.ClusterRef = &simv1alpha1.ClusterReference{Name: "Production VA"}
}

func TestSyncStepsWithReferences(t *testing.T) {
	tenantSources := map[string][]string{"Active Directory": {"ad-1"}, "Workday": {"wd-1"}, "HR": {"hr-1"}, "hr": {"hr-2"}}
	tenantClusters := map[string][]string{"Production VA": {"va-1"}}
	// syncedByName is a synced object whose record says it sent ad-1, wd-1 and va-1.
	syncedByName := func(t *testing.T) *simv1alpha1.SimIntegration {
		obj := syncSim(withRefs)
		want, err := buildDesired(obj, map[string]secretValue{"password": {Value: "hunter2",
			Version: simv1alpha1.SecretVersion{Attribute: "password", Secret: "sn", Key: "password", ResourceVersion: "1"}}},
			refIDs{sources: []string{"ad-1", "wd-1"}, cluster: new("va-1")})
		if err != nil {
			t.Fatal(err)
		}
		return syncSim(func(s *simv1alpha1.SimIntegration) {
			withRefs(s)
			s.Finalizers = []string{simv1alpha1.Finalizer}
			s.Status.ID, s.Status.ObservedGeneration, s.Status.LastApplied = "id-1", 1, &want.Applied
		})
	}
	remoteByName := func(sources ...any) identitynow.Integration {
		return remoteHR("id-1", func(f map[string]any) { f["sources"], f["cluster"] = sources, "va-1" })
	}
	for _, tc := range []struct {
		name   string
		obj    *simv1alpha1.SimIntegration
		before func(t *testing.T, g *syncRig)
		want   syncWant
		check  func(t *testing.T, g *syncRig, st simv1alpha1.SimIntegrationStatus)
	}{{
		name: "names resolve to the tenant's ids, which the create sends and status records",
		obj:  syncSim(withRefs),
		before: func(t *testing.T, g *syncRig) {
			g.remote.CreateFunc = func(_ context.Context, d identitynow.Details) (*identitynow.Integration, error) {
				if !slices.Equal(d.Sources, []string{"ad-1", "wd-1"}) || d.Cluster == nil || *d.Cluster != "va-1" {
					t.Errorf("create sends sources %v cluster %v, want the resolved ids", d.Sources, d.Cluster)
				}
				it := remoteByName("ad-1", "wd-1")
				return &it, nil
			}
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced,
			calls: []string{"CheckToken", "ListSources", "ListManagedClusters", "ListEach", "Create"}, id: "id-1", events: []string{"Created"}, finalizer: true},
		check: func(t *testing.T, _ *syncRig, st simv1alpha1.SimIntegrationStatus) {
			want := []simv1alpha1.ResolvedReference{{Name: "active directory", ID: "ad-1"}, {Name: "Workday", ID: "wd-1"}}
			if diff := cmp.Diff(want, st.ResolvedSources); diff != "" {
				t.Errorf("resolvedSources (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(&simv1alpha1.ResolvedReference{Name: "Production VA", ID: "va-1"}, st.ResolvedCluster); diff != "" {
				t.Errorf("resolvedCluster (-want +got):\n%s", diff)
			}
		},
	}, {
		name: "a name that matches nothing stalls before the tenant's SIM list: nothing is created",
		obj: syncSim(func(s *simv1alpha1.SimIntegration) {
			withRefs(s)
			s.Spec.SourceRefs = append(s.Spec.SourceRefs, simv1alpha1.SourceReference{Name: "SAP"})
		}),
		want: syncWant{kind: outcomeStalled, reason: simv1alpha1.ReasonReferenceNotFound, message: `source "SAP"`,
			calls: []string{"CheckToken", "ListSources", "ListManagedClusters"}},
	}, {
		name: "names that differ only in case stall as ambiguous, listing the ids",
		obj:  syncSim(func(s *simv1alpha1.SimIntegration) { s.Spec.SourceRefs = []simv1alpha1.SourceReference{{Name: "HR"}} }),
		want: syncWant{kind: outcomeStalled, reason: simv1alpha1.ReasonReferenceAmbiguous, message: "hr-1",
			calls: []string{"CheckToken", "ListSources"}},
		check: func(t *testing.T, _ *syncRig, st simv1alpha1.SimIntegrationStatus) {
			if st.ResolvedSources != nil {
				t.Errorf("an unresolved reference records nothing: %v", st.ResolvedSources)
			}
		},
	}, {
		name: "a synced object whose source was re-pointed sends the new id (Updated, not drift)",
		obj:  syncedByName(t),
		before: func(t *testing.T, g *syncRig) {
			g.stored["id-1"] = remoteByName("ad-1", "wd-1")
			refsRig(g, map[string][]string{"Active Directory": {"ad-1"}, "Workday": {"wd-2"}, "Workday (old)": {"wd-1"}}, tenantClusters)
			g.remote.PatchFunc = func(_ context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error) {
				if len(ops) != 1 || ops[0].Path != "/sources" || fmt.Sprint(ops[0].Value) != "[ad-1 wd-2]" {
					t.Errorf("ops %+v, want /sources replaced by the new ids", ops)
				}
				it := remoteByName("ad-1", "wd-2")
				return &it, nil
			}
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced,
			calls: []string{"CheckToken", "ListSources", "ListManagedClusters", "ListEach", "Patch"}, id: "id-1", events: []string{"Updated"}, finalizer: true},
		check: func(t *testing.T, _ *syncRig, st simv1alpha1.SimIntegrationStatus) {
			if len(st.ResolvedSources) != 2 || st.ResolvedSources[1].ID != "wd-2" {
				t.Errorf("resolvedSources %v, want Workday at wd-2", st.ResolvedSources)
			}
		},
	}, {
		name: "a synced object whose references still resolve alike writes nothing",
		obj:  syncedByName(t),
		before: func(t *testing.T, g *syncRig) {
			g.stored["id-1"] = remoteByName("ad-1", "wd-1")
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced,
			calls: []string{"CheckToken", "ListSources", "ListManagedClusters", "ListEach"}, id: "id-1", finalizer: true},
	}, {
		name: "a 403 on the sources lookup stalls Forbidden, naming idn:sources:read",
		obj:  syncSim(withRefs),
		before: func(t *testing.T, g *syncRig) {
			g.remote.ListSourcesFunc = func(context.Context, []string, func(identitynow.Named)) error {
				return remoteErr(identitynow.KindForbidden, 403, "The server understood the request but refuses to authorize it.")
			}
		},
		want: syncWant{kind: outcomeStalled, reason: simv1alpha1.ReasonForbidden, message: "needs the scope idn:sources:read",
			calls: []string{"CheckToken", "ListSources"}},
	}, {
		name: "a 403 on the managed clusters lookup stalls Forbidden, naming idn:remote-client:read",
		obj:  syncSim(withRefs),
		before: func(t *testing.T, g *syncRig) {
			g.remote.ListManagedClustersFunc = func(context.Context, []string, func(identitynow.Named)) error {
				return remoteErr(identitynow.KindForbidden, 403, "refused")
			}
		},
		want: syncWant{kind: outcomeStalled, reason: simv1alpha1.ReasonForbidden, message: "needs the scope idn:remote-client:read",
			calls: []string{"CheckToken", "ListSources", "ListManagedClusters"}},
	}, {
		name: "an object without references makes no lookup",
		obj:  syncedSim(t, "id-1", nil),
		before: func(t *testing.T, g *syncRig) {
			g.stored["id-1"] = remoteHR("id-1", nil)
			g.remote.ListSourcesFunc, g.remote.ListManagedClustersFunc = nil, nil
		},
		want: syncWant{kind: outcomeReady, reason: simv1alpha1.ReasonSynced, calls: []string{"CheckToken", "ListEach"}, id: "id-1", finalizer: true},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newSyncRig(t, "", tc.obj)
			refsRig(g, tenantSources, tenantClusters)
			if tc.before != nil {
				tc.before(t, g)
			}
			obj := &simv1alpha1.SimIntegration{}
			if err := g.k8s.Get(t.Context(), client.ObjectKeyFromObject(tc.obj), obj); err != nil {
				t.Fatal(err)
			}
			s := &scope{obj: obj, policy: policyFor(&obj.Spec)}
			o, err := g.r.reconcile(t.Context(), s)
			if err != nil {
				o = classify(err).outcome
			}
			got := syncWant{kind: o.kind, reason: o.reason, message: tc.want.message, calls: g.remote.Calls(),
				id: obj.Status.ID, pendingCreate: obj.Status.PendingCreate != nil, events: recordedReasons(g.events)}
			if tc.want.message != "" && !strings.Contains(o.message, tc.want.message) {
				got.message = o.message
			}
			stored := &simv1alpha1.SimIntegration{}
			if err := g.k8s.Get(t.Context(), client.ObjectKeyFromObject(tc.obj), stored); err == nil {
				got.finalizer = slices.Contains(stored.Finalizers, simv1alpha1.Finalizer)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(syncWant{})); diff != "" {
				t.Errorf("(-want +got):\n%s\n(outcome message: %s)", diff, o.message)
			}
			if tc.check != nil {
				tc.check(t, g, obj.Status)
			}
		})
	}
}
