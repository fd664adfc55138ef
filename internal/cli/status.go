package cli

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

const statusLong = `Show every Tenant and ClusterTenant with its SimIntegrations, as a tree.

A tenant shows whether it is Ready (its Secret was found and IdentityNow issued a token) with its
reason, its API endpoint and release, its update strategy, and whether it is suspended (a change
freeze). Each SimIntegration shows its remote id, whether it is Ready and why, when it was last
confirmed equal to its spec, the paths where the remote differs (status.drift), a create in flight
(status.pendingCreate) and whether it is suspended.

With NAME, only that SimIntegration and its tenant are shown. Without -A, the namespace's Tenants
and SimIntegrations, and the ClusterTenants they use; with -A, everything, every ClusterTenant
included. The output is coloured on a terminal and plain when piped (see --color).`

const statusExample = `  # The current namespace
  kubectl sim status

  # Every namespace and every ClusterTenant
  kubectl sim status -A

  # One SimIntegration and its tenant
  kubectl sim status servicenow-sim -n iam`

type statusOptions struct {
	*globals
	all bool
	now func() time.Time
}

func newStatusCommand(g *globals) *cobra.Command {
	o := &statusOptions{globals: g, now: time.Now}
	cmd := &cobra.Command{
		Use:     "status [NAME] [-n NAMESPACE | -A]",
		Short:   "Show tenants and their SimIntegrations as a tree",
		Long:    statusLong,
		Example: statusExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args)
		},
	}
	cmd.Flags().BoolVarP(&o.all, "all-namespaces", "A", false, "every namespace, and every ClusterTenant")
	return cmd
}

// tenantNode is one tenant of the tree with its SimIntegrations.
type tenantNode struct {
	kind      simv1alpha1.TenantKind
	namespace string
	name      string
	obj       simv1alpha1.TenantObject
	// problem says why obj is nil: not found, or not readable.
	problem string
	sims    []simv1alpha1.SimIntegration
}

func (o *statusOptions) run(ctx context.Context, args []string) error {
	if o.all && len(args) > 0 {
		return fmt.Errorf("a NAME and -A do not go together")
	}
	pal, err := o.colors(o.streams.Out)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	ns, _, err := o.namespace()
	if err != nil {
		return err
	}
	nodes, err := o.collect(ctx, c, ns, args)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if len(nodes) == 0 {
		where := "namespace " + ns
		if o.all {
			where = "the cluster"
		}
		fmt.Fprintf(&b, "No Tenant, ClusterTenant or SimIntegration in %s.\n", where)
	}
	for _, n := range nodes {
		o.render(&b, n, pal)
	}
	_, err = o.streams.Out.Write(b.Bytes())
	return err
}

// collect reads the SimIntegrations and tenants to show and groups them by tenant.
func (o *statusOptions) collect(ctx context.Context, c client.Client, ns string, args []string) ([]*tenantNode, error) {
	var sims []simv1alpha1.SimIntegration
	var tenants []simv1alpha1.Tenant
	var clusterTenants []simv1alpha1.ClusterTenant
	scope := []client.ListOption{client.InNamespace(ns)}
	if o.all {
		scope = nil
	}
	if len(args) == 1 {
		s := simv1alpha1.SimIntegration{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: args[0]}, &s); err != nil {
			return nil, err
		}
		sims = []simv1alpha1.SimIntegration{s}
	} else {
		sl := &simv1alpha1.SimIntegrationList{}
		if err := c.List(ctx, sl, scope...); err != nil {
			return nil, fmt.Errorf("list SimIntegrations: %w", err)
		}
		sims = sl.Items
		tl := &simv1alpha1.TenantList{}
		if err := c.List(ctx, tl, scope...); err != nil {
			return nil, fmt.Errorf("list Tenants: %w", err)
		}
		tenants = tl.Items
		if o.all {
			cl := &simv1alpha1.ClusterTenantList{}
			if err := c.List(ctx, cl); err != nil && !apierrors.IsForbidden(err) {
				return nil, fmt.Errorf("list ClusterTenants: %w", err)
			}
			clusterTenants = cl.Items
		}
	}
	nodes := map[string]*tenantNode{}
	for i := range tenants {
		t := &tenants[i]
		nodes[tenant.KeyOf(t)] = &tenantNode{kind: simv1alpha1.TenantKindTenant, namespace: t.Namespace, name: t.Name, obj: t}
	}
	for i := range clusterTenants {
		t := &clusterTenants[i]
		nodes[tenant.KeyOf(t)] = &tenantNode{kind: simv1alpha1.TenantKindClusterTenant, name: t.Name, obj: t}
	}
	for _, s := range sims {
		kind := tenantKind(s.Spec.TenantRef)
		key := tenant.Key(kind, s.Namespace, s.Spec.TenantRef.Name)
		n := nodes[key]
		if n == nil {
			n = &tenantNode{kind: kind, name: s.Spec.TenantRef.Name}
			if kind == simv1alpha1.TenantKindTenant {
				n.namespace = s.Namespace
			}
			o.readTenant(ctx, c, n)
			nodes[key] = n
		}
		n.sims = append(n.sims, s)
	}
	out := make([]*tenantNode, 0, len(nodes))
	for _, n := range nodes {
		slices.SortFunc(n.sims, func(a, b simv1alpha1.SimIntegration) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *tenantNode) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind)*-1, cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	})
	return out, nil
}

// readTenant reads a tenant that a SimIntegration refers to and that was not listed.
func (o *statusOptions) readTenant(ctx context.Context, c client.Client, n *tenantNode) {
	var obj simv1alpha1.TenantObject = &simv1alpha1.Tenant{}
	if n.kind == simv1alpha1.TenantKindClusterTenant {
		obj = &simv1alpha1.ClusterTenant{}
	}
	err := c.Get(ctx, types.NamespacedName{Namespace: n.namespace, Name: n.name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		n.problem = "not found"
	case err != nil:
		n.problem = "cannot be read: " + err.Error()
	default:
		n.obj = obj
	}
}

func (o *statusOptions) render(b *bytes.Buffer, n *tenantNode, pal palette) {
	label := string(n.kind) + " " + n.name
	if n.namespace != "" {
		label = string(n.kind) + " " + n.namespace + "/" + n.name
	}
	fields := []string{pal.bold(label)}
	if n.obj == nil {
		fields = append(fields, pal.red(n.problem))
	} else {
		spec, st := n.obj.GetTenantSpec(), n.obj.GetTenantStatus()
		fields = append(fields, conditionState(st.Conditions, pal)...)
		if spec.Suspend {
			fields = append(fields, pal.cyan("Suspended (change freeze)"))
		}
		release := cmp.Or(string(spec.APIRelease), string(simv1alpha1.APIReleaseV2024))
		strategy := cmp.Or(string(spec.UpdateStrategy), string(simv1alpha1.UpdateStrategyPatch))
		fields = append(fields, pal.dim(fmt.Sprintf("%s (%s, %s)", spec.BaseURL, release, strategy)))
	}
	b.WriteString(strings.Join(fields, "  ") + "\n")
	if n.obj != nil {
		if c := meta.FindStatusCondition(n.obj.GetTenantStatus().Conditions, simv1alpha1.ConditionReady); c != nil &&
			c.Status != metav1.ConditionTrue && c.Message != "" {
			b.WriteString("│   " + pal.dim(c.Message) + "\n")
		}
	}
	if len(n.sims) == 0 {
		b.WriteString("└── " + pal.dim("(no SimIntegrations)") + "\n")
		return
	}
	for i := range n.sims {
		branch, cont := "├── ", "│   "
		if i == len(n.sims)-1 {
			branch, cont = "└── ", "    "
		}
		o.renderSim(b, &n.sims[i], n.kind == simv1alpha1.TenantKindClusterTenant || o.all, branch, cont, pal)
	}
}

func (o *statusOptions) renderSim(b *bytes.Buffer, s *simv1alpha1.SimIntegration, withNS bool, branch, cont string, pal palette) {
	name := s.Name
	if withNS {
		name = s.Namespace + "/" + s.Name
	}
	fields := []string{pal.bold(name)}
	if s.Spec.Name != "" && s.Spec.Name != s.Name {
		fields = append(fields, fmt.Sprintf("%q", s.Spec.Name))
	}
	st := s.Status
	var details []string
	switch {
	case s.Spec.Suspend:
		fields = append(fields, pal.cyan("Suspended"))
	case len(st.Conditions) == 0:
		fields = append(fields, pal.dim("Pending (not reconciled yet)"))
	default:
		fields = append(fields, conditionState(st.Conditions, pal)...)
		if c := meta.FindStatusCondition(st.Conditions, simv1alpha1.ConditionReconciling); c != nil &&
			c.Reason == simv1alpha1.ReasonTenantSuspended && c.Message != "" {
			details = append(details, pal.dim(c.Message))
		} else if c := meta.FindStatusCondition(st.Conditions, simv1alpha1.ConditionReady); c != nil &&
			c.Status != metav1.ConditionTrue && c.Message != "" {
			details = append(details, pal.dim(c.Message))
		}
	}
	if st.ID != "" {
		fields = append(fields, "remote "+st.ID)
	}
	if st.LastSyncTime != nil {
		fields = append(fields, pal.dim("last sync "+o.ago(st.LastSyncTime.Time)))
	}
	if len(st.Drift) > 0 {
		details = append(details, pal.yellow("drift: "+strings.Join(st.Drift, ", ")))
	}
	if pc := st.PendingCreate; pc != nil {
		details = append(details, pal.yellow(fmt.Sprintf("create of %q in flight since %s", pc.Name, o.ago(pc.StartedAt.Time))))
	}
	if st.ObservedGeneration != 0 && st.ObservedGeneration < s.Generation {
		details = append(details, pal.dim(fmt.Sprintf("generation %d not handled yet (observed %d)", s.Generation, st.ObservedGeneration)))
	}
	if s.DeletionTimestamp != nil {
		details = append(details, pal.yellow("being deleted"))
	}
	b.WriteString(branch + strings.Join(fields, "  ") + "\n")
	for _, d := range details {
		for line := range strings.Lines(d) {
			b.WriteString(cont + "  " + strings.TrimRight(line, "\n") + "\n")
		}
	}
}

// conditionState is the state word and reason of a Ready/Stalled/Reconciling condition set.
func conditionState(conds []metav1.Condition, pal palette) []string {
	ready := meta.FindStatusCondition(conds, simv1alpha1.ConditionReady)
	rec := meta.FindStatusCondition(conds, simv1alpha1.ConditionReconciling)
	switch {
	case meta.IsStatusConditionTrue(conds, simv1alpha1.ConditionStalled):
		reason := meta.FindStatusCondition(conds, simv1alpha1.ConditionStalled).Reason
		return []string{pal.red("Stalled"), pal.red(reason)}
	case rec != nil && rec.Reason == simv1alpha1.ReasonTenantSuspended:
		state := "Ready"
		if ready == nil || ready.Status != metav1.ConditionTrue {
			state = "NotReady"
		}
		return []string{pal.cyan(state), pal.cyan(rec.Reason)}
	case ready != nil && ready.Status == metav1.ConditionTrue:
		return []string{pal.green("Ready"), ready.Reason}
	case meta.IsStatusConditionTrue(conds, simv1alpha1.ConditionReconciling):
		return []string{pal.yellow("Reconciling"), pal.yellow(meta.FindStatusCondition(conds, simv1alpha1.ConditionReconciling).Reason)}
	case ready != nil:
		return []string{pal.yellow("NotReady"), pal.yellow(ready.Reason)}
	}
	return []string{pal.dim("Pending")}
}

func (o *statusOptions) ago(t time.Time) string {
	d := max(o.now().Sub(t), 0)
	return duration.HumanDuration(d) + " ago"
}
