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
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/diff"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// target is where the remote object of a SimIntegration stands.
type target struct {
	// remote is the observed object; nil when it must be created.
	remote *identitynow.Integration
	// claim: the object is not yet recorded in status.id (adoption, or our own interrupted create).
	claim bool
	// adopted: taken over rather than created by this resource.
	adopted bool
	// vanished: status.id names an object the tenant no longer lists.
	vanished bool
}

// locate finds the SimIntegration's remote object in a view: by the stored id, by the external-id
// annotation, then by name. It decides NameConflict and RemoteNotFound; it calls nothing.
func locate(obj *simv1alpha1.SimIntegration, knownID string, view tenant.View) (target, error) {
	observeOnly := obj.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly
	if knownID != "" {
		if it, ok := view.ByID(knownID); ok {
			return target{remote: &it}, nil
		}
		return target{vanished: true}, nil
	}
	if ext := obj.Annotations[simv1alpha1.AnnotationExternalID]; ext != "" {
		if it, ok := view.ByID(ext); ok {
			return target{remote: &it, claim: true, adopted: true}, nil
		}
		return target{}, errRemoteNotFound(fmt.Sprintf("no remote integration has the id %s named by the %s annotation", ext, simv1alpha1.AnnotationExternalID))
	}
	name := obj.RemoteName()
	it, ok := view.ByName(name)
	switch {
	case !ok && observeOnly:
		return target{}, errRemoteNotFound(fmt.Sprintf("no remote integration is named %q", name))
	case !ok:
		return target{}, nil
	case observeOnly || obj.Spec.AdoptionPolicy == simv1alpha1.AdoptionPolicyAdoptByName:
		return target{remote: &it, claim: true, adopted: true}, nil
	case obj.Status.PendingCreate != nil && obj.Status.PendingCreate.Name == name:
		return target{remote: &it, claim: true}, nil
	}
	return target{}, stall(simv1alpha1.ReasonNameConflict,
		"a remote integration named %q (id %s) exists that this SimIntegration did not create; set spec.adoptionPolicy: AdoptByName or the %s annotation to take it over",
		name, it.ID, simv1alpha1.AnnotationExternalID)
}

// remoteNotFound is not an error for ObserveOnly: Ready=False, reason RemoteNotFound, polled again.
type remoteNotFound struct{ message string }

func (e *remoteNotFound) Error() string { return e.message }

func errRemoteNotFound(msg string) error { return &remoteNotFound{message: msg} }

// sync brings the remote object to the desired state (or, ObserveOnly, reports how it differs).
func (r *SimIntegrationReconciler) sync(ctx context.Context, obj *simv1alpha1.SimIntegration, conn *tenant.Connection,
	want desiredState, fresh bool) (outcome, reconcile.Result, error) {
	view, err := r.observe(ctx, obj, conn, fresh)
	if err != nil {
		return outcome{}, reconcile.Result{}, err
	}
	knownID := obj.Status.ID
	if knownID == "" {
		knownID = r.recall(obj).id
	}
	t, err := locate(obj, knownID, view)
	if nf := (*remoteNotFound)(nil); errors.As(err, &nf) {
		if obj.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly {
			obj.Status.Drift = nil
			return outcome{outcomeNotReady, simv1alpha1.ReasonRemoteNotFound, nf.message}, pollRequeue(conn), nil
		}
		return outcome{}, reconcile.Result{}, stall(simv1alpha1.ReasonInvalidSpec, "%s", nf.message)
	}
	if err != nil {
		return outcome{}, reconcile.Result{}, err
	}
	if t.remote == nil && !t.vanished {
		return r.create(ctx, obj, conn, want, false)
	}
	if err := r.ensureFinalizer(ctx, obj); err != nil {
		return outcome{}, reconcile.Result{}, err
	}
	if t.vanished {
		return r.recreate(ctx, obj, conn, want, knownID)
	}
	if t.claim {
		if err := r.claim(ctx, obj, conn, t); err != nil {
			return outcome{}, reconcile.Result{}, err
		}
	}
	return r.update(ctx, obj, conn, want, *t.remote, view.ListedAt)
}

// observe returns the tenant snapshot, fresh enough for this object: after an interrupted create it
// must have been listed after that create ended.
func (r *SimIntegrationReconciler) observe(ctx context.Context, obj *simv1alpha1.SimIntegration, conn *tenant.Connection, fresh bool) (tenant.View, error) {
	var notBefore time.Time
	if fresh {
		notBefore = r.now()
	}
	if pc := obj.Status.PendingCreate; pc != nil && obj.Status.ID == "" {
		// status times have second precision: the create began at most a second after StartedAt.
		notBefore = later(notBefore, pc.StartedAt.Add(time.Second))
	}
	notBefore = later(notBefore, r.recall(obj).createEndedAt)
	return conn.Snapshot.Get(ctx, conn.List, conn.PollInterval(), notBefore)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// claim records an adopted (or recovered) remote object in status.id, unless another SimIntegration
// manages it already.
func (r *SimIntegrationReconciler) claim(ctx context.Context, obj *simv1alpha1.SimIntegration, conn *tenant.Connection, t target) error {
	var owner *simv1alpha1.SimIntegration
	if obj.Spec.ManagementPolicy != simv1alpha1.ManagementPolicyObserveOnly {
		var err error
		if owner, err = r.managedBy(ctx, obj, conn, t.remote.ID); err != nil {
			return err
		}
	}
	if owner != nil {
		return stall(simv1alpha1.ReasonAlreadyManaged, "remote integration %s is already managed by SimIntegration %s/%s",
			t.remote.ID, owner.Namespace, owner.Name)
	}
	obj.Status.ID = t.remote.ID
	obj.Status.PendingCreate = nil
	r.remember(obj, func(m *memo) { m.id = t.remote.ID })
	if t.adopted && obj.Spec.ManagementPolicy != simv1alpha1.ManagementPolicyObserveOnly {
		r.event(obj, corev1.EventTypeNormal, "Adopted", "Adopt", "Adopted remote integration %s", t.remote.ID)
	}
	return nil
}

// managedBy returns another SimIntegration that claimed the same remote object first, if any.
// Observers (ObserveOnly) never write, so they claim nothing and block no one.
func (r *SimIntegrationReconciler) managedBy(ctx context.Context, obj *simv1alpha1.SimIntegration, conn *tenant.Connection, id string) (*simv1alpha1.SimIntegration, error) {
	list := &simv1alpha1.SimIntegrationList{}
	if err := r.List(ctx, list, client.MatchingFields{indexRemoteID: id}); err != nil {
		return nil, err
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == obj.UID || other.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly ||
			!r.sameEndpoint(other, obj, conn) {
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
// own object by name instead of creating a second one.
func (r *SimIntegrationReconciler) create(ctx context.Context, obj *simv1alpha1.SimIntegration, conn *tenant.Connection,
	want desiredState, recreated bool) (outcome, reconcile.Result, error) {
	if obj.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly {
		return outcome{outcomeNotReady, simv1alpha1.ReasonRemoteNotFound, "The remote integration does not exist"}, pollRequeue(conn), nil
	}
	if err := r.prepareCreate(ctx, obj); err != nil {
		return outcome{}, reconcile.Result{}, err
	}
	it, err := conn.Remote.Create(ctx, want.Details)
	if err != nil {
		switch identitynow.KindOf(err) {
		case identitynow.KindTransport, identitynow.KindServer:
			// The create may have landed: keep the marker and look it up by name in a later list.
			r.remember(obj, func(m *memo) { m.createEndedAt = r.now() })
			conn.Snapshot.Expire()
		case identitynow.KindRateLimited:
		default:
			obj.Status.PendingCreate = nil
			conn.Snapshot.Expire()
		}
		return outcome{}, reconcile.Result{}, err
	}
	conn.Snapshot.Put(*it)
	r.remember(obj, func(m *memo) { m.id = it.ID })
	obj.Status.ID, obj.Status.PendingCreate = it.ID, nil
	if recreated {
		r.event(obj, corev1.EventTypeWarning, "Recreated", "Create", "Remote integration was deleted outside Kubernetes; recreated it as %s", it.ID)
	} else {
		r.event(obj, corev1.EventTypeNormal, "Created", "Create", "Created remote integration %s", it.ID)
	}
	r.synced(obj, conn, want, *it, true)
	return ready(simv1alpha1.ReasonSynced, "Remote integration created"), pollRequeue(conn), nil
}

// prepareCreate persists the finalizer and the create marker, both needed before the POST. They are
// independent writes (metadata and the status subresource, neither with a resourceVersion
// precondition), so they are sent at the same time: a create waits for one apiserver round trip
// instead of two.
func (r *SimIntegrationReconciler) prepareCreate(ctx context.Context, obj *simv1alpha1.SimIntegration) error {
	withFinalizer, withMarker := obj.DeepCopy(), obj.DeepCopy()
	var g errgroup.Group
	g.Go(func() error { return r.ensureFinalizer(ctx, withFinalizer) })
	g.Go(func() error { return r.markCreatePending(ctx, withMarker) })
	if err := g.Wait(); err != nil {
		return err
	}
	obj.Finalizers = withFinalizer.Finalizers
	obj.Status = withMarker.Status
	obj.ResourceVersion = newerVersion(withFinalizer.ResourceVersion, withMarker.ResourceVersion)
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
	return r.Status().Patch(ctx, obj, client.MergeFrom(orig))
}

// recreate replaces a remote object deleted outside Kubernetes, once a direct read confirms it is gone.
func (r *SimIntegrationReconciler) recreate(ctx context.Context, obj *simv1alpha1.SimIntegration, conn *tenant.Connection,
	want desiredState, id string) (outcome, reconcile.Result, error) {
	it, err := conn.Remote.Get(ctx, id)
	if err == nil {
		conn.Snapshot.Put(*it)
		return r.update(ctx, obj, conn, want, *it, r.now())
	}
	if !identitynow.IsNotFound(err) {
		return outcome{}, reconcile.Result{}, err
	}
	conn.Snapshot.Remove(id)
	if obj.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly {
		obj.Status.Drift = nil
		return outcome{outcomeNotReady, simv1alpha1.ReasonRemoteNotFound, fmt.Sprintf("Remote integration %s no longer exists", id)}, pollRequeue(conn), nil
	}
	obj.Status.ID, obj.Status.LastApplied = "", nil
	r.remember(obj, func(m *memo) { m.id = "" })
	return r.create(ctx, obj, conn, want, true)
}

// update sends what differs (PATCH, or PUT for updateStrategy Put); ObserveOnly only reports it.
func (r *SimIntegrationReconciler) update(ctx context.Context, obj *simv1alpha1.SimIntegration, conn *tenant.Connection,
	want desiredState, it identitynow.Integration, listedAt time.Time) (outcome, reconcile.Result, error) {
	observeOnly := obj.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly
	d := diff.Compute(comparableObserved(it.Fields, want, obj.Status.LastApplied, observeOnly), want.Doc)
	if observeOnly {
		obj.Status.Drift = d.Paths
		if d.Empty() {
			r.synced(obj, conn, want, it, false)
		} else {
			obj.Status.ID = it.ID
			obj.Status.RemoteModified = metaTime(it.Modified)
		}
		msg := "Remote integration matches the spec"
		if !d.Empty() {
			msg = "Remote integration differs from the spec at " + strings.Join(d.Paths, ", ")
		}
		return ready(simv1alpha1.ReasonObserved, msg), pollRequeue(conn), nil
	}
	if d.Empty() {
		r.synced(obj, conn, want, it, false)
		return ready(simv1alpha1.ReasonSynced, "Remote integration matches the spec"), pollRequeue(conn), nil
	}
	updated, err := r.write(ctx, conn, it, want, d)
	if identitynow.KindOf(err) == identitynow.KindInvalid && r.now().Sub(listedAt) > time.Second {
		// The patch was computed from a cached copy that may be out of date: read it and try once more.
		if fresh, gerr := conn.Remote.Get(ctx, it.ID); gerr == nil {
			d = diff.Compute(comparableObserved(fresh.Fields, want, obj.Status.LastApplied, false), want.Doc)
			updated, err = fresh, nil
			if !d.Empty() {
				updated, err = r.write(ctx, conn, *fresh, want, d)
			}
		}
	}
	if err != nil {
		return outcome{}, reconcile.Result{}, err
	}
	conn.Snapshot.Put(*updated)
	if isDrift(obj, want) {
		r.event(obj, corev1.EventTypeWarning, "DriftCorrected", "Update", "Corrected changes made outside Kubernetes at %s", strings.Join(d.Paths, ", "))
	} else {
		r.event(obj, corev1.EventTypeNormal, "Updated", "Update", "Updated remote integration %s at %s", it.ID, strings.Join(d.Paths, ", "))
	}
	r.synced(obj, conn, want, *updated, true)
	return ready(simv1alpha1.ReasonSynced, "Remote integration updated"), pollRequeue(conn), nil
}

// isDrift says whether a difference found now comes from outside: this generation was already synced
// and nothing the operator sends (spec fields, Secret versions) changed since.
func isDrift(obj *simv1alpha1.SimIntegration, want desiredState) bool {
	return obj.Status.ObservedGeneration == obj.Generation && obj.Status.LastApplied != nil &&
		equality.Semantic.DeepEqual(*obj.Status.LastApplied, want.Applied)
}

// write sends the operations with the tenant's update strategy.
func (r *SimIntegrationReconciler) write(ctx context.Context, conn *tenant.Connection, it identitynow.Integration, want desiredState, d diff.Result) (*identitynow.Integration, error) {
	id := it.ID
	if conn.Spec.UpdateStrategy == simv1alpha1.UpdateStrategyPut {
		full, err := putDocument(it.Fields, want)
		if err != nil {
			return nil, err
		}
		return conn.Remote.Put(ctx, id, full)
	}
	main, rule := diff.Split(d.Operations)
	var updated *identitynow.Integration
	var err error
	if len(main) > 0 {
		if updated, err = conn.Remote.Patch(ctx, id, main); err != nil {
			return nil, err
		}
	}
	if len(rule) > 0 {
		if updated, err = conn.Remote.PatchBeforeProvisioningRule(ctx, id, rule); err != nil {
			return nil, err
		}
	}
	return updated, nil
}

// synced records a confirmed match: remote times, the last-applied record, and lastSyncTime (moved at
// most once per poll interval while nothing changes, to keep idle objects free of status writes).
func (r *SimIntegrationReconciler) synced(obj *simv1alpha1.SimIntegration, conn *tenant.Connection, want desiredState, it identitynow.Integration, wrote bool) {
	st := &obj.Status
	st.ID = it.ID
	st.RemoteCreated = metaTime(it.Created)
	st.RemoteModified = metaTime(it.Modified)
	if obj.Spec.ManagementPolicy != simv1alpha1.ManagementPolicyObserveOnly {
		applied := want.Applied
		st.LastApplied = &applied
		st.Drift = nil
	}
	now := r.now()
	if wrote || st.LastSyncTime == nil || st.ObservedGeneration != obj.Generation || now.Sub(st.LastSyncTime.Time) >= conn.PollInterval() {
		st.LastSyncTime = &metav1.Time{Time: now}
	}
}

func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t}
}

// finalize deletes the remote object (unless it is orphaned) and then releases the finalizer.
func (r *SimIntegrationReconciler) finalize(ctx context.Context, obj *simv1alpha1.SimIntegration) (outcome, reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, simv1alpha1.Finalizer) {
		return outcome{}, reconcile.Result{}, nil
	}
	id := obj.Status.ID
	if id == "" {
		id = r.recall(obj).id
	}
	pending := obj.Status.PendingCreate != nil
	owns := obj.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyManage && (id != "" || pending)
	switch {
	case owns && obj.Spec.DeletionPolicy == simv1alpha1.DeletionPolicyDelete && !obj.Spec.Suspend:
		if err := r.deleteRemote(ctx, obj, id); err != nil {
			return outcome{}, reconcile.Result{}, err
		}
	case owns:
		r.event(obj, corev1.EventTypeNormal, "Orphaned", "Delete", "Left remote integration %s in place (deletionPolicy: %s, suspend: %t)",
			id, obj.Spec.DeletionPolicy, obj.Spec.Suspend)
	}
	return outcome{}, reconcile.Result{}, r.removeFinalizer(ctx, obj)
}

// deleteRemote deletes the remote object; a create that was interrupted is first found by name.
func (r *SimIntegrationReconciler) deleteRemote(ctx context.Context, obj *simv1alpha1.SimIntegration, id string) error {
	conn, err := r.connect(ctx, obj)
	if err != nil {
		// A namespace being deleted may already have lost the tenant's Secret; the tenant itself is held
		// by its finalizer, and its last connection still works (for a namespace it still allows).
		last, ok := r.lastConnection(ctx, obj)
		if !ok {
			return err
		}
		conn = last
	}
	if id == "" {
		view, err := r.observe(ctx, obj, conn, false)
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
	for _, sa := range obj.Spec.SecretAttributes {
		key := tenant.SecretKey{Namespace: obj.Namespace, Name: sa.SecretKeyRef.Name, Key: sa.SecretKeyRef.Key}
		if v, err := r.Tenants.Secrets.Value(ctx, key); err == nil {
			values = append(values, string(v.Value))
		}
	}
	return identitynow.WithSensitive(ctx, values...)
}
