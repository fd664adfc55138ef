package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// References by name (spec.sourceRefs, spec.clusterRef) are resolved to the tenant's ids before the
// desired document is built, through the tenant's shared references cache (tenant.References): one
// Sources call and one Managed Clusters call per tenant per poll interval, whatever the number of
// SimIntegrations. A name that matches nothing or several objects stalls the object before any remote
// write; the ids it resolves to are recorded in status and sent in place of spec.sources / spec.cluster.

// refIDs are the ids a spec's references resolved to.
type refIDs struct {
	// sources replaces spec.sources when spec.sourceRefs is set (an empty list for an empty one).
	sources []string
	// cluster replaces spec.cluster when spec.clusterRef is set.
	cluster *string
	// resolvedSources and resolvedCluster are the status record.
	resolvedSources []simv1alpha1.ResolvedReference
	resolvedCluster *simv1alpha1.ResolvedReference
}

// referencedNames are the names a spec refers to.
func referencedNames(spec *simv1alpha1.SimIntegrationSpec) tenant.Names {
	var n tenant.Names
	for _, ref := range spec.SourceRefs {
		n.Sources = append(n.Sources, ref.Name)
	}
	if spec.ClusterRef != nil {
		n.Clusters = []string{spec.ClusterRef.Name}
	}
	return n
}

// resolveFrom maps a spec's references through what the tenant's lookups found. It is pure: every name
// must match exactly one object (without regard to case), else it stalls with ReferenceNotFound (first)
// or ReferenceAmbiguous, naming every name in that state.
func resolveFrom(spec *simv1alpha1.SimIntegrationSpec, res tenant.Resolution) (refIDs, error) {
	var ids refIDs
	var missing, ambiguous []string
	check := func(kind, name string, f tenant.Found) (string, bool) {
		switch {
		case f.Count == 0:
			missing = append(missing, fmt.Sprintf("%s %q", kind, name))
			return "", false
		case f.Count > 1:
			ambiguous = append(ambiguous, fmt.Sprintf("%s %q matches %d: %s", kind, name, f.Count, candidates(f)))
			return "", false
		}
		return f.Matches[0].ID, true
	}
	if spec.SourceRefs != nil {
		ids.sources = []string{}
		for _, ref := range spec.SourceRefs {
			if id, ok := check("source", ref.Name, res.Source(ref.Name)); ok {
				ids.sources = append(ids.sources, id)
				ids.resolvedSources = append(ids.resolvedSources, simv1alpha1.ResolvedReference{Name: ref.Name, ID: id})
			}
		}
	}
	if ref := spec.ClusterRef; ref != nil {
		if id, ok := check("managed cluster", ref.Name, res.Cluster(ref.Name)); ok {
			ids.cluster = &id
			ids.resolvedCluster = &simv1alpha1.ResolvedReference{Name: ref.Name, ID: id}
		}
	}
	switch {
	case len(missing) > 0:
		msg := "no object of the tenant is named " + strings.Join(missing, ", ") + " (names compare without case)"
		if len(ambiguous) > 0 {
			msg += "; ambiguous: " + strings.Join(ambiguous, "; ")
		}
		return refIDs{}, stall(simv1alpha1.ReasonReferenceNotFound, "%s; nothing is sent until every reference resolves", msg)
	case len(ambiguous) > 0:
		return refIDs{}, stall(simv1alpha1.ReasonReferenceAmbiguous,
			"several objects of the tenant have the name: %s; rename all but one in IdentityNow, or give the id (spec.sources, spec.cluster); nothing is sent until every reference resolves",
			strings.Join(ambiguous, "; "))
	}
	return ids, nil
}

// candidates lists the ids (and names, which may differ in case) of an ambiguous name's matches.
func candidates(f tenant.Found) string {
	parts := make([]string, 0, len(f.Matches))
	for _, m := range f.Matches {
		parts = append(parts, fmt.Sprintf("%s (%q)", m.ID, m.Name))
	}
	out := strings.Join(parts, ", ")
	if more := f.Count - len(f.Matches); more > 0 {
		out += fmt.Sprintf(" and %d more", more)
	}
	return out
}

// resolveReferences resolves the object's references through its tenant's cache (recordReferences
// puts the result in status). An object without references costs nothing.
func (r *SimIntegrationReconciler) resolveReferences(ctx context.Context, s *scope) (refIDs, error) {
	spec := &s.obj.Spec
	want := referencedNames(spec)
	if len(want.Sources) == 0 && len(want.Clusters) == 0 {
		return resolveFrom(spec, tenant.Resolution{}) // at most an empty sourceRefs list
	}
	var notBefore time.Time
	if s.fresh {
		notBefore = r.now()
	}
	user := referencesUser(s.obj)
	res, err := s.conn.Refs.Resolve(ctx, user, want, func() tenant.Names { return r.tenantDemand(ctx, s.obj) }, notBefore)
	if err != nil {
		return refIDs{}, lookupFailure(err)
	}
	return resolveFrom(spec, res)
}

// recordReferences writes what the references resolved to in status, once the steps that may replace
// the in-memory status (the create marker's write) are done.
func recordReferences(st *simv1alpha1.SimIntegrationStatus, ids refIDs) {
	st.ResolvedSources, st.ResolvedCluster = ids.resolvedSources, ids.resolvedCluster
}

// referencesUser is the registry key of the object's tenant: the cache keeps each tenant's demand.
func referencesUser(obj *simv1alpha1.SimIntegration) string {
	kind := obj.Spec.TenantRef.Kind
	if kind == "" {
		kind = simv1alpha1.TenantKindTenant
	}
	return tenant.Key(kind, obj.Namespace, obj.Spec.TenantRef.Name)
}

// tenantDemand is every name the SimIntegrations of obj's tenant refer to, read from the informer
// cache when the tenant's references must be listed, so that one call serves them all. Objects that
// make no remote call (suspended, being deleted) and objects of namespaces the tenant does not serve
// are left out: no lookup is made on their behalf.
func (r *SimIntegrationReconciler) tenantDemand(ctx context.Context, obj *simv1alpha1.SimIntegration) tenant.Names {
	ref := obj.Spec.TenantRef
	opts := []client.ListOption{client.MatchingFields{indexTenantRef: tenantRefKey(ref)}}
	clusterScoped := ref.Kind == simv1alpha1.TenantKindClusterTenant
	if !clusterScoped {
		opts = append(opts, client.InNamespace(obj.Namespace))
	}
	list := &simv1alpha1.SimIntegrationList{}
	if err := r.List(ctx, list, opts...); err != nil {
		return tenant.Names{}
	}
	var t simv1alpha1.TenantObject
	if clusterScoped {
		var err error
		if t, err = r.Tenants.Get(ctx, ref, obj.Namespace); err != nil {
			return tenant.Names{}
		}
	}
	allowed := map[string]bool{obj.Namespace: true}
	var out tenant.Names
	for i := range list.Items {
		o := &list.Items[i]
		if o.Spec.Suspend || !o.DeletionTimestamp.IsZero() {
			continue
		}
		ok, seen := allowed[o.Namespace]
		if !seen {
			ok = r.Tenants.CheckAccess(ctx, t, o.Namespace) == nil
			allowed[o.Namespace] = ok
		}
		if !ok {
			continue
		}
		n := referencedNames(&o.Spec)
		out.Sources = append(out.Sources, n.Sources...)
		out.Clusters = append(out.Clusters, n.Clusters...)
	}
	slices.Sort(out.Sources)
	slices.Sort(out.Clusters)
	out.Sources, out.Clusters = slices.Compact(out.Sources), slices.Compact(out.Clusters)
	return out
}

// lookupFailure says what a failed lookup needs: a 403 is the missing read scope, named; a 400 is a
// refused lookup. Anything else (rate limit, transient) is classified as usual.
func lookupFailure(err error) error {
	le, ok := errors.AsType[*tenant.LookupError](err)
	if !ok {
		return err
	}
	switch identitynow.KindOf(err) {
	case identitynow.KindForbidden:
		return stall(simv1alpha1.ReasonForbidden,
			"IdentityNow refused to list %s (403), which resolving references by name needs: the API client needs the scope %s: %s",
			le.API, le.Scope, remoteMessage(err))
	case identitynow.KindInvalid:
		return stall(simv1alpha1.ReasonInvalidSpec, "IdentityNow refused the %s lookup (400): %s", le.API, remoteMessage(err))
	}
	return err
}
