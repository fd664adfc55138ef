package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// PlanAction is what the operator would do to a SimIntegration's remote object.
type PlanAction string

const (
	// PlanCreate says the remote object does not exist and would be created (Plan.Create is the body).
	PlanCreate PlanAction = "create"
	// PlanRecreate says status.id names an object deleted outside Kubernetes; it would be created again.
	PlanRecreate PlanAction = "recreate"
	// PlanPatch says JSON Patch operations would be sent (Plan.Operations, Plan.RuleOperations).
	PlanPatch PlanAction = "patch"
	// PlanPut says the full object would be sent (Plan.Put), for updateStrategy Put.
	PlanPut PlanAction = "put"
	// PlanNone says nothing would be sent; Plan.Reason says why when it is not simply in sync.
	PlanNone PlanAction = "none"
	// PlanStall says the operator would stop on a condition a human must fix (Plan.Reason, Plan.Message).
	PlanStall PlanAction = "stall"
)

// PlanInput is what ComputePlan needs: the SimIntegration as it would be applied (its spec from the
// manifest; its status, when it exists in the cluster, from there), its secret attributes, its
// tenant's spec and a view of the tenant's remote objects.
type PlanInput struct {
	// Object is the SimIntegration; its status (id, lastApplied, pendingCreate) is the cluster's.
	Object *simv1alpha1.SimIntegration
	// Secrets are the secret attribute values by attribute name, with the Secret they came from.
	Secrets map[string]PlanSecret
	// Tenant is the spec of the tenant the object refers to (update strategy, suspend).
	Tenant simv1alpha1.TenantSpec
	// Remote is the tenant's remote objects, listed once for every object of the tenant.
	Remote tenant.View
	// References is what the tenant's lookups found for the names of spec.sourceRefs and
	// spec.clusterRef (tenant.References.Resolve); unused when the spec names none.
	References tenant.Resolution
	// Get reads one remote object directly (used only when the list lacks status.id); optional.
	Get func(ctx context.Context, id string) (*identitynow.Integration, error)
	// ClaimedBy names ("namespace/name") another managed SimIntegration of the same tenant that
	// records the remote id, if any; optional.
	ClaimedBy func(id string) string
}

// PlanSecret is one secret attribute's value and where it came from.
type PlanSecret struct {
	Value string
	// Secret, Key and ResourceVersion name the Secret key it was read from.
	Secret, Key, ResourceVersion string
}

// Plan is what the operator would do now, computed with the reconciler's own rules (desired state,
// last-applied record, diff, update strategy, management policy). It never holds a secret value:
// secret attributes read "(from Secret NAME key KEY)".
type Plan struct {
	Action PlanAction
	// ID is the remote object's id, when there is one.
	ID string
	// Paths are the top-level paths that differ (or, for an observer or a frozen tenant, would).
	Paths []string
	// Create is the body of a create or recreate.
	Create *identitynow.Details
	// Operations go to the object's route, RuleOperations to its beforeProvisioningRule route.
	Operations, RuleOperations []identitynow.Operation
	// Put is the full document of a PUT.
	Put *identitynow.Details
	// Reason and Message explain a stall, or why nothing would be sent.
	Reason, Message string
}

// ComputePlan says what the operator would send for in.Object now. It makes no remote call except
// in.Get, when the list lacks the object that status.id names.
func ComputePlan(ctx context.Context, in PlanInput) (Plan, error) {
	obj := in.Object
	p := policyFor(&obj.Spec)
	p.frozen = in.Tenant.Suspend
	if !p.callsRemote() {
		return Plan{Action: PlanNone, Reason: simv1alpha1.ReasonSuspended, Message: "spec.suspend is true: nothing is sent"}, nil
	}
	secrets := make(map[string]secretValue, len(in.Secrets))
	for name, sv := range in.Secrets {
		secrets[name] = secretValue{Value: sv.Value, Version: simv1alpha1.SecretVersion{
			Attribute: name, Secret: sv.Secret, Key: sv.Key, ResourceVersion: sv.ResourceVersion}}
	}
	if err := refusePlaceholders(p, secrets); err != nil {
		return stallPlan(err)
	}
	refs, err := resolveFrom(&obj.Spec, in.References)
	if err != nil {
		return stallPlan(err)
	}
	want, err := buildDesired(obj, secrets, refs)
	if err != nil {
		return stallPlan(stall(simv1alpha1.ReasonInvalidSpec, "%v", err))
	}
	t, err := locate(obj, p, obj.Status.ID, in.Remote)
	if nf, ok := errors.AsType[*remoteNotFound](err); ok {
		if !p.manages() {
			return Plan{Action: PlanNone, Reason: simv1alpha1.ReasonRemoteNotFound, Message: nf.message}, nil
		}
		return stallPlan(stall(simv1alpha1.ReasonInvalidSpec, "%s", nf.message))
	}
	if err != nil {
		return stallPlan(err)
	}
	if t.vanished != "" && in.Get != nil {
		it, gerr := in.Get(ctx, t.vanished)
		switch {
		case gerr == nil:
			t = target{remote: it}
		case !identitynow.IsNotFound(gerr):
			return Plan{}, gerr
		}
	}
	if t.claim && p.manages() && in.ClaimedBy != nil {
		if owner := in.ClaimedBy(t.remote.ID); owner != "" {
			return stallPlan(stall(simv1alpha1.ReasonAlreadyManaged, "remote integration %s is already managed by SimIntegration %s", t.remote.ID, owner))
		}
	}
	switch {
	case t.remote == nil && !p.writesRemote():
		return Plan{Action: PlanNone, Reason: simv1alpha1.ReasonTenantSuspended, Message: "the tenant is suspended: the create waits"}, nil
	case t.remote == nil:
		action := PlanCreate
		if t.vanished != "" {
			action = PlanRecreate
		}
		body := redactedDetails(want.Details, in.Secrets)
		return Plan{Action: action, ID: t.vanished, Create: &body}, nil
	case !p.manages():
		return observedPlan(t, want, obj, simv1alpha1.ReasonObserved), nil
	case !p.writesRemote():
		return observedPlan(t, want, obj, simv1alpha1.ReasonTenantSuspended), nil
	}
	cs, err := changesFor(t.remote.Fields, want, obj.Status.LastApplied, in.Tenant.UpdateStrategy)
	if err != nil {
		return stallPlan(err)
	}
	plan := Plan{ID: t.remote.ID, Paths: cs.paths}
	switch {
	case cs.empty():
		plan.Action = PlanNone
	case cs.put != nil:
		put := redactedDetails(*cs.put, in.Secrets)
		plan.Action, plan.Put = PlanPut, &put
	default:
		plan.Action = PlanPatch
		plan.Operations, plan.RuleOperations = redactedOperations(cs.main, in.Secrets), redactedOperations(cs.rule, in.Secrets)
	}
	return plan, nil
}

// observedPlan reports the differences of an object the operator only reads (an observer, or any
// object of a frozen tenant).
func observedPlan(t target, want desiredState, obj *simv1alpha1.SimIntegration, reason string) Plan {
	paths := differingPaths(t.remote.Fields, want, obj.Status.LastApplied, !policyFor(&obj.Spec).manages())
	return Plan{Action: PlanNone, ID: t.remote.ID, Paths: paths, Reason: reason,
		Message: "nothing is written: the differences are reported in status.drift"}
}

func stallPlan(err error) (Plan, error) {
	v := classify(err)
	if v.outcome.kind != outcomeStalled {
		return Plan{}, err
	}
	return Plan{Action: PlanStall, Reason: v.outcome.reason, Message: v.outcome.message}, nil
}

// secretPlaceholder is how a plan shows a secret attribute's value.
func secretPlaceholder(s PlanSecret) string {
	return fmt.Sprintf("(from Secret %s key %s)", s.Secret, s.Key)
}

// redactedDetails is d with every secret attribute's value replaced by its placeholder.
func redactedDetails(d identitynow.Details, secrets map[string]PlanSecret) identitynow.Details {
	if len(d.Attributes) == 0 || len(secrets) == 0 {
		return d
	}
	d.Attributes = maps.Clone(d.Attributes)
	for name, sv := range secrets {
		if _, ok := d.Attributes[name]; ok {
			d.Attributes[name] = secretPlaceholder(sv)
		}
	}
	return d
}

// redactedOperations is ops with every secret value replaced by its placeholder, wherever it sits.
func redactedOperations(ops []identitynow.Operation, secrets map[string]PlanSecret) []identitynow.Operation {
	if len(ops) == 0 {
		return nil
	}
	out := make([]identitynow.Operation, 0, len(ops))
	for _, op := range ops {
		op.Value = redactValue(op.Value, secrets)
		out = append(out, op)
	}
	return out
}

func redactValue(v any, secrets map[string]PlanSecret) any {
	switch x := v.(type) {
	case string:
		for _, sv := range secrets {
			if sv.Value != "" && x == sv.Value {
				return secretPlaceholder(sv)
			}
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = redactValue(e, secrets)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactValue(e, secrets)
		}
		return out
	}
	return v
}
