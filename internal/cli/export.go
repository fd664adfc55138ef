package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/cli/exporter"
	"github.com/sim-operator/sim-operator/internal/export"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/options"
)

const exportLong = `Write SimIntegration manifests that adopt a tenant's existing SIM integrations (each carries the
annotation sim.identitynow.io/external-id), so that existing integrations come under GitOps without
being recreated. It sends one list request (plus the token request; with --by-name, the Sources and
Managed Clusters lookups too) and never writes to IdentityNow.
Credential attributes are never exported: they become secretAttributes referring to placeholder
Secrets holding ` + export.Placeholder + `, to be filled in before the operator manages them.

Name the tenant in one of two ways:
  --tenant NAME | clustertenant/NAME   read the Tenant (in the namespace) or ClusterTenant from the
                                       cluster: its URL, release and caBundle, and its API client
                                       from its Secret unless SAIL_CLIENT_ID and SAIL_CLIENT_SECRET
                                       are set; the manifests refer to that tenant
  --base-url URL --tenant-ref-name N   no cluster needed, the API client from SAIL_CLIENT_ID and
                                       SAIL_CLIENT_SECRET (as sim-operator-export)`

const exportExample = `  # From the cluster's Tenant acme, as a safe first import (the operator only observes)
  kubectl sim export --tenant acme -n iam --observe-only > sims.yaml

  # Without a cluster
  SAIL_CLIENT_ID=... SAIL_CLIENT_SECRET=... kubectl sim export \
    --base-url https://acme.api.identitynow.com --tenant-ref-name acme --namespace iam --output sims.yaml`

type exportOptions struct {
	*globals
	cfg        exporter.Config
	tenant     string
	kind       string
	release    string
	secretKeys string
	output     string
	clusterNS  string
}

func newExportCommand(g *globals) *cobra.Command {
	o := &exportOptions{globals: g}
	cmd := &cobra.Command{
		Use:     "export (--tenant TENANT | --base-url URL --tenant-ref-name NAME) [flags]",
		Short:   "Write manifests that adopt a tenant's existing SIM integrations",
		Long:    exportLong,
		Example: exportExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.tenant, "tenant", "", "the tenant in the cluster: NAME (a Tenant in the namespace) or clustertenant/NAME")
	f.StringVar(&o.cfg.BaseURL, "base-url", "", "without --tenant: the tenant's API base URL, e.g. https://acme.api.identitynow.com")
	f.StringVar(&o.release, "api-release", string(identitynow.ReleaseV2024), "with --base-url: API release: v2024, v2025, v2026 or v1")
	f.StringVar(&o.cfg.TokenURL, "token-url", "", "with --base-url: OAuth2 token URL (default base URL + /oauth/token)")
	f.StringVar(&o.cfg.TenantRef.Name, "tenant-ref-name", "", "with --base-url: spec.tenantRef.name of the manifests")
	f.StringVar(&o.kind, "tenant-ref-kind", string(simv1alpha1.TenantKindTenant), "with --base-url: spec.tenantRef.kind: Tenant or ClusterTenant")
	f.BoolVar(&o.cfg.AllowInsecureHTTP, "allow-insecure-http", false, "allow http:// URLs (local tests only)")
	f.BoolVar(&o.cfg.ObserveOnly, "observe-only", false,
		"set managementPolicy: ObserveOnly, a safe first import: the operator then never writes")
	f.BoolVar(&o.cfg.ByName, "by-name", false,
		"write sources and the cluster by name (spec.sourceRefs, spec.clusterRef) and adopt by name instead of by id, "+
			"so the manifests serve another tenant too (needs idn:sources:read and idn:remote-client:read)")
	f.StringVar(&o.secretKeys, "secret-attributes", strings.Join(export.DefaultSecretKeys, ","),
		"comma-separated attribute keys that hold credentials; keys ending in password, secret, token or key "+
			"(any case) and masked values are credentials too")
	f.StringVar(&o.output, "output", "", "write to this file instead of standard output")
	f.DurationVar(&o.cfg.Timeout, "timeout", 2*time.Minute, "give up after this long")
	f.StringVar(&o.clusterNS, "cluster-resource-namespace", options.DefaultNamespace,
		"with --tenant clustertenant/NAME: where its credential Secret lives")
	return cmd
}

func (o *exportOptions) run(ctx context.Context, cmd *cobra.Command) error {
	cfg := &o.cfg
	cfg.UserAgent, cfg.Program = userAgent, "kubectl sim export"
	cfg.SecretKeys = exporter.ParseSecretKeys(o.secretKeys)
	switch {
	case o.tenant != "" && cfg.BaseURL != "":
		return errors.New("--tenant and --base-url do not go together")
	case o.tenant != "":
		for _, name := range []string{"api-release", "token-url", "tenant-ref-name", "tenant-ref-kind"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s goes with --base-url; with --tenant it comes from the tenant", name)
			}
		}
		if err := o.fromCluster(ctx); err != nil {
			return err
		}
	case cfg.BaseURL == "":
		return errors.New("name the tenant: --tenant TENANT, or --base-url URL --tenant-ref-name NAME")
	default:
		cfg.Release = identitynow.Release(o.release)
		cfg.TenantRef.Kind = simv1alpha1.TenantKind(o.kind)
		cfg.ClientID, cfg.ClientSecret = o.getenv(exporter.EnvClientID), o.getenv(exporter.EnvClientSecret)
		ns, explicit, err := o.namespace()
		if err != nil {
			return err
		}
		if explicit {
			cfg.Namespace = ns
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	out, res, err := exporter.Export(ctx, *cfg)
	if err != nil {
		return err
	}
	return exporter.Write(out, res, o.output, o.streams.Out, o.streams.ErrOut)
}

// fromCluster fills the configuration from the tenant object and, unless the environment has them,
// its credentials Secret.
func (o *exportOptions) fromCluster(ctx context.Context) error {
	ref, err := parseTenantRef(o.tenant)
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
	dopts := &diffOptions{globals: o.globals, clusterNS: o.clusterNS}
	d := newDiffer(c, dopts, ns, explicit)
	probe := &simv1alpha1.SimIntegration{}
	probe.Namespace = ns
	probe.Spec.TenantRef = simv1alpha1.TenantReference{Kind: ref.Kind, Name: ref.Name}
	ts := d.tenantOf(ctx, probe, false)
	if ts.missing != nil {
		return ts.missing
	}
	if ts.err != nil {
		return ts.err
	}
	creds, err := d.credentials(ctx, ts)
	if err != nil {
		return err
	}
	spec := ts.obj.GetTenantSpec()
	cfg := &o.cfg
	cfg.BaseURL, cfg.TokenURL, cfg.CABundle = spec.BaseURL, spec.TokenURL, spec.CABundle
	cfg.Release = identitynow.Release(spec.APIRelease)
	if cfg.Release == "" {
		cfg.Release = identitynow.ReleaseV2024
	}
	cfg.ClientID, cfg.ClientSecret = creds.ClientID, creds.ClientSecret
	cfg.TenantRef = simv1alpha1.TenantReference{Kind: ref.Kind, Name: ref.Name}
	if ref.Kind == simv1alpha1.TenantKindTenant || explicit {
		cfg.Namespace = ns
	}
	return nil
}
