// Command sim-operator-export reads a tenant's existing SIM integrations and writes SimIntegration
// manifests that adopt them (annotation sim.identitynow.io/external-id), so teams bring existing
// integrations under GitOps without recreating them.
//
//	SAIL_CLIENT_ID=... SAIL_CLIENT_SECRET=... sim-operator-export \
//	  --base-url https://acme.api.identitynow.com --tenant-ref-name acme --namespace iam \
//	  --observe-only --output sims.yaml
//
// It sends one list request (plus the token request) and never writes to IdentityNow. Credential
// attributes never appear in the output: they become secretAttributes referring to placeholder
// Secrets. The API client id and secret are read from the environment only, never from flags, so
// they stay out of shell history and process listings.
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

	"k8s.io/apimachinery/pkg/util/validation"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/export"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Environment variables holding the API client credentials (the names SailPoint's SDKs and CLI use).
const (
	envClientID     = "SAIL_CLIENT_ID"
	envClientSecret = "SAIL_CLIENT_SECRET"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// config is the parsed command line.
type config struct {
	baseURL, tokenURL, release string
	namespace                  string
	tenantRef                  simv1alpha1.TenantReference
	allowInsecureHTTP          bool
	observeOnly                bool
	secretKeys                 []string
	output                     string
	timeout                    time.Duration
	clientID, clientSecret     string
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
	out, res, err := exportTenant(ctx, cfg)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "sim-operator-export:", err)
		return exitError
	}
	for _, w := range res.Warnings {
		_, _ = fmt.Fprintln(stderr, "warning:", w)
	}
	dest := "standard output"
	if cfg.output == "" || cfg.output == "-" {
		if _, err := stdout.Write(out); err != nil {
			_, _ = fmt.Fprintln(stderr, "sim-operator-export: write output:", err)
			return exitError
		}
	} else {
		if err := os.WriteFile(cfg.output, out, 0o644); err != nil {
			_, _ = fmt.Fprintln(stderr, "sim-operator-export:", err)
			return exitError
		}
		dest = cfg.output
	}
	_, _ = fmt.Fprintf(stderr, "Exported %d SIM integration(s) to %s", len(res.Manifests), dest)
	if n := res.Secrets(); n > 0 {
		_, _ = fmt.Fprintf(stderr, "; %d placeholder Secret(s) hold %s: fill them in before managing", n, export.Placeholder)
	}
	_, _ = fmt.Fprintln(stderr, ".")
	return exitOK
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	var kind, secretKeys string
	fs := flag.NewFlagSet("sim-operator-export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr,
			"Usage: %s=... %s=... sim-operator-export --base-url URL --tenant-ref-name NAME [flags]\n\n"+
				"Writes SimIntegration manifests that adopt a tenant's existing SIM integrations.\n"+
				"The API client id and secret are read from $%s and $%s.\n\nFlags:\n",
			envClientID, envClientSecret, envClientID, envClientSecret)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.baseURL, "base-url", "", "tenant API base URL, e.g. https://acme.api.identitynow.com (required)")
	fs.StringVar(&cfg.release, "api-release", string(identitynow.ReleaseV2024), "API release: v2024, v2025, v2026 or v1")
	fs.StringVar(&cfg.tokenURL, "token-url", "", "OAuth2 token URL (default base URL + /oauth/token)")
	fs.StringVar(&cfg.namespace, "namespace", "", "metadata.namespace of the manifests (default: none, so kubectl's)")
	fs.StringVar(&cfg.tenantRef.Name, "tenant-ref-name", "",
		"spec.tenantRef.name: the Tenant or ClusterTenant to use (required)")
	fs.StringVar(&kind, "tenant-ref-kind", string(simv1alpha1.TenantKindTenant),
		"spec.tenantRef.kind: Tenant or ClusterTenant")
	fs.BoolVar(&cfg.allowInsecureHTTP, "allow-insecure-http", false, "allow http:// URLs (local tests only)")
	fs.BoolVar(&cfg.observeOnly, "observe-only", false,
		"set managementPolicy: ObserveOnly, a safe first import: the operator then never writes")
	fs.StringVar(&secretKeys, "secret-attributes", strings.Join(export.DefaultSecretKeys, ","),
		"comma-separated attribute keys that hold credentials; keys ending in password, secret, token or key\n"+
			"(any case) and masked values are credentials too")
	fs.StringVar(&cfg.output, "output", "", "write to this file instead of standard output")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (the client id and secret come from $%s and $%s)",
			fs.Arg(0), envClientID, envClientSecret)
	}
	cfg.tenantRef.Kind = simv1alpha1.TenantKind(kind)
	cfg.clientID, cfg.clientSecret = getenv(envClientID), getenv(envClientSecret)
	for k := range strings.SplitSeq(secretKeys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.secretKeys = append(cfg.secretKeys, k)
		}
	}
	if cfg.secretKeys == nil {
		cfg.secretKeys = []string{} // an explicitly empty list: only the pattern and masked values
	}
	return cfg, cfg.validate()
}

func (c config) validate() error {
	var errs []error
	if c.baseURL == "" {
		errs = append(errs, errors.New("--base-url is required"))
	}
	if !identitynow.Release(c.release).Valid() {
		errs = append(errs, fmt.Errorf("--api-release %q: want one of v2024, v2025, v2026, v1", c.release))
	}
	if c.tenantRef.Name == "" {
		errs = append(errs, errors.New("--tenant-ref-name is required"))
	} else if len(c.tenantRef.Name) > 253 {
		errs = append(errs, errors.New("--tenant-ref-name is longer than 253 characters"))
	}
	if k := c.tenantRef.Kind; k != simv1alpha1.TenantKindTenant && k != simv1alpha1.TenantKindClusterTenant {
		errs = append(errs, fmt.Errorf("--tenant-ref-kind %q: want Tenant or ClusterTenant", k))
	}
	if c.namespace != "" {
		if msgs := validation.IsDNS1123Label(c.namespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--namespace %q: %s", c.namespace, strings.Join(msgs, "; ")))
		}
	}
	if c.clientID == "" || c.clientSecret == "" {
		errs = append(errs, fmt.Errorf("set $%s and $%s to the API client's id and secret", envClientID, envClientSecret))
	}
	if c.timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	return errors.Join(errs...)
}

// exportTenant lists the integrations and renders the manifests; nothing is written on failure.
func exportTenant(ctx context.Context, cfg config) ([]byte, export.Result, error) {
	client, err := identitynow.New(identitynow.Config{
		BaseURL: cfg.baseURL, TokenURL: cfg.tokenURL,
		ClientID: cfg.clientID, ClientSecret: cfg.clientSecret,
		Release:           identitynow.Release(cfg.release),
		AllowInsecureHTTP: cfg.allowInsecureHTTP,
		UserAgent:         "sim-operator-export/" + identitynow.Version,
		// The documented ISC limit; the export sends a single list request.
		Budget: identitynow.NewBudget(100, 10*time.Second, nil),
	})
	if err != nil {
		return nil, export.Result{}, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	items, err := client.List(ctx)
	if err != nil {
		return nil, export.Result{}, fmt.Errorf("list SIM integrations: %w", err)
	}
	res := export.Convert(items, export.Options{
		Namespace: cfg.namespace, TenantRef: cfg.tenantRef, SecretKeys: cfg.secretKeys, ObserveOnly: cfg.observeOnly,
	})
	source := fmt.Sprintf("%s (API release %s)", strings.TrimRight(cfg.baseURL, "/"), cfg.release)
	out, err := res.YAML(res.Header(source))
	if err != nil {
		return nil, export.Result{}, err
	}
	return out, res, nil
}
