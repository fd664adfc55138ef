package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/cli/exporter"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/options"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

const diffLong = `Show what sim-operator would send to IdentityNow if the SimIntegration manifests were applied now.

For each SimIntegration in the manifests, diff prints one of:
  create      the remote integration does not exist: the body of the POST
  update      the exact JSON Patch operations of the PATCH (a change of beforeProvisioningRule goes
              to its own route), or the full document of the PUT when the tenant's updateStrategy
              is Put
  no changes  the remote integration matches the manifest
  stalled     the condition the operator would stop on (NameConflict, AlreadyManaged, InvalidSpec,
              SecretNotFound, TenantNotFound, ...) with its reason
  unchanged   nothing would be sent: spec.suspend is true, or the tenant is suspended (a change
              freeze; the differences are listed)

It computes this with the operator's own rules (desired state, the last-applied record, the diff,
the tenant's update strategy and management policy) against the live tenant, and uses the objects in
the cluster (status.id, status.lastApplied, status.pendingCreate) where they exist. The manifests are
first sent to the API server as a dry run (nothing is stored), so schema defaults and validation
apply as they would to kubectl apply. Tenants and ClusterTenants in the manifests take the place of
those in the cluster for what they decide (updateStrategy, patchFormat, apiRelease, suspend, the
namespaces a ClusterTenant serves); where a tenant is reached and with which credentials always
comes from the cluster, so that a manifest cannot send credentials to a host of its choosing.

IdentityNow is only read: one list of SIM integrations per tenant however many objects (plus the
Sources and Managed Clusters lookups of spec.sourceRefs and spec.clusterRef), never a write and never
a read per object. Secret attribute values are never printed: they show as
"(from Secret NAME key KEY)".

The tenant's API client comes from its Secret, read through the kubeconfig (a ClusterTenant's from
--cluster-resource-namespace), or from SAIL_CLIENT_ID and SAIL_CLIENT_SECRET when both are set; they
then serve every tenant of the run. The tenant's caBundle is trusted.

Exit status, as for kubectl diff: 0 no differences, 1 differences (something would be sent, an
object would stall, or a suspended tenant holds differences back), greater than 1 an error.`

const diffExample = `  # One file, or a directory (and its subdirectories with -R)
  kubectl sim diff -f servicenow-sim.yaml
  kubectl sim diff -f deploy/ -R

  # In CI, with a read-only IdentityNow API client and the plan as JSON
  SAIL_CLIENT_ID=... SAIL_CLIENT_SECRET=... kubectl sim diff -f deploy/ -R -o json > plan.json`

type diffOptions struct {
	*globals
	files     []string
	recursive bool
	output    string
	allowHTTP bool
	clusterNS string
	timeout   time.Duration
}

func newDiffCommand(g *globals) *cobra.Command {
	o := &diffOptions{globals: g}
	cmd := &cobra.Command{
		Use:     "diff -f FILE|DIR [-R] [-o json]",
		Short:   "Show what the operator would send to IdentityNow for these manifests (read-only)",
		Long:    diffLong,
		Example: diffExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "manifests: a file, a directory or - for standard input (repeatable)")
	f.BoolVarP(&o.recursive, "recursive", "R", false, "read the directories named by -f recursively")
	f.StringVarP(&o.output, "output", "o", "", "output format: empty for text, or json")
	f.BoolVar(&o.allowHTTP, "allow-insecure-http", false, "allow tenants with http:// URLs (local tests only)")
	f.StringVar(&o.clusterNS, "cluster-resource-namespace", options.DefaultNamespace,
		"where ClusterTenant credential Secrets live (the operator's --cluster-resource-namespace)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (o *diffOptions) run(ctx context.Context) error {
	if o.output != "" && o.output != "json" {
		return fmt.Errorf("--output %q: want json, or nothing for text", o.output)
	}
	pal, err := o.colors(o.streams.Out)
	if err != nil {
		return err
	}
	ms, err := readManifests(o.files, o.recursive, o.streams.In)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	ns, explicit, err := o.namespace()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	d := newDiffer(c, o, ns, explicit)
	rep, err := d.plan(ctx, ms)
	if err != nil {
		return err
	}
	if o.output == "json" {
		err = writeJSON(o.streams.Out, rep)
	} else {
		err = renderPlan(o.streams.Out, rep, pal)
	}
	if err != nil {
		return err
	}
	for _, w := range d.warnings {
		_, _ = fmt.Fprintln(o.streams.ErrOut, "warning:", w)
	}
	switch {
	case rep.Summary.Errors > 0:
		return &exitError{code: ExitDiffError, err: fmt.Errorf("%d of %d SimIntegration(s) could not be planned", rep.Summary.Errors, len(rep.Items))}
	case rep.Differences:
		return &exitError{code: ExitDifferences}
	}
	return nil
}

// differ computes the plans of one run.
type differ struct {
	c          client.Client
	opts       *diffOptions
	namespace  string
	explicitNS bool

	registry *tenant.Registry
	secrets  *tenant.SecretReader
	access   *tenant.Resolver
	warnings []string
	// noDryRun is set once the API server refused a dry run (forbidden): the manifests then get the
	// schema's defaults from the CRDs (defaults), or, when those cannot be read either (noDefaults),
	// are used as written.
	noDryRun, noDefaults bool
	defaults             schemaDefaulter

	// tenants by registry key; overrides holds the tenants of the manifests.
	tenants   map[string]*tenantState
	overrides map[string]simv1alpha1.TenantObject
	// byID indexes the cluster's SimIntegrations by status.id (for AlreadyManaged).
	byID map[string][]simv1alpha1.SimIntegration
}

// tenantState is one tenant of the run: the object, and once connected its single list of remote
// objects and the resolution of its references.
type tenantState struct {
	key       string
	kind      simv1alpha1.TenantKind
	name      string
	namespace string // a Tenant's; "" for a ClusterTenant
	obj       simv1alpha1.TenantObject
	// missing is the TenantNotFound error when the tenant does not exist.
	missing error
	// err is why the tenant could not be reached (credentials, token, list); it fails its objects.
	err       error
	connected bool
	view      tenant.View
	refs      tenant.Resolution
	refsErr   error
	endpoint  string
}

func newDiffer(c client.Client, o *diffOptions, ns string, explicit bool) *differ {
	return &differ{
		c: c, opts: o, namespace: ns, explicitNS: explicit,
		registry: tenant.NewRegistry(tenant.RegistryOptions{
			AllowInsecureHTTP: o.allowHTTP,
			NewRemote: func(cfg identitynow.Config) (tenant.Remote, error) {
				cfg.UserAgent = userAgent
				return identitynow.New(cfg)
			},
		}),
		secrets:   &tenant.SecretReader{Metadata: c, API: c},
		access:    &tenant.Resolver{Client: c},
		tenants:   map[string]*tenantState{},
		overrides: map[string]simv1alpha1.TenantObject{},
		byID:      map[string][]simv1alpha1.SimIntegration{},
	}
}

func (d *differ) warn(format string, args ...any) {
	d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
}

// work is one SimIntegration of the manifests on its way to a plan.
type work struct {
	source string
	obj    *simv1alpha1.SimIntegration
	ts     *tenantState
	item   *diffItem
}

// plan computes the report for the manifests.
func (d *differ) plan(ctx context.Context, ms []manifest) (*diffReport, error) {
	sims, err := d.sortManifests(ctx, ms)
	if err != nil {
		return nil, err
	}
	if len(sims) == 0 {
		return nil, errors.New("the manifests hold no SimIntegration")
	}
	if err := d.indexCluster(ctx, sims); err != nil {
		return nil, err
	}
	// Each tenant is read once, and listed once, for all its objects.
	for _, w := range sims {
		if w.item.Action != actionError {
			w.ts = d.tenantOf(ctx, w.obj, true)
		}
	}
	for _, ts := range d.tenants {
		d.connect(ctx, ts, sims)
	}
	rep := &diffReport{Items: []diffItem{}}
	for _, w := range sims {
		if w.item.Action != actionError {
			d.planOne(ctx, w)
		}
		rep.add(*w.item)
	}
	return rep, nil
}

// sortManifests keeps the SimIntegrations, Tenants and ClusterTenants of the manifests, as they would
// be stored (a dry run), and records the tenants as overrides of the cluster's.
func (d *differ) sortManifests(ctx context.Context, ms []manifest) ([]*work, error) {
	var sims []*work
	seen := map[string]string{}
	for _, m := range ms {
		u := m.obj
		if u.GroupVersionKind().Group != simv1alpha1.GroupVersion.Group {
			continue
		}
		kind := u.GetKind()
		switch kind {
		case "SimIntegration", "Tenant":
			if err := d.defaultNamespace(u, m.source); err != nil {
				return nil, err
			}
		case "ClusterTenant":
			u.SetNamespace("")
		default:
			continue
		}
		id := kind + " " + u.GetNamespace() + "/" + u.GetName()
		if u.GetName() == "" {
			return nil, fmt.Errorf("%s: %s without metadata.name", m.source, kind)
		}
		if prev, dup := seen[id]; dup {
			return nil, fmt.Errorf("%s appears twice: %s and %s", id, prev, m.source)
		}
		seen[id] = m.source
		if u.GetAPIVersion() != simv1alpha1.GroupVersion.String() {
			return nil, fmt.Errorf("%s: %s has apiVersion %s; this plugin knows %s", m.source, id, u.GetAPIVersion(),
				simv1alpha1.GroupVersion)
		}
		stored, err := d.dryRun(ctx, u)
		if kind != "SimIntegration" {
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", m.source, id, err)
			}
			t, err := toTenant(stored)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m.source, err)
			}
			d.overrides[tenant.KeyOf(t)] = t
			continue
		}
		w := &work{source: m.source, item: &diffItem{Kind: kind, Namespace: u.GetNamespace(), Name: u.GetName()}}
		if err == nil {
			w.obj = &simv1alpha1.SimIntegration{}
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(stored.Object, w.obj)
		}
		if err != nil {
			w.item.fail(fmt.Errorf("%s: %w", m.source, err))
		} else {
			w.item.RemoteName = w.obj.RemoteName()
			w.item.Tenant = string(tenantKind(w.obj.Spec.TenantRef)) + "/" + w.obj.Spec.TenantRef.Name
		}
		sims = append(sims, w)
	}
	return sims, nil
}

func (d *differ) defaultNamespace(u *unstructured.Unstructured, source string) error {
	switch ns := u.GetNamespace(); {
	case ns == "":
		u.SetNamespace(d.namespace)
	case d.explicitNS && ns != d.namespace:
		return fmt.Errorf("%s: the namespace of %s %s (%s) does not match --namespace %s",
			source, u.GetKind(), u.GetName(), ns, d.namespace)
	}
	return nil
}

func toTenant(u *unstructured.Unstructured) (simv1alpha1.TenantObject, error) {
	var t simv1alpha1.TenantObject = &simv1alpha1.Tenant{}
	if u.GetKind() == "ClusterTenant" {
		t = &simv1alpha1.ClusterTenant{}
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, t); err != nil {
		return nil, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return t, nil
}

// dryRun returns the object as the API server would store it if the manifest were applied: with the
// schema's defaults, checked by its validation, and with the live object's status. The spec is the
// manifest's; labels and annotations are the live object's with the manifest's set over them.
func (d *differ) dryRun(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(u.GroupVersionKind())
	err := d.c.Get(ctx, client.ObjectKeyFromObject(u), live)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("read the object in the cluster: %w", err)
	}
	obj := u.DeepCopy()
	delete(obj.Object, "status")
	obj.SetResourceVersion("")
	if exists {
		obj = live.DeepCopy()
		obj.Object["spec"] = runtime.DeepCopyJSONValue(u.Object["spec"])
		obj.SetLabels(merged(live.GetLabels(), u.GetLabels()))
		obj.SetAnnotations(merged(live.GetAnnotations(), u.GetAnnotations()))
	}
	if d.noDryRun {
		return d.fallback(ctx, obj, live, exists), nil
	}
	stored := obj.DeepCopy()
	if exists {
		err = d.c.Update(ctx, stored, client.DryRunAll)
	} else {
		err = d.c.Create(ctx, stored, client.DryRunAll)
	}
	if apierrors.IsForbidden(err) {
		d.noDryRun = true
		d.warn("the API server refused a dry run (%v): the manifests get the schema's defaults from the "+
			"CustomResourceDefinitions but are not validated; allow create and update of simintegrations, tenants "+
			"and clustertenants (a dry run stores nothing) for the API server's own checks", err)
		return d.fallback(ctx, obj, live, exists), nil
	}
	if err != nil {
		return nil, fmt.Errorf("the API server would refuse it: %w", err)
	}
	if exists {
		stored.Object["status"] = runtime.DeepCopyJSONValue(live.Object["status"])
	}
	return stored, nil
}

// fallback is obj with the schema's defaults, when the API server refuses a dry run; without them too
// when the CRDs cannot be read (a warning says so).
func (d *differ) fallback(ctx context.Context, obj, live *unstructured.Unstructured, exists bool) *unstructured.Unstructured {
	if err := d.defaults.apply(ctx, d, obj); err != nil && !d.noDefaults {
		d.noDefaults = true
		d.warn("%v: the manifests are used as written, without the schema's defaults (for example spec.type "+
			"is then left unmanaged); allow reading customresourcedefinitions for an exact plan", err)
	}
	if exists {
		obj.Object["status"] = runtime.DeepCopyJSONValue(live.Object["status"])
	}
	return obj
}

func merged(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	out := make(map[string]string, len(base)+len(over))
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}

// indexCluster lists the cluster's SimIntegrations (in every namespace when allowed, else in those of
// the manifests) to find the other objects that manage a remote id.
func (d *differ) indexCluster(ctx context.Context, sims []*work) error {
	list := &simv1alpha1.SimIntegrationList{}
	err := d.c.List(ctx, list)
	if apierrors.IsForbidden(err) {
		d.warn("cannot list SimIntegrations in every namespace (%v): AlreadyManaged is checked within the manifests' namespaces only", err)
		list.Items = nil
		done := map[string]bool{}
		for _, w := range sims {
			ns := w.item.Namespace
			if done[ns] {
				continue
			}
			done[ns] = true
			part := &simv1alpha1.SimIntegrationList{}
			if err := d.c.List(ctx, part, client.InNamespace(ns)); err != nil {
				return fmt.Errorf("list SimIntegrations in namespace %s: %w", ns, err)
			}
			list.Items = append(list.Items, part.Items...)
		}
	} else if err != nil {
		return fmt.Errorf("list SimIntegrations: %w", err)
	}
	for _, s := range list.Items {
		if s.Status.ID != "" {
			d.byID[s.Status.ID] = append(d.byID[s.Status.ID], s)
		}
	}
	return nil
}

// tenantOf returns the state of the tenant obj refers to, reading it on first use; warn: say when
// the operator does not consider it Ready.
func (d *differ) tenantOf(ctx context.Context, obj *simv1alpha1.SimIntegration, warn bool) *tenantState {
	ref := obj.Spec.TenantRef
	kind := tenantKind(ref)
	key := tenant.Key(kind, obj.Namespace, ref.Name)
	if ts, ok := d.tenants[key]; ok {
		return ts
	}
	ts := &tenantState{key: key, kind: kind, name: ref.Name}
	if kind == simv1alpha1.TenantKindTenant {
		ts.namespace = obj.Namespace
	}
	d.tenants[key] = ts
	t, err := d.access.Get(ctx, ref, obj.Namespace)
	override, overridden := d.overrides[key]
	switch {
	case isConfigError(err) && overridden:
		ts.err = fmt.Errorf("%s is in the manifests but not in the cluster: diff reaches only tenants that exist "+
			"there (a manifest must not choose where credentials are sent); apply the tenant first", ts.label())
	case isConfigError(err):
		ts.missing = err
	case err != nil:
		ts.err = fmt.Errorf("read %s: %w", ts.label(), err)
	default:
		ts.obj = t
		if overridden {
			ts.obj = d.overlay(t, override)
		}
		if warn {
			d.checkTenantStatus(ts)
		}
	}
	if ts.obj != nil {
		ts.endpoint = tenant.Endpoint(*ts.obj.GetTenantSpec())
	}
	return ts
}

// overlay is the cluster's tenant with the behaviour that the manifests' version of it would give it:
// release, update strategy, patch format, suspend, poll interval, rate limit and, for a ClusterTenant,
// the namespaces it serves. Where the tenant is and which credentials it uses stay the cluster's, so
// that a manifest (in a pull request, say) cannot send the tenant's credentials to a host of its choosing.
func (d *differ) overlay(live, manifest simv1alpha1.TenantObject) simv1alpha1.TenantObject {
	out := live.DeepCopyObject().(simv1alpha1.TenantObject)
	spec, want := out.GetTenantSpec(), manifest.GetTenantSpec()
	if spec.BaseURL != want.BaseURL || spec.TokenURL != want.TokenURL || spec.CredentialsRef != want.CredentialsRef ||
		!bytes.Equal(spec.CABundle, want.CABundle) {
		d.warn("the manifests change where %s %s is reached or its credentials (baseURL, tokenURL, credentialsRef, "+
			"caBundle): diff uses the cluster's", live.GetTenantKind(), live.GetName())
	}
	spec.APIRelease, spec.UpdateStrategy, spec.PatchFormat = want.APIRelease, want.UpdateStrategy, want.PatchFormat
	spec.Suspend, spec.PollInterval, spec.RateLimit = want.Suspend, want.PollInterval, want.RateLimit
	if ct, ok := out.(*simv1alpha1.ClusterTenant); ok {
		m := manifest.(*simv1alpha1.ClusterTenant)
		ct.Spec.Namespaces, ct.Spec.NamespaceSelector = m.Spec.Namespaces, m.Spec.NamespaceSelector
	}
	return out
}

func (ts *tenantState) label() string {
	if ts.namespace != "" {
		return string(ts.kind) + " " + ts.namespace + "/" + ts.name
	}
	return string(ts.kind) + " " + ts.name
}

// checkTenantStatus warns about a tenant that the operator does not consider Ready: its objects then
// wait (or stall with TenantNotReady) whatever the plan says.
func (d *differ) checkTenantStatus(ts *tenantState) {
	conds := ts.obj.GetTenantStatus().Conditions
	if meta.IsStatusConditionTrue(conds, simv1alpha1.ConditionReady) {
		return
	}
	msg := "it has not been checked yet"
	if c := meta.FindStatusCondition(conds, simv1alpha1.ConditionReady); c != nil && c.Message != "" {
		msg = c.Reason + ": " + c.Message
	}
	d.warn("%s is not Ready (%s): until it is, the operator sends nothing for its SimIntegrations (reason TenantNotReady)",
		ts.label(), msg)
}

func isConfigError(err error) bool {
	_, ok := errors.AsType[*tenant.ConfigError](err)
	return ok
}

// needsRemote says whether a plan for obj reads the tenant: suspended objects make no call.
func needsRemote(obj *simv1alpha1.SimIntegration) bool { return !obj.Spec.Suspend }

// connect reaches the tenant once for all its objects: its credentials, a token, the one list of its
// SIM integrations and one lookup of the references its objects name.
func (d *differ) connect(ctx context.Context, ts *tenantState, sims []*work) {
	if ts.obj == nil || ts.err != nil {
		return
	}
	var names tenant.Names
	needed := false
	for _, w := range sims {
		if w.ts != ts || !needsRemote(w.obj) || d.checkAccess(ctx, w) != nil {
			continue
		}
		needed = true
		for _, r := range w.obj.Spec.SourceRefs {
			names.Sources = append(names.Sources, r.Name)
		}
		if r := w.obj.Spec.ClusterRef; r != nil {
			names.Clusters = append(names.Clusters, r.Name)
		}
	}
	if !needed {
		return
	}
	creds, err := d.credentials(ctx, ts)
	if err != nil {
		ts.err = err
		return
	}
	spec := *ts.obj.GetTenantSpec().DeepCopy()
	spec.Suspend = false // a freeze is the plan's business (ComputePlan), not the connection's
	conn, err := d.registry.Connect(ts.key, spec, creds)
	if err != nil {
		ts.err = fmt.Errorf("%s: %w", ts.label(), err)
		return
	}
	if err := conn.Remote.CheckToken(ctx); err != nil {
		ts.err = fmt.Errorf("%s: obtain a token: %w", ts.label(), err)
		return
	}
	if conn, err = d.registry.Prove(ts.key, conn); err != nil {
		ts.err = fmt.Errorf("%s: %w", ts.label(), err)
		return
	}
	if ts.view, err = conn.Snapshot.Get(ctx, time.Time{}); err != nil {
		ts.err = fmt.Errorf("%s: list SIM integrations: %w", ts.label(), err)
		return
	}
	ts.connected = true
	if len(names.Sources)+len(names.Clusters) > 0 {
		ts.refs, ts.refsErr = conn.Refs.Resolve(ctx, ts.key, names, nil, time.Time{})
	}
}

// checkAccess is the TenantNotAllowed check of a ClusterTenant for w's namespace.
func (d *differ) checkAccess(ctx context.Context, w *work) error {
	if w.ts.obj == nil {
		return nil
	}
	return d.access.CheckAccess(ctx, w.ts.obj, w.obj.Namespace)
}

// credentials are the tenant's API client: from the environment when both variables are set, else
// from the tenant's Secret.
func (d *differ) credentials(ctx context.Context, ts *tenantState) (tenant.Credentials, error) {
	id, secret := d.opts.getenv(exporter.EnvClientID), d.opts.getenv(exporter.EnvClientSecret)
	switch {
	case id != "" && secret != "":
		return tenant.Credentials{ClientID: id, ClientSecret: secret}, nil
	case id != "" || secret != "":
		return tenant.Credentials{}, fmt.Errorf("set both %s and %s, or neither to use the tenant's Secret",
			exporter.EnvClientID, exporter.EnvClientSecret)
	}
	ref := ts.obj.GetTenantSpec().CredentialsRef
	ns := ts.namespace
	if ts.kind == simv1alpha1.TenantKindClusterTenant {
		ns = d.opts.clusterNS
	}
	idKey, secretKey := ref.ClientIDKey, ref.ClientSecretKey
	if idKey == "" {
		idKey = "clientId"
	}
	if secretKey == "" {
		secretKey = "clientSecret"
	}
	read := func(key string) (string, error) {
		v, err := d.secrets.Value(ctx, tenant.SecretKey{Namespace: ns, Name: ref.Name, Key: key})
		if err != nil {
			return "", fmt.Errorf("the API client of %s: %w (or set %s and %s)", ts.label(), err,
				exporter.EnvClientID, exporter.EnvClientSecret)
		}
		return string(v.Value), nil
	}
	cid, err := read(idKey)
	if err != nil {
		return tenant.Credentials{}, err
	}
	if err := tenant.ValidClientID(cid); err != nil {
		return tenant.Credentials{}, fmt.Errorf("the client id in Secret %s/%s key %s is not valid: it %w", ns, ref.Name, idKey, err)
	}
	csecret, err := read(secretKey)
	if err != nil {
		return tenant.Credentials{}, err
	}
	return tenant.Credentials{ClientID: cid, ClientSecret: csecret}, nil
}

// planOne computes w's plan.
func (d *differ) planOne(ctx context.Context, w *work) {
	obj, ts, it := w.obj, w.ts, w.item
	if obj.Spec.Suspend || obj.DeletionTimestamp != nil {
		if obj.DeletionTimestamp != nil {
			it.Action, it.Reason, it.Message = actionNone, "Deleting", "the object is being deleted"
			return
		}
		d.compute(ctx, w, controller.PlanInput{Object: obj})
		return
	}
	if ts.missing != nil {
		ce, _ := errors.AsType[*tenant.ConfigError](ts.missing)
		it.stall(ce.Reason, ce.Message)
		return
	}
	if err := d.checkAccess(ctx, w); err != nil {
		if ce, ok := errors.AsType[*tenant.ConfigError](err); ok {
			it.stall(ce.Reason, ce.Message)
		} else {
			it.fail(err)
		}
		return
	}
	if ts.err != nil {
		it.fail(ts.err)
		return
	}
	it.tenantSpec = *ts.obj.GetTenantSpec()
	if ts.refsErr != nil && (obj.Spec.SourceRefs != nil || obj.Spec.ClusterRef != nil) {
		it.fail(fmt.Errorf("resolve spec.sourceRefs and spec.clusterRef: %w", ts.refsErr))
		return
	}
	secrets, ok := d.secretAttributes(ctx, w)
	if !ok {
		return
	}
	values := make([]string, 0, len(secrets))
	for _, s := range secrets {
		values = append(values, s.Value)
	}
	d.compute(identitynow.WithSensitive(ctx, values...), w, controller.PlanInput{
		Object: obj, Secrets: secrets, Tenant: it.tenantSpec, Remote: ts.view, References: ts.refs,
		ClaimedBy: d.claimedBy(ctx, obj, ts),
	})
}

func (d *differ) compute(ctx context.Context, w *work, in controller.PlanInput) {
	p, err := controller.ComputePlan(ctx, in)
	if err != nil {
		w.item.fail(err)
		return
	}
	w.item.setPlan(p)
}

// secretAttributes reads the values of spec.secretAttributes; a missing or refused Secret is the
// stall the operator would stop on.
func (d *differ) secretAttributes(ctx context.Context, w *work) (map[string]controller.PlanSecret, bool) {
	obj := w.obj
	out := make(map[string]controller.PlanSecret, len(obj.Spec.SecretAttributes))
	policy := &options.Options{}
	// Retained for the run, so that objects sharing a Secret read its value once (its metadata each time).
	keys := make([]tenant.SecretKey, 0, len(obj.Spec.SecretAttributes))
	for _, sa := range obj.Spec.SecretAttributes {
		keys = append(keys, tenant.SecretKey{Namespace: obj.Namespace, Name: sa.SecretKeyRef.Name, Key: sa.SecretKeyRef.Key})
	}
	d.secrets.Retain("SimIntegration/"+obj.Namespace+"/"+obj.Name, keys)
	for _, sa := range obj.Spec.SecretAttributes {
		ref := sa.SecretKeyRef
		v, err := d.secrets.Value(ctx, tenant.SecretKey{Namespace: obj.Namespace, Name: ref.Name, Key: ref.Key})
		if ke, ok := errors.AsType[*tenant.SecretKeyError](err); ok {
			w.item.stall(simv1alpha1.ReasonSecretNotFound, ke.Error())
			return nil, false
		}
		if tl, ok := errors.AsType[*tenant.SecretValueTooLargeError](err); ok {
			w.item.stall(simv1alpha1.ReasonInvalidSpec, tl.Error())
			return nil, false
		}
		if err != nil {
			w.item.fail(fmt.Errorf("secret attribute %q: %w", sa.Name, err))
			return nil, false
		}
		if err := policy.SecretAttributeAllowed(v.Type, v.Labels); err != nil {
			w.item.stall(simv1alpha1.ReasonInvalidSpec, fmt.Sprintf("secret attribute %q: Secret %s %v", sa.Name, ref.Name, err))
			return nil, false
		}
		out[sa.Name] = controller.PlanSecret{Value: string(v.Value), Secret: ref.Name, Key: ref.Key, ResourceVersion: v.ResourceVersion}
	}
	return out, true
}

// claimedBy names another SimIntegration of the cluster that manages the remote id in the same
// tenant id space (base URL and release), as the operator's AlreadyManaged check does.
func (d *differ) claimedBy(ctx context.Context, obj *simv1alpha1.SimIntegration, ts *tenantState) func(string) string {
	self := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}
	return func(id string) string {
		for i := range d.byID[id] {
			other := &d.byID[id][i]
			if client.ObjectKeyFromObject(other) == self || other.Spec.ManagementPolicy == simv1alpha1.ManagementPolicyObserveOnly {
				continue
			}
			if ots := d.tenantOf(ctx, other, false); ots.obj != nil && ts.obj != nil {
				if ots.endpoint != ts.endpoint {
					continue
				}
			} else if ots.key != ts.key {
				continue
			}
			return other.Namespace + "/" + other.Name
		}
		return ""
	}
}
