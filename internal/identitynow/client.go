package identitynow

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// Version is reported in the default User-Agent; set it with -ldflags -X.
var Version = "dev"

const (
	defaultTimeout = 30 * time.Second
	mediaJSON      = "application/json"
	mediaJSONPatch = "application/json-patch+json"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the tenant's API URL, e.g. https://acme.api.identitynow.com.
	BaseURL string
	// TokenURL defaults to BaseURL + "/oauth/token".
	TokenURL     string
	ClientID     string
	ClientSecret string
	// Release defaults to v2024.
	Release Release
	// PatchFormat defaults to Operations.
	PatchFormat PatchFormat
	// CABundle holds extra PEM roots trusted on top of the system roots.
	CABundle []byte
	// AllowInsecureHTTP permits http:// URLs; without it New refuses them.
	AllowInsecureHTTP bool
	// DialGuard, when set, checks every connection (SIM API and token endpoint) against the policy,
	// on the address actually dialled after DNS resolution, and turns off HTTP proxies from the
	// environment, which would resolve the name themselves. Nil checks nothing (tests, local tools).
	DialGuard *AddressPolicy
	// Timeout bounds each HTTP request (SIM and token); default 30s.
	Timeout time.Duration
	// UserAgent defaults to "sim-operator/<Version>".
	UserAgent string
	// Budget is the shared rate budget of the SIM routes (see Budgets.Get). Required.
	Budget *Budget
	// SourcesBudget and ClustersBudget are the budgets of the Sources and Managed Clusters lookups,
	// which the remote counts against their own API versions (SourcesVersion, ClustersVersion). Nil
	// counts them on Budget, which is conservative (a command that sends a few requests).
	SourcesBudget, ClustersBudget *Budget
	// Clock defaults to time.Now; it drives token expiry and Retry-After dates.
	Clock func() time.Time
	// Logger receives one V(1) line per request (operation, method, path
	// template, status, duration, attempt) and per token request (result,
	// status, duration). Never headers, tokens, secrets, URLs or bodies.
	Logger logr.Logger
}

// Client calls the SIM integration routes of one tenant and release, and the Sources and Managed
// Clusters lookups that resolve names to ids. It is safe for concurrent use.
type Client struct {
	sim         *endpoint // the SIM routes, e.g. https://host/v2024/sim-integrations
	sources     *endpoint // e.g. https://host/v3/sources
	clusters    *endpoint // e.g. https://host/v2025/managed-clusters
	release     Release
	patchFormat PatchFormat
	userAgent   string
	clock       func() time.Time
	log         logr.Logger
	http        *http.Client
	transport   *http.Transport
	tokens      *tokenCache
}

// New validates cfg and returns a Client. It sends no request.
func New(cfg Config) (*Client, error) {
	cfg = withDefaults(cfg)
	if err := validate(cfg); err != nil {
		return nil, err
	}
	tr, err := newTransport(cfg.CABundle, cfg.DialGuard)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: noRedirects}
	base := strings.TrimRight(cfg.BaseURL, "/")
	tmpl := "/" + string(cfg.Release) + "/sim-integrations"
	if cfg.Release == ReleaseV1 {
		tmpl = "/sim-integrations/v1"
	}
	return &Client{
		sim:      &endpoint{base: base + tmpl, tmpl: tmpl, version: cfg.Release, budget: cfg.Budget},
		sources:  lookupEndpoint(base, "sources", SourcesVersion(cfg.Release), cmpBudget(cfg.SourcesBudget, cfg.Budget)),
		clusters: lookupEndpoint(base, "managed-clusters", ClustersVersion(cfg.Release), cmpBudget(cfg.ClustersBudget, cfg.Budget)),
		release:  cfg.Release, patchFormat: cfg.PatchFormat,
		userAgent: cfg.UserAgent, clock: cfg.Clock, log: cfg.Logger,
		http: hc, transport: tr,
		tokens: newTokenCache(cfg.TokenURL, cfg.ClientID, cfg.ClientSecret, hc, cfg.Clock, cfg.Logger),
	}, nil
}

// cmpBudget is b, or def when b is nil.
func cmpBudget(b, def *Budget) *Budget {
	if b == nil {
		return def
	}
	return b
}

func withDefaults(cfg Config) Config {
	if cfg.TokenURL == "" && cfg.BaseURL != "" {
		cfg.TokenURL = DefaultTokenURL(cfg.BaseURL)
	}
	if cfg.Release == "" {
		cfg.Release = ReleaseV2024
	}
	if cfg.PatchFormat == "" {
		cfg.PatchFormat = PatchFormatOperations
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "sim-operator/" + Version
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return cfg
}

func validate(cfg Config) error {
	invalid := func(format string, a ...any) error {
		return &Error{Kind: KindInvalid, Op: "config", detail: fmt.Sprintf(format, a...)}
	}
	for _, u := range []struct{ name, value string }{{"base URL", cfg.BaseURL}, {"token URL", cfg.TokenURL}} {
		if err := checkURL(u.value, cfg.AllowInsecureHTTP); err != nil {
			return invalid("%s: %v", u.name, err)
		}
	}
	switch {
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return invalid("client id and client secret are required")
	case !cfg.Release.Valid():
		return invalid("unsupported API release %q", cfg.Release)
	case !cfg.PatchFormat.Valid():
		return invalid("unsupported patch format %q", cfg.PatchFormat)
	case cfg.Budget == nil:
		return invalid("a rate budget is required")
	}
	return nil
}

// checkURL accepts absolute https URLs (http only when allowed) without
// user info, query or fragment.
func checkURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("missing")
	case err != nil || u.Host == "":
		return errors.New("not an absolute URL")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry user info, query or fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowHTTP:
		return nil
	case u.Scheme == "http":
		return errors.New("http:// is not allowed (https required)")
	default:
		return fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
}

// idleConnTimeout closes a tenant's connection once it has been idle this long. A tenant is listed once
// per poll interval; a kept-alive connection would hold two goroutines and their buffers per tenant
// between lists (about 25 KiB: docs/benchmarks.md), while a burst of requests still reuses it.
const idleConnTimeout = 15 * time.Second

// newTransport clones the default transport with TLS 1.2+ and the extra roots, and with the guard
// (if any) checking every address dialled.
func newTransport(caBundle []byte, guard *AddressPolicy) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.IdleConnTimeout = idleConnTimeout
	if guard != nil {
		// Through a proxy the dialled address would be the proxy's, and the proxy would resolve
		// the tenant's name itself: the check could not hold.
		tr.Proxy = nil
		tr.DialContext = guard.dialContext()
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(bytes.TrimSpace(caBundle)) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caBundle) {
			return nil, &Error{Kind: KindInvalid, Op: "config", detail: "caBundle holds no PEM certificate"}
		}
		tc.RootCAs = pool
	}
	tr.TLSClientConfig = tc
	return tr, nil
}

// noRedirects makes a 3xx the final response, so credentials never follow a redirect.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Close releases idle connections. The Client stays usable.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// Release returns the API release the client speaks.
func (c *Client) Release() Release { return c.release }

// CheckToken obtains a token, or confirms the cached one is still valid.
func (c *Client) CheckToken(ctx context.Context) error {
	_, err := c.tokens.token(ctx)
	return c.scrub(ctx, call{}, nil, err)
}

// List returns every SIM integration of the tenant.
func (c *Client) List(ctx context.Context) ([]Integration, error) {
	var out []Integration
	if err := c.ListEach(ctx, func(in Integration) { out = append(out, in) }); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Integration{}
	}
	return out, nil
}

// ListEach lists every SIM integration like List, passing them to each one at a time as they are
// decoded from the response body, which is never held whole (each element may take up to 1 MiB,
// the list up to 32 MiB). If it returns an error, the integrations already passed are to be
// discarded.
func (c *Client) ListEach(ctx context.Context, each func(Integration)) error {
	return c.do(ctx, call{op: "list", method: http.MethodGet}, func(b *bodyReader) error {
		return decodeEach(b, each)
	})
}

// Get returns one SIM integration.
func (c *Client) Get(ctx context.Context, id string) (*Integration, error) {
	return c.one(ctx, call{op: "get", method: http.MethodGet, item: true, id: id})
}

// Create POSTs a new integration. It is never retried inside the client
// (except once after a 401, which means the request was not processed).
func (c *Client) Create(ctx context.Context, d Details) (*Integration, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Op: "create", detail: "details cannot be encoded"}
	}
	in, err := c.one(ctx, call{op: "create", method: http.MethodPost, body: body, ctype: mediaJSON,
		sensitive: stringLeaves(d.Attributes)})
	if err == nil && in.ID == "" {
		return in, malformed("create", errors.New("response has no id"))
	}
	return in, err
}

// Put replaces an integration with d.
func (c *Client) Put(ctx context.Context, id string, d Details) (*Integration, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Op: "put", detail: "details cannot be encoded"}
	}
	return c.one(ctx, call{op: "put", method: http.MethodPut, item: true, id: id, body: body, ctype: mediaJSON,
		sensitive: stringLeaves(d.Attributes)})
}

// Patch applies JSON Patch operations to an integration.
func (c *Client) Patch(ctx context.Context, id string, ops []Operation) (*Integration, error) {
	return c.patch(ctx, call{op: "patch", method: http.MethodPatch, item: true, id: id}, ops)
}

// PatchBeforeProvisioningRule applies JSON Patch operations (paths relative to
// the integration, e.g. /beforeProvisioningRule) to the rule sub-resource.
func (c *Client) PatchBeforeProvisioningRule(ctx context.Context, id string, ops []Operation) (*Integration, error) {
	return c.patch(ctx, call{op: "patch_rule", method: http.MethodPatch, item: true, id: id, sub: "/beforeProvisioningRule"}, ops)
}

// Delete removes an integration. A 404 is returned as a KindNotFound error.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, call{op: "delete", method: http.MethodDelete, item: true, id: id}, nil)
}

func (c *Client) patch(ctx context.Context, cl call, ops []Operation) (*Integration, error) {
	if ops == nil {
		ops = []Operation{}
	}
	var v any = ops
	if c.patchFormat == PatchFormatOperations {
		v = struct {
			Operations []Operation `json:"operations"`
		}{ops}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Op: cl.op, detail: "operations cannot be encoded"}
	}
	cl.body, cl.ctype = body, mediaJSONPatch
	for _, o := range ops {
		cl.sensitive = append(cl.sensitive, stringLeaves(o.Value)...)
	}
	return c.one(ctx, cl)
}

// one performs a call whose response is a single integration, of at most 1 MiB.
func (c *Client) one(ctx context.Context, cl call) (*Integration, error) {
	var in *Integration
	err := c.do(ctx, cl, func(b *bodyReader) error {
		data, err := readObject(b)
		if err != nil {
			return err
		}
		in, err = decodeIntegration(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// stringLeaves returns every string value inside v (as JSON would encode it).
func stringLeaves(v any) []string {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var x any
	_ = json.Unmarshal(b, &x)
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case string:
			out = append(out, t)
		case []any:
			for _, e := range t {
				walk(e)
			}
		case map[string]any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(x)
	return out
}

func malformed(op string, err error) *Error {
	return &Error{Kind: KindServer, StatusCode: http.StatusOK, Op: op, detail: err.Error()}
}

// transportError converts a failure without a response; nil if err is not one.
// The url.Error wrapper (method and URL) is dropped, only its cause is kept.
func transportError(op string, err error) *Error {
	var ue *url.Error
	var ne net.Error
	switch {
	case errors.As(err, &ue):
		return &Error{Kind: KindTransport, Op: op, detail: ue.Err.Error(), cause: ue.Err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		return &Error{Kind: KindTransport, Op: op, detail: err.Error(), cause: err}
	}
	return nil
}
