// Package options holds the sim-operator manager's own flags and their validation.
package options

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// DefaultNamespace is where the operator runs when nothing else says.
const DefaultNamespace = "sim-operator-system"

// DefaultTenantHostAllowlist lists the host globs of SailPoint's production and demo tenants.
const DefaultTenantHostAllowlist = "*.identitynow.com,*.identitynow-demo.com"

// Options are the operator-specific flags of the manager.
type Options struct {
	// ClusterResourceNamespace is where ClusterTenant credential Secrets live.
	ClusterResourceNamespace string
	// TenantHostAllowlist holds host globs that a tenant's baseURL and tokenURL may name.
	TenantHostAllowlist []string
	// AllowInsecureHTTP permits http:// tenant URLs (local demos and tests only).
	AllowInsecureHTTP bool
	// MaxConcurrentReconciles is the number of SimIntegration workers.
	MaxConcurrentReconciles int
	// RemoteTimeout bounds each IdentityNow request; zero means the client's default (30s).
	// Not a flag: tests shorten it.
	RemoteTimeout time.Duration
}

// BindFlags registers the flags on fs and returns the Options they fill once fs is parsed.
func BindFlags(fs *flag.FlagSet) *Options {
	o := &Options{}
	defaultNS := os.Getenv("POD_NAMESPACE")
	if defaultNS == "" {
		defaultNS = DefaultNamespace
	}
	fs.StringVar(&o.ClusterResourceNamespace, "cluster-resource-namespace", defaultNS,
		"Namespace where ClusterTenant credential Secrets live (default $POD_NAMESPACE, else "+DefaultNamespace+").")
	fs.Func("tenant-host-allowlist",
		"Comma-separated host globs that a Tenant's baseURL and tokenURL may name, matched without the port (default "+
			DefaultTenantHostAllowlist+").",
		func(v string) error {
			o.TenantHostAllowlist = splitList(v)
			return nil
		})
	o.TenantHostAllowlist = splitList(DefaultTenantHostAllowlist)
	fs.BoolVar(&o.AllowInsecureHTTP, "allow-insecure-http", false,
		"Allow http:// tenant URLs. For local demos and tests only: credentials would cross the network in clear text.")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "Number of SimIntegration workers.")
	return o
}

// Validate reports every invalid option at once.
func (o *Options) Validate() error {
	var errs []error
	if o.ClusterResourceNamespace == "" {
		errs = append(errs, errors.New("--cluster-resource-namespace must not be empty"))
	}
	if len(o.TenantHostAllowlist) == 0 {
		errs = append(errs, errors.New("--tenant-host-allowlist must name at least one host glob"))
	}
	for _, g := range o.TenantHostAllowlist {
		if _, err := path.Match(g, ""); err != nil {
			errs = append(errs, fmt.Errorf("--tenant-host-allowlist: %q is not a valid glob: %w", g, err))
		}
	}
	if o.MaxConcurrentReconciles < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", o.MaxConcurrentReconciles))
	}
	return errors.Join(errs...)
}

// CheckURL says why raw may not be used as a tenant URL, or returns nil. The host (without port)
// must match one of the allowlist globs, and the scheme must be https unless insecure HTTP is allowed.
func (o *Options) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && o.AllowInsecureHTTP:
	case u.Scheme == "http":
		return fmt.Errorf("%q uses http://, which the operator refuses unless started with --allow-insecure-http", raw)
	default:
		return fmt.Errorf("%q must use https://", raw)
	}
	host := strings.ToLower(u.Hostname())
	if !o.hostAllowed(host) {
		return fmt.Errorf("host %s of %q is not in --tenant-host-allowlist (%s)", host, raw,
			strings.Join(o.TenantHostAllowlist, ","))
	}
	return nil
}

func (o *Options) hostAllowed(host string) bool {
	for _, g := range o.TenantHostAllowlist {
		if ok, _ := path.Match(strings.ToLower(g), host); ok {
			return true
		}
	}
	return false
}

func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
