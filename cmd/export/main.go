// Command sim-operator-export reads a tenant's existing SIM integrations and writes SimIntegration
// manifests that adopt them (annotation sim.identitynow.io/external-id), so teams bring existing
// integrations under GitOps without recreating them.
//
//	SAIL_CLIENT_ID=... SAIL_CLIENT_SECRET=... sim-operator-export \
//	  --base-url https://acme.api.identitynow.com --tenant-ref-name acme --namespace iam \
//	  --observe-only --output sims.yaml
//
// It sends one list request (plus the token request) and never writes to IdentityNow. With --by-name
// it also looks up the sources and managed clusters (a few more requests; scopes idn:sources:read and
// idn:remote-client:read) and writes spec.sourceRefs and spec.clusterRef by name, adopting by name
// rather than by id, so that an export of a sandbox tenant is a manifest for production too. Credential
// attributes never appear in the output: they become secretAttributes referring to placeholder
// Secrets. The API client id and secret are read from the environment only, never from flags, so
// they stay out of shell history and process listings. `kubectl sim export` runs the same export
// (internal/cli/exporter) and can also take the tenant and its credentials from the cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/cli/exporter"
	"github.com/sim-operator/sim-operator/internal/export"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Environment variables holding the API client credentials (the names SailPoint's SDKs and CLI use).
const (
	envClientID     = exporter.EnvClientID
	envClientSecret = exporter.EnvClientSecret
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// config is the parsed command line.
type config struct {
	exporter.Config
	output string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command, with its environment injected for tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "sim-operator-export:", err)
		return exitUsage
	}
	out, res, err := exporter.Export(ctx, cfg.Config)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "sim-operator-export:", err)
		return exitError
	}
	if err := exporter.Write(out, res, cfg.output, stdout, stderr); err != nil {
		_, _ = fmt.Fprintln(stderr, "sim-operator-export:", err)
		return exitError
	}
	return exitOK
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	var kind, release, secretKeys string
	fs := flag.NewFlagSet("sim-operator-export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr,
			"Usage: %s=... %s=... sim-operator-export --base-url URL --tenant-ref-name NAME [flags]\n\n"+
				"Writes SimIntegration manifests that adopt a tenant's existing SIM integrations.\n"+
				"The API client id and secret are read from $%s and $%s.\n"+
				"`kubectl sim export` does the same and can read the tenant from the cluster.\n\nFlags:\n",
			envClientID, envClientSecret, envClientID, envClientSecret)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.BaseURL, "base-url", "", "tenant API base URL, e.g. https://acme.api.identitynow.com (required)")
	fs.StringVar(&release, "api-release", string(identitynow.ReleaseV2024), "API release: v2024, v2025, v2026 or v1")
	fs.StringVar(&cfg.TokenURL, "token-url", "", "OAuth2 token URL (default base URL + /oauth/token)")
	fs.StringVar(&cfg.Namespace, "namespace", "", "metadata.namespace of the manifests (default: none, so kubectl's)")
	fs.StringVar(&cfg.TenantRef.Name, "tenant-ref-name", "",
		"spec.tenantRef.name: the Tenant or ClusterTenant to use (required)")
	fs.StringVar(&kind, "tenant-ref-kind", string(simv1alpha1.TenantKindTenant),
		"spec.tenantRef.kind: Tenant or ClusterTenant")
	fs.BoolVar(&cfg.AllowInsecureHTTP, "allow-insecure-http", false, "allow http:// URLs (local tests only)")
	fs.BoolVar(&cfg.ObserveOnly, "observe-only", false,
		"set managementPolicy: ObserveOnly, a safe first import: the operator then never writes")
	fs.BoolVar(&cfg.ByName, "by-name", false,
		"write sources and the cluster by name (spec.sourceRefs, spec.clusterRef) and adopt by name instead of\n"+
			"by id, so the manifests serve another tenant too (needs idn:sources:read and idn:remote-client:read)")
	fs.StringVar(&secretKeys, "secret-attributes", strings.Join(export.DefaultSecretKeys, ","),
		"comma-separated attribute keys that hold credentials; keys ending in password, secret, token or key\n"+
			"(any case) and masked values are credentials too")
	fs.StringVar(&cfg.output, "output", "", "write to this file instead of standard output")
	fs.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (the client id and secret come from $%s and $%s)",
			fs.Arg(0), envClientID, envClientSecret)
	}
	cfg.TenantRef.Kind = simv1alpha1.TenantKind(kind)
	cfg.Release = identitynow.Release(release)
	cfg.ClientID, cfg.ClientSecret = getenv(envClientID), getenv(envClientSecret)
	cfg.SecretKeys = exporter.ParseSecretKeys(secretKeys)
	return cfg, cfg.Validate()
}
