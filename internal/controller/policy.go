package controller

import simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"

// policy is what the operator may do to one SimIntegration's remote object, resolved once per
// reconcile from spec.managementPolicy, spec.adoptionPolicy, spec.deletionPolicy and spec.suspend,
// and, once the tenant is read, its spec.suspend (frozen). The steps ask it rather than read those
// fields (crossplane-runtime resolves management policies the same way), so each rule is written once.
type policy struct {
	observeOnly bool
	adoptByName bool
	orphan      bool
	suspended   bool
	// frozen: the tenant is suspended (a change freeze): read and report, write nothing remotely.
	frozen bool
}

func policyFor(spec *simv1alpha1.SimIntegrationSpec) policy {
	return policy{
		observeOnly: spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly,
		adoptByName: spec.AdoptionPolicy == simv1alpha1.AdoptionPolicyAdoptByName,
		orphan:      spec.DeletionPolicy == simv1alpha1.DeletionPolicyOrphan,
		suspended:   spec.Suspend,
	}
}

// callsRemote is false while suspended: no remote call at all, not even a read.
func (p policy) callsRemote() bool { return !p.suspended }

// manages says the operator creates, updates, claims and may delete the remote object. Otherwise
// (ObserveOnly) it only reads it and reports how it differs from the spec.
func (p policy) manages() bool { return !p.observeOnly }

// adoptsByName says a remote object found by name (not created by this resource) is taken over.
// Observers take it: they only read it.
func (p policy) adoptsByName() bool { return p.observeOnly || p.adoptByName }

// holdsFinalizer says deletion must wait for the operator: anything that may write remotely.
func (p policy) holdsFinalizer() bool { return p.manages() }

// deletesRemote says the remote object goes when the SimIntegration does; a suspended object's is
// left in place, as is an orphaned one's. While the tenant is frozen the delete waits.
func (p policy) deletesRemote() bool { return p.manages() && !p.orphan && !p.suspended }

// writesRemote says the operator may create or update the remote object now: it manages it and the
// tenant is not frozen.
func (p policy) writesRemote() bool { return p.manages() && !p.frozen }
