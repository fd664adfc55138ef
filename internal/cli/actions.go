package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
)

// fieldOwner names the plugin in managedFields.
const fieldOwner = "kubectl-sim"

// stallGrace is how long reconcile --wait lets a stalled object recover before it reports the stall.
const stallGrace = 5 * time.Second

// selection says which SimIntegrations a command acts on: names, a label selector, or a tenant's.
type selection struct {
	*globals
	all      bool
	selector string
	tenant   string
	wait     bool
	timeout  time.Duration
}

func (s *selection) bind(cmd *cobra.Command, waitHelp string) {
	f := cmd.Flags()
	f.BoolVarP(&s.all, "all-namespaces", "A", false, "with -l or --tenant: look in every namespace")
	f.StringVarP(&s.selector, "selector", "l", "", "act on the SimIntegrations matching this label selector, e.g. team=iam")
	f.StringVar(&s.tenant, "tenant", "", "act on every SimIntegration of this tenant: NAME (a Tenant in the namespace; with -A, "+
		"the Tenant of that name in every namespace) or clustertenant/NAME (in every namespace unless -n is given)")
	f.BoolVar(&s.wait, "wait", false, waitHelp)
	f.DurationVar(&s.timeout, "timeout", 2*time.Minute, "with --wait: how long to wait")
}

// resolve returns the selected SimIntegrations, sorted by namespace and name.
func (s *selection) resolve(ctx context.Context, c client.Client, args []string) ([]simv1alpha1.SimIntegration, error) {
	ways := 0
	for _, set := range []bool{len(args) > 0, s.selector != "", s.tenant != ""} {
		if set {
			ways++
		}
	}
	if ways != 1 {
		return nil, errors.New("name the SimIntegrations: NAME..., -l SELECTOR or --tenant TENANT (one of them)")
	}
	ns, explicit, err := s.namespace()
	if err != nil {
		return nil, err
	}
	if len(args) > 0 {
		if s.all {
			return nil, errors.New("NAME and -A do not go together: use -n NAMESPACE")
		}
		out := make([]simv1alpha1.SimIntegration, 0, len(args))
		for _, name := range args {
			obj := simv1alpha1.SimIntegration{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &obj); err != nil {
				return nil, err
			}
			out = append(out, obj)
		}
		return out, nil
	}
	opts := []client.ListOption{}
	var ref tenantRef
	if s.tenant != "" {
		if ref, err = parseTenantRef(s.tenant); err != nil {
			return nil, err
		}
	}
	clusterWide := s.all || (ref.Kind == simv1alpha1.TenantKindClusterTenant && !explicit)
	if !clusterWide {
		opts = append(opts, client.InNamespace(ns))
	}
	if s.selector != "" {
		sel, err := labels.Parse(s.selector)
		if err != nil {
			return nil, fmt.Errorf("-l %q: %w", s.selector, err)
		}
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	list := &simv1alpha1.SimIntegrationList{}
	if err := c.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("list SimIntegrations: %w", err)
	}
	out := list.Items[:0]
	for _, obj := range list.Items {
		tenantNS := ns
		if s.all {
			tenantNS = obj.Namespace // -A: the Tenant of that name in each namespace
		}
		if s.tenant == "" || ref.refersTo(obj.Spec.TenantRef, obj.Namespace, tenantNS) {
			out = append(out, obj)
		}
	}
	if len(out) == 0 {
		what := "matching -l " + s.selector
		if s.tenant != "" {
			what = "of " + ref.String()
		}
		where := "in namespace " + ns
		if clusterWide {
			where = "in any namespace"
		}
		return nil, fmt.Errorf("no SimIntegration %s %s", what, where)
	}
	slices.SortFunc(out, func(a, b simv1alpha1.SimIntegration) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// mergePatch sends a JSON merge patch: only the fields named change.
func mergePatch(ctx context.Context, c client.Client, obj *simv1alpha1.SimIntegration, patch map[string]any) error {
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	return c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, raw), client.FieldOwner(fieldOwner))
}

func displayName(obj *simv1alpha1.SimIntegration) string {
	return "simintegration/" + obj.Name + " (namespace " + obj.Namespace + ")"
}

const reconcileLong = `Reconcile SimIntegrations now: set the annotation sim.identitynow.io/requested-at to the current
time. The operator then reads IdentityNow afresh (instead of its shared list of up to one poll
interval ago), corrects any drift, and copies the value to status.lastHandledRequestedAt.

Only that annotation is changed (a merge patch); the spec is left as it is.`

const reconcileExample = `  kubectl sim reconcile servicenow-sim
  kubectl sim reconcile -l team=iam --wait
  kubectl sim reconcile --tenant acme
  kubectl sim reconcile --tenant clustertenant/acme-shared`

func newReconcileCommand(g *globals) *cobra.Command {
	s := &selection{globals: g}
	cmd := &cobra.Command{
		Use:     "reconcile NAME... | -l SELECTOR | --tenant TENANT",
		Short:   "Reconcile SimIntegrations now, with a fresh read of IdentityNow",
		Long:    reconcileLong,
		Example: reconcileExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			return s.reconcile(cmd.Context(), args)
		},
	}
	s.bind(cmd, "wait until the operator has handled the request (status.lastHandledRequestedAt)")
	return cmd
}

func (s *selection) reconcile(ctx context.Context, args []string) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	objs, err := s.resolve(ctx, c, args)
	if err != nil {
		return err
	}
	value := time.Now().UTC().Format(time.RFC3339Nano)
	var failed []error
	for i := range objs {
		obj := &objs[i]
		patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{simv1alpha1.AnnotationRequestedAt: value}}}
		if err := mergePatch(ctx, c, obj, patch); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", displayName(obj), err))
			continue
		}
		_, _ = fmt.Fprintf(s.streams.Out, "%s reconcile requested (%s=%s)\n", displayName(obj), simv1alpha1.AnnotationRequestedAt, value)
	}
	if s.wait {
		start := time.Now()
		failed = append(failed, s.waitAll(ctx, c, objs, func(o *simv1alpha1.SimIntegration) (bool, error) {
			if o.Status.LastHandledRequestedAt == value {
				return true, nil
			}
			// A stalled object never records the request: report the stall once the operator has had time.
			if stalled, err := readyFor(o); stalled && err != nil && time.Since(start) > stallGrace {
				return true, err
			}
			return false, nil
		}, "reconciled by the operator")...)
	}
	return errors.Join(failed...)
}

const suspendLong = `Suspend SimIntegrations: set spec.suspend to true. The operator then makes no remote call at all
for them (no read, no write, no delete) until they are resumed; their Ready condition says
Suspended. For a change freeze of a whole tenant that keeps reading and reporting drift, set the
tenant's spec.suspend instead.

Only spec.suspend is changed (a merge patch). A GitOps tool that owns the manifests may set it back:
suspend in Git for a lasting freeze.`

const resumeLong = `Resume SimIntegrations: set spec.suspend to false. The operator reconciles them at once; with
--wait, the command waits until each is Ready for its current generation (or stalled, which it
reports and exits 1).

Only spec.suspend is changed (a merge patch).`

func newSuspendCommand(g *globals, suspend bool) *cobra.Command {
	s := &selection{globals: g}
	cmd := &cobra.Command{
		Use:   "suspend NAME... | -l SELECTOR | --tenant TENANT",
		Short: "Stop all remote calls for SimIntegrations (spec.suspend: true)",
		Long:  suspendLong,
		Example: `  kubectl sim suspend servicenow-sim
  kubectl sim suspend --tenant acme`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return s.setSuspend(cmd.Context(), args, suspend)
		},
	}
	waitHelp := "wait until the operator reports each one Suspended"
	if !suspend {
		cmd.Use = "resume NAME... | -l SELECTOR | --tenant TENANT"
		cmd.Short = "Resume suspended SimIntegrations (spec.suspend: false)"
		cmd.Long = resumeLong
		cmd.Example = `  kubectl sim resume servicenow-sim --wait
  kubectl sim resume -l team=iam -A`
		waitHelp = "wait until each one is Ready for its current generation"
	}
	s.bind(cmd, waitHelp)
	return cmd
}

func (s *selection) setSuspend(ctx context.Context, args []string, suspend bool) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	objs, err := s.resolve(ctx, c, args)
	if err != nil {
		return err
	}
	verb := map[bool]string{true: "suspended", false: "resumed"}[suspend]
	var failed []error
	for i := range objs {
		obj := &objs[i]
		if obj.Spec.Suspend == suspend {
			_, _ = fmt.Fprintf(s.streams.Out, "%s already %s\n", displayName(obj), verb)
			continue
		}
		if err := mergePatch(ctx, c, obj, map[string]any{"spec": map[string]any{"suspend": suspend}}); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", displayName(obj), err))
			continue
		}
		_, _ = fmt.Fprintf(s.streams.Out, "%s %s\n", displayName(obj), verb)
	}
	if s.wait {
		done := readyFor
		if suspend {
			done = suspendedFor
		}
		failed = append(failed, s.waitAll(ctx, c, objs, done, map[bool]string{true: "reported Suspended by the operator", false: "Ready"}[suspend])...)
	}
	return errors.Join(failed...)
}

// suspendedFor says whether the operator reports obj suspended for its current generation (Reconciling
// False with reason Suspended; Ready keeps what it said).
func suspendedFor(obj *simv1alpha1.SimIntegration) (bool, error) {
	return reconcilingReason(obj) == simv1alpha1.ReasonSuspended, nil
}

// reconcilingReason is the reason of the Reconciling condition when it is about the current generation.
func reconcilingReason(obj *simv1alpha1.SimIntegration) string {
	c := meta.FindStatusCondition(obj.Status.Conditions, simv1alpha1.ConditionReconciling)
	if c == nil || c.ObservedGeneration != obj.Generation {
		return ""
	}
	return c.Reason
}

// readyFor says whether obj is Ready for its current generation; a stall ends the wait with an error.
func readyFor(obj *simv1alpha1.SimIntegration) (bool, error) {
	conds := obj.Status.Conditions
	if st := meta.FindStatusCondition(conds, simv1alpha1.ConditionStalled); st != nil &&
		st.Status == metav1.ConditionTrue && st.ObservedGeneration == obj.Generation {
		return true, fmt.Errorf("stalled: %s: %s", st.Reason, st.Message)
	}
	if reconcilingReason(obj) == simv1alpha1.ReasonTenantSuspended {
		return true, nil // the tenant's freeze: nothing more happens until it is lifted
	}
	c := meta.FindStatusCondition(conds, simv1alpha1.ConditionReady)
	return c != nil && c.ObservedGeneration == obj.Generation && c.Status == metav1.ConditionTrue, nil
}

// waitAll polls each object until done says so, the timeout passes or ctx ends; it prints each result.
func (s *selection) waitAll(ctx context.Context, c client.Client, objs []simv1alpha1.SimIntegration,
	done func(*simv1alpha1.SimIntegration) (bool, error), state string) []error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var failed []error
	for i := range objs {
		key := client.ObjectKeyFromObject(&objs[i])
		var last simv1alpha1.SimIntegration
		var result error
		err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			if err := c.Get(ctx, key, &last); err != nil {
				return false, err
			}
			ok, err := done(&last)
			result = err
			return ok, nil
		})
		switch {
		case err != nil && ctx.Err() == nil:
			failed = append(failed, fmt.Errorf("%s: %w", displayName(&objs[i]), err))
		case err != nil:
			msg := "no condition yet"
			if r := meta.FindStatusCondition(last.Status.Conditions, simv1alpha1.ConditionReady); r != nil {
				msg = fmt.Sprintf("Ready=%s %s: %s", r.Status, r.Reason, r.Message)
			}
			failed = append(failed, fmt.Errorf("%s: not %s within %s (%s)", displayName(&last), state, s.timeout, msg))
		case result != nil:
			failed = append(failed, fmt.Errorf("%s: %w", displayName(&last), result))
		default:
			_, _ = fmt.Fprintf(s.streams.Out, "%s %s\n", displayName(&last), state)
		}
	}
	return failed
}
