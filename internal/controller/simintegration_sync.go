package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/diff"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// target is where the remote object of a SimIntegration stands.
type target struct {
	// remote is the observed object; nil when it must be created.
	remote *identitynow.Integration
	// listedAt is when the observation of remote was sent.
	listedAt time.Time
	// claim: the object is not yet recorded in status.id (adoption, or our own interrupted create).
	claim bool
	// adopted: taken over rather than created by this resource.
	adopted bool
	// vanished names the id that status.id records and the tenant no longer has.
	vanished string
}

// locate finds the SimIntegration's remote object in a view: by the known id, by the external-id
// annotation, then by name. It decides NameConflict and RemoteNotFound; it calls nothing.
func locate(obj *simv1alpha1.SimIntegration, p policy, knownID string, view tenant.View) (target, error) {
	if knownID != "" {
		if it, ok := view.ByID(knownID); ok {
			return target{remote: &it, listedAt: view.ListedAt}, nil
		}
		return target{vanished: knownID}, nil
	}
	if ext := obj.Annotations[simv1alpha1.AnnotationExternalID]; ext != "" {
		if it, ok := view.ByID(ext); ok {
			return target{remote: &it, listedAt: view.ListedAt, claim: true, adopted: true}, nil
		}
		return target{}, errRemoteNotFound(fmt.Sprintf("no remote integration has the id %s named by the %s annotation", ext, simv1alpha1.AnnotationExternalID))
	}
	name := obj.RemoteName()
	it, ok := view.ByName(name)
	switch {
	case !ok && !p.manages():
		return target{}, errRemoteNotFound(fmt.Sprintf("no remote integration is named %q", name))
	case !ok:
		return target{}, nil
	case p.adoptsByName():
		return target{remote: &it, listedAt: view.ListedAt, claim: true, adopted: true}, nil
	case obj.Status.PendingCreate != nil && obj.Status.PendingCreate.Name == name:
		return target{remote: &it, listedAt: view.ListedAt, claim: true}, nil
	}
	return target{}, stall(simv1alpha1.ReasonNameConflict,
		"a remote integration named %q (id %s) exists that this SimIntegration did not create; set spec.adoptionPolicy: AdoptByName or the %s annotation to take it over",
		name, it.ID, simv1alpha1.AnnotationExternalID)
}

// remoteNotFound is not an error for ObserveOnly: Ready=False, reason RemoteNotFound, polled again.
type remoteNotFound struct{ message string }

func (e *remoteNotFound) Error() string { return e.message }

func errRemoteNotFound(msg string) error { return &remoteNotFound{message: msg} }

// sync brings the remote object to the desired state, or (ObserveOnly) reports how it differs.
func (r *SimIntegrationReconciler) sync(ctx context.Context, s *scope) (outcome, error) {
	view, err := r.observe(ctx, s)
	if err != nil {
		return outcome{}, err
	}
	t, err := locate(s.obj, s.policy, r.creates.KnownID(s.obj), view)
	if nf, ok := errors.AsType[*remoteNotFound](err); ok {
		if !s.policy.manages() {
			s.obj.Status.Drift = nil
			return notReady(simv1alpha1.ReasonRemoteNotFound, nf.message), nil
		}
		return outcome{}, stall(simv1alpha1.ReasonInvalidSpec, "%s", nf.message)
	}
	if err != nil {
		return outcome{}, err
	}
	if t.vanished != "" {
		if t, err = r.confirmVanished(ctx, s, t.vanished); err != nil {
			return outcome{}, err
		}
	}
	switch {
	case !s.policy.manages():
		return r.reportDrift(s, t), nil
	case !s.policy.writesRemote():
		return r.reportFrozen(s, t), nil
	case t.remote == nil:
		return r.create(ctx, s, t.vanished != "")
	}
	if err := r.ensureFinalizer(ctx, s); err != nil {
		return outcome{}, err
	}
	if t.claim {
		if err := r.claim(ctx, s, t); err != nil {
			return outcome{}, err
		}
	}
	return r.update(ctx, s, *t.remote, t.listedAt)
}

// observe returns the tenant snapshot, fresh enough for this object: after an interrupted create it
// must have been listed after that create ended.
func (r *SimIntegrationReconciler) observe(ctx context.Context, s *scope) (tenant.View, error) {
	var notBefore time.Time
	if s.fresh {
		notBefore = r.now()
	}
	if pc := s.obj.Status.PendingCreate; pc != nil && s.obj.Status.ID == "" {
		// status times have second precision: the create began at most a second after StartedAt.
		notBefore = later(notBefore, pc.StartedAt.Add(time.Second))
	}
	notBefore = later(notBefore, r.creates.AmbiguousEnd(s.obj))
	return s.conn.Snapshot.Get(ctx, notBefore)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// confirmVanished reads an object that status.id names and the list no longer has: a direct read
// that finds it wins over the list. It returns the object, or target.vanished when it is gone.
func (r *SimIntegrationReconciler) confirmVanished(ctx context.Context, s *scope, id string) (target, error) {
	it, err := s.conn.Remote.Get(ctx, id)
	if err == nil {
		s.conn.Snapshot.Put(*it)
		return target{remote: it, listedAt: r.now()}, nil
	}
	if !identitynow.IsNotFound(err) {
		return target{}, err
	}
	s.conn.Snapshot.Remove(id)
	return target{vanished: id}, nil
}

// claim records an adopted (or recovered) remote object in status.id, unless another SimIntegration
// manages it already.
func (r *SimIntegrationReconciler) claim(ctx context.Context, s *scope, t target) error {
	owner, err := r.managedBy(ctx, s, t.remote.ID)
	if err != nil {
		return err
	}
	if owner != nil {
		return stall(simv1alpha1.ReasonAlreadyManaged, "remote integration %s is already managed by SimIntegration %s/%s",
			t.remote.ID, owner.Namespace, owner.Name)
	}
	s.obj.Status.ID = t.remote.ID
	s.obj.Status.PendingCreate = nil
	r.creates.Created(s.obj, t.remote.ID)
	if t.adopted {
		r.event(s.obj, corev1.EventTypeNormal, "Adopted", "Adopt", "Adopted remote integration %s", t.remote.ID)
	}
	return nil
}

// managedBy returns another SimIntegration that claimed the same remote object first, if any.
// Observers never write, so they claim nothing and block no one.
func (r *SimIntegrationReconciler) managedBy(ctx context.Context, s *scope, id string) (*simv1alpha1.SimIntegration, error) {
	list := &simv1alpha1.SimIntegrationList{}
	if err := r.List(ctx, list, client.MatchingFields{indexRemoteID: id}); err != nil {
		return nil, err
	}
	obj := s.obj
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == obj.UID || !policyFor(&other.Spec).manages() || !r.sameEndpoint(other, obj, s.conn) {
			continue
		}
		if obj.Status.ID != id || claimedEarlier(other, obj) {
			return other, nil
		}
	}
	return nil, nil
}

// claimedEarlier breaks a tie between two objects that both recorded the same id: the older wins.
func claimedEarlier(a, b *simv1alpha1.SimIntegration) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

func (r *SimIntegrationReconciler) sameEndpoint(other, obj *simv1alpha1.SimIntegration, conn *tenant.Connection) bool {
	ref := other.Spec.TenantRef
	if c, ok := r.Tenants.Registry.Lookup(tenant.Key(ref.Kind, other.Namespace, ref.Name)); ok {
		return c.Endpoint == conn.Endpoint
	}
	return tenantRefKey(ref) == tenantRefKey(obj.Spec.TenantRef) &&
		(ref.Kind == simv1alpha1.TenantKindClusterTenant || other.Namespace == obj.Namespace)
}

// create sends the POST once, after persisting a marker that lets a restarted operator recognise its
// own object by name instead of creating a second one. recreated: the object it replaces was deleted
// outside Kubernetes.
func (r *SimIntegrationReconciler) create(ctx context.Context, s *scope, recreated bool) (outcome, error) {
	obj, conn := s.obj, s.conn
	if recreated {
		obj.Status.ID, obj.Status.LastApplied = "", nil
	}
	if err := r.prepareCreate(ctx, s); err != nil {
		return outcome{}, err
	}
	it, err := conn.Remote.Create(ctx, s.want.Details)
	if err != nil {
		switch identitynow.KindOf(err) {
		case identitynow.KindTransport, identitynow.KindServer:
			// The create may have landed: keep the marker and look it up by name in a later list.
			r.creates.EndedAmbiguously(obj, r.now())
			conn.Snapshot.Expire()
		case identitynow.KindRateLimited:
		default:
			obj.Status.PendingCreate = nil
			conn.Snapshot.Expire()
			if taken := r.nameTakenMeanwhile(ctx, s); taken != nil {
				return outcome{}, taken
			}
		}
		return outcome{}, err
	}
	conn.Snapshot.Put(*it)
	r.creates.Created(obj, it.ID)
	obj.Status.ID, obj.Status.PendingCreate = it.ID, nil
	if recreated {
		r.event(obj, corev1.EventTypeWarning, "Recreated", "Create", "Remote integration was deleted outside Kubernetes; recreated it as %s", it.ID)
		countRecreated(obj)
	} else {
		r.event(obj, corev1.EventTypeNormal, "Created", "Create", "Created remote integration %s", it.ID)
	}
	r.synced(s, *it, true)
	return ready(simv1alpha1.ReasonSynced, "Remote integration created"), nil
}

// prepareCreate persists the finalizer and the create marker, both needed before the POST. They are
// independent writes (metadata and the status subresource, neither with a resourceVersion
// precondition), so they are sent at the same time: a create waits for one apiserver round trip
// instead of two.
func (r *SimIntegrationReconciler) prepareCreate(ctx context.Context, s *scope) error {
	withFinalizer, withMarker := *s, *s
	withFinalizer.obj, withMarker.obj = s.obj.DeepCopy(), s.obj.DeepCopy()
	var g errgroup.Group
	g.Go(func() error { return r.ensureFinalizer(ctx, &withFinalizer) })
	g.Go(func() error { return r.markCreatePending(ctx, withMarker.obj) })
	if err := g.Wait(); err != nil {
		return err
	}
	s.obj.Finalizers = withFinalizer.obj.Finalizers
	s.obj.Status = withMarker.obj.Status
	s.obj.ResourceVersion = newerVersion(withFinalizer.obj.ResourceVersion, withMarker.obj.ResourceVersion)
	return nil
}

// newerVersion returns the later of two resourceVersions of one object.
func newerVersion(a, b string) string {
	if olderThan(a, b) {
		return b
	}
	return a
}

// markCreatePending persists status.pendingCreate before the POST.
func (r *SimIntegrationReconciler) markCreatePending(ctx context.Context, obj *simv1alpha1.SimIntegration) error {
	name := obj.RemoteName()
	if pc := obj.Status.PendingCreate; pc != nil && pc.Name == name {
		return nil
	}
	orig := obj.DeepCopy()
	obj.Status.PendingCreate = &simv1alpha1.PendingCreate{Name: name, StartedAt: metav1.NewTime(r.now())}
	setConditions(&obj.Status.Conditions, obj.Generation, progressing(simv1alpha1.ReasonCreating, "Creating the remote integration"))
	if err := r.Status().Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		return err
	}
	r.written.WroteAt(obj)
	return nil
}

// reportDrift is ObserveOnly's step: it records how the remote object differs from the spec and never
// writes to it.
func (r *SimIntegrationReconciler) reportDrift(s *scope, t target) outcome {
	st := &s.obj.Status
	if t.remote == nil {
		st.Drift = nil
		return notReady(simv1alpha1.ReasonRemoteNotFound, fmt.Sprintf("Remote integration %s no longer exists", t.vanished))
	}
	it := *t.remote
	st.Drift = differingPaths(it.Fields, s.want, st.LastApplied, true)
	st.PendingCreate = nil
	if len(st.Drift) > 0 {
		st.ID = it.ID
		st.RemoteModified = metaTime(it.Modified)
		return ready(simv1alpha1.ReasonObserved, "Remote integration differs from the spec at "+strings.Join(st.Drift, ", "))
	}
	r.synced(s, it, false)
	return ready(simv1alpha1.ReasonObserved, "Remote integration matches the spec")
}

// reportFrozen is the step of a managed object whose tenant is suspended (a change freeze): it records
// in status.drift how the remote object differs from the spec, and writes nothing remotely.
func (r *SimIntegrationReconciler) reportFrozen(s *scope, t target) outcome {
	st := &s.obj.Status
	if t.remote == nil {
		st.Drift = nil
		if t.vanished != "" {
			return tenantSuspended(s, fmt.Sprintf("remote integration %s was deleted outside Kubernetes; it is recreated once the tenant is resumed", t.vanished))
		}
		return tenantSuspended(s, "the remote integration is created once the tenant is resumed")
	}
	st.Drift = differingPaths(t.remote.Fields, s.want, st.LastApplied, false)
	if len(st.Drift) == 0 {
		return tenantSuspended(s, "the remote integration matches the spec")
	}
	return tenantSuspended(s, "the remote integration differs from the spec at "+strings.Join(st.Drift, ", ")+
		"; the difference is corrected once the tenant is resumed")
}

// tenantSuspended is the outcome of a change freeze: Ready is left as it was, Reconciling and Stalled
// are False with the reason TenantSuspended.
func tenantSuspended(s *scope, detail string) outcome {
	ref := s.obj.Spec.TenantRef
	kind := ref.Kind
	if kind == "" {
		kind = simv1alpha1.TenantKindTenant
	}
	return outcome{outcomeSuspended, simv1alpha1.ReasonTenantSuspended,
		fmt.Sprintf("%s %q is suspended (a change freeze): no remote writes; %s", kind, ref.Name, detail)}
}

// update sends what differs, as a PATCH (or a PUT for updateStrategy Put).
func (r *SimIntegrationReconciler) update(ctx context.Context, s *scope, it identitynow.Integration, listedAt time.Time) (outcome, error) {
	obj, conn, want := s.obj, s.conn, s.want
	strategy := conn.Spec.UpdateStrategy
	cs, err := changesFor(it.Fields, want, obj.Status.LastApplied, strategy)
	if err != nil {
		return outcome{}, err
	}
	if cs.empty() {
		r.synced(s, it, false)
		return ready(simv1alpha1.ReasonSynced, "Remote integration matches the spec"), nil
	}
	updated, err := r.write(ctx, conn, it.ID, cs)
	if identitynow.KindOf(err) == identitynow.KindInvalid && r.now().Sub(listedAt) > time.Second {
		// The patch was computed from a cached copy that may be out of date: read it and try once more.
		if fresh, gerr := conn.Remote.Get(ctx, it.ID); gerr == nil {
			if cs, err = changesFor(fresh.Fields, want, obj.Status.LastApplied, strategy); err != nil {
				return outcome{}, err
			}
			updated = fresh
			if !cs.empty() {
				updated, err = r.write(ctx, conn, it.ID, cs)
			}
		}
	}
	if err != nil {
		return outcome{}, err
	}
	conn.Snapshot.Put(*updated)
	if isDrift(obj, want) {
		r.event(obj, corev1.EventTypeWarning, "DriftCorrected", "Update", "Corrected changes made outside Kubernetes at %s", strings.Join(cs.paths, ", "))
		countDriftCorrected(obj)
	} else {
		r.event(obj, corev1.EventTypeNormal, "Updated", "Update", "Updated remote integration %s at %s", it.ID, strings.Join(cs.paths, ", "))
	}
	r.synced(s, *updated, true)
	return ready(simv1alpha1.ReasonSynced, "Remote integration updated"), nil
}

// changeSet is what an update sends: the differing top-level paths, and either JSON Patch operations
// (for the main route and the rule's own route) or the full document of a PUT.
type changeSet struct {
	paths      []string
	main, rule []identitynow.Operation
	put        *identitynow.Details
}

func (c changeSet) empty() bool { return len(c.main)+len(c.rule) == 0 && c.put == nil }

// changesFor computes what an update of the observed remote fields sends under strategy. It is the
// one place that decides it: the reconciler sends it, and `kubectl sim diff` (ComputePlan) prints it.
func changesFor(observed map[string]any, want desiredState, last *simv1alpha1.LastApplied, strategy simv1alpha1.UpdateStrategy) (changeSet, error) {
	d := diff.Compute(comparableObserved(observed, want, last, false), want.Doc)
	cs := changeSet{paths: d.Paths}
	if d.Empty() {
		return cs, nil
	}
	if strategy == simv1alpha1.UpdateStrategyPut {
		full, err := putDocument(observed, want)
		if err != nil {
			return cs, err
		}
		cs.put = &full
		return cs, nil
	}
	cs.main, cs.rule = diff.Split(d.Operations)
	return cs, nil
}

// differingPaths lists the top-level paths where the observed fields differ from the desired ones. An
// observer has no last-applied record and compares only what the remote shows.
func differingPaths(observed map[string]any, want desiredState, last *simv1alpha1.LastApplied, observeOnly bool) []string {
	return diff.Compute(comparableObserved(observed, want, last, observeOnly), want.Doc).Paths
}

// isDrift says whether a difference found now comes from outside: this generation was already synced
// and nothing the operator sends (spec fields, Secret versions) changed since.
func isDrift(obj *simv1alpha1.SimIntegration, want desiredState) bool {
	return obj.Status.ObservedGeneration == obj.Generation && obj.Status.LastApplied != nil &&
		equality.Semantic.DeepEqual(*obj.Status.LastApplied, want.Applied)
}

// write sends a change set: the PUT, or the PATCHes of the main route and the rule's route.
func (r *SimIntegrationReconciler) write(ctx context.Context, conn *tenant.Connection, id string, cs changeSet) (*identitynow.Integration, error) {
	if cs.put != nil {
		return conn.Remote.Put(ctx, id, *cs.put)
	}
	var updated *identitynow.Integration
	var err error
	if len(cs.main) > 0 {
		if updated, err = conn.Remote.Patch(ctx, id, cs.main); err != nil {
			return nil, err
		}
	}
	if len(cs.rule) > 0 {
		if updated, err = conn.Remote.PatchBeforeProvisioningRule(ctx, id, cs.rule); err != nil {
			return nil, err
		}
	}
	return updated, nil
}

// synced records a confirmed match: remote times, the last-applied record (for a managed object), and
// lastSyncTime (moved while nothing changes only once per lastSyncRefresh or poll interval, whichever
// is longer, so that a short poll interval does not make every idle object write its status).
func (r *SimIntegrationReconciler) synced(s *scope, it identitynow.Integration, wrote bool) {
	st := &s.obj.Status
	st.ID = it.ID
	st.RemoteCreated = metaTime(it.Created)
	st.RemoteModified = metaTime(it.Modified)
	if s.policy.manages() {
		applied := s.want.Applied
		st.LastApplied = &applied
		st.Drift = nil
	}
	now := r.now()
	if wrote || st.ObservedGeneration != s.obj.Generation || lastSyncDue(st.LastSyncTime, now, s.conn.PollInterval()) {
		st.LastSyncTime = &metav1.Time{Time: now}
	}
}

// lastSyncRefresh is how often lastSyncTime moves at least while nothing changes. Each move is one
// status write per object: at a 1-minute poll interval, 10,000 idle objects would otherwise write 167
// statuses a second (docs/benchmarks.md).
const lastSyncRefresh = 10 * time.Minute

// lastSyncDue reports whether an unchanged object's lastSyncTime should move to now.
func lastSyncDue(last *metav1.Time, now time.Time, poll time.Duration) bool {
	return last == nil || now.Sub(last.Time) >= max(poll, lastSyncRefresh)
}

// metaTime is t as a status keeps it: to the second, as metav1.Time is stored. The remote's times carry
// milliseconds; kept whole, they would differ from the cached status on every reconcile, and every idle
// object would write its status once per poll interval.
func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t.Truncate(time.Second)}
}

// finalize deletes the remote object (unless the policy keeps it) and then releases the finalizer.
func (r *SimIntegrationReconciler) finalize(ctx context.Context, s *scope) (outcome, error) {
	obj := s.obj
	if !controllerutil.ContainsFinalizer(obj, simv1alpha1.Finalizer) {
		return deleted(), nil
	}
	id := r.creates.KnownID(obj)
	owns := s.policy.manages() && (id != "" || obj.Status.PendingCreate != nil)
	switch {
	case owns && s.policy.deletesRemote():
		if err := r.connectForDelete(ctx, s); err != nil {
			return outcome{}, err
		}
		if s.policy.frozen { // the finalizer stays until the tenant is resumed
			return tenantSuspended(s, "the remote integration is deleted once the tenant is resumed"), nil
		}
		if err := r.deleteRemote(ctx, s, id); err != nil {
			return outcome{}, err
		}
	case owns:
		r.event(obj, corev1.EventTypeNormal, "Orphaned", "Delete", "Left remote integration %s in place (deletionPolicy: %s, suspend: %t)",
			id, obj.Spec.DeletionPolicy, obj.Spec.Suspend)
	}
	return deleted(), r.removeFinalizer(ctx, obj)
}

// connectForDelete connects for a remote delete. A namespace being deleted may already have lost the
// tenant's Secret; the tenant itself is held by its finalizer, and its last connection still works
// (for a namespace it still allows).
func (r *SimIntegrationReconciler) connectForDelete(ctx context.Context, s *scope) error {
	err := r.connect(ctx, s)
	if err == nil {
		return nil
	}
	last, ok := r.Tenants.LastConnection(ctx, s.obj.Spec.TenantRef, s.obj.Namespace)
	if !ok {
		return err
	}
	s.conn = last
	return nil
}

// deleteRemote deletes the remote object; a create that was interrupted is first found by name.
func (r *SimIntegrationReconciler) deleteRemote(ctx context.Context, s *scope, id string) error {
	obj, conn := s.obj, s.conn
	if id == "" {
		view, err := r.observe(ctx, s)
		if err != nil {
			return err
		}
		it, ok := view.ByName(obj.Status.PendingCreate.Name)
		if !ok {
			return nil // the interrupted create never landed
		}
		id = it.ID
	}
	if err := conn.Remote.Delete(r.withReadableSecretValues(ctx, obj), id); err != nil && !identitynow.IsNotFound(err) {
		return err
	}
	conn.Snapshot.Remove(id)
	r.event(obj, corev1.EventTypeNormal, "Deleted", "Delete", "Deleted remote integration %s", id)
	return nil
}

// withReadableSecretValues declares sensitive the secret attribute values that can still be read, so
// that an error echoing the stored object is redacted on delete too. A Secret already gone (a namespace
// being deleted) does not hold the delete up: its value simply cannot be declared.
func (r *SimIntegrationReconciler) withReadableSecretValues(ctx context.Context, obj *simv1alpha1.SimIntegration) context.Context {
	var values []string
	for _, key := range secretKeys(obj) {
		if v, err := r.Tenants.Secrets.Value(ctx, key); err == nil {
			values = append(values, string(v.Value))
		}
	}
	return identitynow.WithSensitive(ctx, values...)
}
