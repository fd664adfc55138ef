// Package options holds the sim-operator manager's own flags and their validation.
package options

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// DefaultNamespace is where the operator runs when nothing else says.
const DefaultNamespace = "sim-operator-system"

// DefaultTenantHostAllowlist lists the host globs of SailPoint's production and demo tenants (port 443).
const DefaultTenantHostAllowlist = "*.identitynow.com,*.identitynow-demo.com"

// Options are the operator-specific flags of the manager.
type Options struct {
	// ClusterResourceNamespace is where ClusterTenant credential Secrets live.
	ClusterResourceNamespace string
	// TenantHostAllowlist holds the entries a tenant's baseURL and tokenURL must match: "host" (port
	// 443 only), "host:port" or "host:*" (any port), the host a glob or an IP literal (see
	// identitynow.HostRule).
	TenantHostAllowlist []string
	// AllowPrivateNetworks lets tenant hosts resolve to private addresses (RFC 1918, 100.64.0.0/10,
	// fc00::/7). Loopback, link-local, unspecified and multicast addresses stay refused unless the
	// allowlist names the IP.
	AllowPrivateNetworks bool
	// AllowInsecureHTTP permits http:// tenant URLs (local demos and tests only).
	AllowInsecureHTTP bool
	// MaxConcurrentReconciles is the number of SimIntegration workers.
	MaxConcurrentReconciles int
	// RequireSecretLabel makes secret attributes accept only Secrets labelled
	// sim.identitynow.io/secret-attribute: "true".
	RequireSecretLabel bool
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
		"Comma-separated entries that a Tenant's baseURL and tokenURL must match: host (port 443 only), host:port "+
			"or host:* (any port). The host is a glob, which never matches an IP address: an IP is allowed only "+
			"by an entry naming it, e.g. 127.0.0.1:* (default "+DefaultTenantHostAllowlist+").",
		func(v string) error {
			o.TenantHostAllowlist = splitList(v)
			return nil
		})
	o.TenantHostAllowlist = splitList(DefaultTenantHostAllowlist)
	fs.BoolVar(&o.AllowPrivateNetworks, "allow-private-networks", false,
		"Let tenant hosts resolve to private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7). "+
			"Loopback, link-local (cloud metadata), unspecified and multicast addresses are refused whatever "+
			"this flag, unless --tenant-host-allowlist names the IP.")
	fs.BoolVar(&o.AllowInsecureHTTP, "allow-insecure-http", false,
		"Allow http:// tenant URLs. For local demos and tests only: credentials would cross the network in clear text.")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "Number of SimIntegration workers.")
	fs.BoolVar(&o.RequireSecretLabel, "require-secret-label", false,
		"Let secretAttributes name only Secrets labelled "+SecretAttributeLabel+`: "true" (an opt-in per Secret).`)
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
	for _, e := range o.TenantHostAllowlist {
		if _, err := identitynow.ParseHostRule(e); err != nil {
			errs = append(errs, fmt.Errorf("--tenant-host-allowlist entry %q: %w", e, err))
		}
	}
	if o.MaxConcurrentReconciles < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", o.MaxConcurrentReconciles))
	}
	return errors.Join(errs...)
}

// AddressPolicy is the policy the IdentityNow clients check at dial time: the allowlist (invalid
// entries, which Validate reports, are left out) and --allow-private-networks.
func (o *Options) AddressPolicy() *identitynow.AddressPolicy {
	p := &identitynow.AddressPolicy{AllowPrivate: o.AllowPrivateNetworks}
	for _, e := range o.TenantHostAllowlist {
		if r, err := identitynow.ParseHostRule(e); err == nil {
			p.Hosts = append(p.Hosts, r)
		}
	}
	return p
}

// CheckURL says why raw may not be used as a tenant URL, or returns nil. The scheme must be https
// (or http when insecure HTTP is allowed), and the host and port (443 for https, 80 for http when the
// URL names none) must match an allowlist entry. Its messages never show the URL's user info.
func (o *Options) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s is not an absolute URL", quoteWithoutUserinfo(raw))
	}
	shown := strconv.Quote(displayURL(u))
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && o.AllowInsecureHTTP:
	case u.Scheme == "http":
		return fmt.Errorf("%s uses http://, which the operator refuses unless started with --allow-insecure-http", shown)
	default:
		return fmt.Errorf("%s must use https://", shown)
	}
	host := strings.ToLower(u.Hostname())
	port, err := urlPort(u)
	if err != nil {
		return fmt.Errorf("%s: %w", shown, err)
	}
	policy := o.AddressPolicy()
	if policy.AllowsHost(host, port) {
		return nil
	}
	allowlist := strings.Join(o.TenantHostAllowlist, ",")
	for _, r := range policy.Hosts {
		if r.MatchHost(host) {
			return fmt.Errorf("port %d of %s is not in --tenant-host-allowlist (%s): an entry without a port "+
				"allows %d only; add %s:%d or %s:*", port, shown, allowlist, identitynow.DefaultPort, host, port, host)
		}
	}
	hint := ""
	if _, err := netip.ParseAddr(host); err == nil {
		hint = "; host globs never match IP addresses, only an entry naming the IP does"
	}
	return fmt.Errorf("host %s of %s is not in --tenant-host-allowlist (%s)%s", host, shown, allowlist, hint)
}

// urlPort is the URL's port, or the scheme's default.
func urlPort(u *url.URL) (uint16, error) {
	if u.Port() == "" {
		if u.Scheme == "http" {
			return 80, nil
		}
		return 443, nil
	}
	p, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", u.Port())
	}
	return uint16(p), nil
}

// displayURL is scheme://host[:port]/path: no user info (not even a redacted one), query or fragment.
func displayURL(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// quoteWithoutUserinfo quotes a value that is not a usable URL, unless it may hold user info.
func quoteWithoutUserinfo(raw string) string {
	if strings.Contains(raw, "@") {
		return "the URL (not shown: it contains @)"
	}
	return strconv.Quote(raw)
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
