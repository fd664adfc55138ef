// Package exporter is the export that sim-operator-export and `kubectl sim export` share: one list of
// a tenant's SIM integrations (plus the token request), rendered as SimIntegration manifests that
// adopt them (annotation sim.identitynow.io/external-id). It never writes to IdentityNow, and
// credential attributes never appear in its output: they become secretAttributes referring to
// placeholder Secrets.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/export"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Environment variables holding the API client credentials (the names SailPoint's SDKs and CLI use).
// Credentials are read from the environment (or, by kubectl sim, from the tenant's Secret), never
// from flags, so they stay out of shell history and process listings.
const (
	EnvClientID     = "SAIL_CLIENT_ID"
	EnvClientSecret = "SAIL_CLIENT_SECRET"
)

// Config is one export: where the tenant is, with which credentials, and how to write the manifests.
type Config struct {
	// BaseURL, TokenURL (default BaseURL + /oauth/token), Release and CABundle reach the tenant.
	BaseURL, TokenURL string
	Release           identitynow.Release
	CABundle          []byte
	// ClientID and ClientSecret are the API client's; they never appear in any output.
	ClientID, ClientSecret string
	// AllowInsecureHTTP permits http:// URLs (local tests only).
	AllowInsecureHTTP bool
	// Namespace is the manifests' metadata.namespace ("" leaves it out).
	Namespace string
	// TenantRef is the manifests' spec.tenantRef.
	TenantRef simv1alpha1.TenantReference
	// ObserveOnly sets managementPolicy: ObserveOnly.
	ObserveOnly bool
	// ByName writes sources and the cluster by name (spec.sourceRefs, spec.clusterRef) and adopts by
	// name, so the manifests serve another tenant too (see export.Options.ByName); it looks the names
	// up (scopes idn:sources:read, idn:remote-client:read).
	ByName bool
	// SecretKeys are the attribute keys that hold credentials (see export.Options).
	SecretKeys []string
	// Timeout bounds the whole export.
	Timeout time.Duration
	// UserAgent names the program in requests.
	UserAgent string
	// Program names the program in the manifests' header comment ("sim-operator-export" by default).
	Program string
}

// Validate reports every problem of the configuration at once; flag names are those both commands use.
func (c Config) Validate() error {
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, errors.New("--base-url is required"))
	}
	if !c.Release.Valid() {
		errs = append(errs, fmt.Errorf("--api-release %q: want one of v2024, v2025, v2026, v1", c.Release))
	}
	if c.TenantRef.Name == "" {
		errs = append(errs, errors.New("--tenant-ref-name is required"))
	} else if len(c.TenantRef.Name) > 253 {
		errs = append(errs, errors.New("--tenant-ref-name is longer than 253 characters"))
	}
	if k := c.TenantRef.Kind; k != simv1alpha1.TenantKindTenant && k != simv1alpha1.TenantKindClusterTenant {
		errs = append(errs, fmt.Errorf("--tenant-ref-kind %q: want Tenant or ClusterTenant", k))
	}
	if c.Namespace != "" {
		if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--namespace %q: %s", c.Namespace, strings.Join(msgs, "; ")))
		}
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		errs = append(errs, fmt.Errorf("set $%s and $%s to the API client's id and secret", EnvClientID, EnvClientSecret))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	return errors.Join(errs...)
}

// ParseSecretKeys splits the comma-separated --secret-attributes value. An empty value gives an
// explicitly empty list: only the key pattern and masked values then make an attribute a credential.
func ParseSecretKeys(v string) []string {
	keys := []string{}
	for k := range strings.SplitSeq(v, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// Export lists the integrations and renders the manifests; nothing is returned on failure.
func Export(ctx context.Context, cfg Config) ([]byte, export.Result, error) {
	ua := cfg.UserAgent
	if ua == "" {
		ua = "sim-operator-export/" + identitynow.Version
	}
	client, err := identitynow.New(identitynow.Config{
		BaseURL: cfg.BaseURL, TokenURL: cfg.TokenURL,
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		Release: cfg.Release, CABundle: cfg.CABundle,
		AllowInsecureHTTP: cfg.AllowInsecureHTTP,
		UserAgent:         ua,
		// The documented ISC limit; the export sends a single list request.
		Budget: identitynow.NewBudget(100, 10*time.Second, nil),
	})
	if err != nil {
		return nil, export.Result{}, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	items, err := client.List(ctx)
	if err != nil {
		return nil, export.Result{}, fmt.Errorf("list SIM integrations: %w", err)
	}
	opts := export.Options{
		Namespace: cfg.Namespace, TenantRef: cfg.TenantRef, SecretKeys: cfg.SecretKeys, ObserveOnly: cfg.ObserveOnly,
	}
	if cfg.ByName {
		if opts.ByName, err = lookUpNames(ctx, client, items); err != nil {
			return nil, export.Result{}, err
		}
	}
	res := export.Convert(items, opts)
	source := fmt.Sprintf("%s (API release %s)", strings.TrimRight(cfg.BaseURL, "/"), cfg.Release)
	header := res.Header(source)
	if cfg.Program != "" && len(header) > 0 {
		header[0] = strings.Replace(header[0], "sim-operator-export", cfg.Program, 1)
	}
	out, err := res.YAML(header)
	if err != nil {
		return nil, export.Result{}, err
	}
	return out, res, nil
}

// Write writes the manifests to output (a file; "" or "-" is stdout) and says on stderr what was
// exported, with the warnings first.
func Write(out []byte, res export.Result, output string, stdout, stderr io.Writer) error {
	for _, w := range res.Warnings {
		_, _ = fmt.Fprintln(stderr, "warning:", w)
	}
	dest := "standard output"
	if output == "" || output == "-" {
		if _, err := stdout.Write(out); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	} else {
		if err := os.WriteFile(output, out, 0o644); err != nil {
			return err
		}
		dest = output
	}
	_, _ = fmt.Fprintf(stderr, "Exported %d SIM integration(s) to %s", len(res.Manifests), dest)
	if n := res.Secrets(); n > 0 {
		_, _ = fmt.Fprintf(stderr, "; %d placeholder Secret(s) hold %s: fill them in before managing", n, export.Placeholder)
	}
	_, _ = fmt.Fprintln(stderr, ".")
	return nil
}
