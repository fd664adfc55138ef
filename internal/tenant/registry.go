// Package tenant turns Tenant and ClusterTenant objects into ready IdentityNow connections: the client
// with its credentials, the rate budget shared per (token URL, client id, release), and the per-tenant
// remote snapshot.
package tenant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Remote is the IdentityNow SIM API as the reconcilers use it. *identitynow.Client implements it;
// every method is safe to retry except Create, which callers retry only after a lookup by name.
type Remote interface {
	ListEach(ctx context.Context, each func(identitynow.Integration)) error
	Get(ctx context.Context, id string) (*identitynow.Integration, error)
	Create(ctx context.Context, d identitynow.Details) (*identitynow.Integration, error)
	Put(ctx context.Context, id string, d identitynow.Details) (*identitynow.Integration, error)
	Patch(ctx context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error)
	PatchBeforeProvisioningRule(ctx context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error)
	Delete(ctx context.Context, id string) error
	CheckToken(ctx context.Context) error
}

var _ Remote = (*identitynow.Client)(nil)

// Credentials are an API client's id and secret, with the Secret's resourceVersion.
type Credentials struct {
	ClientID, ClientSecret string
	// ResourceVersion of the Secret they came from; a new version builds a new client.
	ResourceVersion string
}

// Connection is a ready way to reach one tenant.
type Connection struct {
	// Remote calls the tenant's API.
	Remote Remote
	// Snapshot is the tenant's shared remote view.
	Snapshot *Snapshot
	// Spec is the tenant spec the connection was built from.
	Spec simv1alpha1.TenantSpec
	// Endpoint identifies the tenant's id space (base URL and release): two objects with the same
	// Endpoint and remote id are the same remote object.
	Endpoint string
}

// PollInterval is the tenant's drift-detection interval.
func (c *Connection) PollInterval() time.Duration {
	if d := c.Spec.PollInterval.Duration; d > 0 {
		return d
	}
	return 10 * time.Minute
}

// List lists the tenant's remote objects; it is the snapshot's ListFunc.
func (c *Connection) List(ctx context.Context, each func(identitynow.Integration)) error {
	return c.Remote.ListEach(ctx, each)
}

// Registry keeps one Connection per tenant object and one rate budget per (token URL, client id,
// release), however many tenants share it. It is safe for concurrent use.
type Registry struct {
	budgets   *identitynow.Budgets
	newRemote func(identitynow.Config) (Remote, error)
	allowHTTP bool
	dialGuard *identitynow.AddressPolicy
	log       logr.Logger
	onChange  func(endpoint string, ids []string)
	mu        sync.Mutex
	conns     map[string]*entry
	snapshots map[string]*Snapshot
	// limits holds every tenant's declared rate limit per shared budget: the budget enforces the
	// strictest, since the remote counts all of them against one client id and release.
	limits     map[identitynow.BudgetKey]map[string]simv1alpha1.RateLimit
	clock      func() time.Time
	httpTimout time.Duration
}

type entry struct {
	fingerprint string
	conn        *Connection
}

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// AllowInsecureHTTP lets clients use http:// URLs.
	AllowInsecureHTTP bool
	// DialGuard is the address policy every client checks when it connects (identitynow.Config.DialGuard).
	DialGuard *identitynow.AddressPolicy
	// NewRemote builds a Remote; defaults to identitynow.New.
	NewRemote func(identitynow.Config) (Remote, error)
	// OnChange is told which remote ids changed or vanished in a snapshot refresh.
	OnChange func(endpoint string, ids []string)
	// Logger for the clients (V(1) per request).
	Logger logr.Logger
	// Clock defaults to time.Now.
	Clock func() time.Time
	// Timeout per HTTP request; defaults to the client's.
	Timeout time.Duration
}

// NewRegistry returns an empty Registry.
func NewRegistry(o RegistryOptions) *Registry {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.NewRemote == nil {
		o.NewRemote = func(cfg identitynow.Config) (Remote, error) { return identitynow.New(cfg) }
	}
	return &Registry{
		budgets: identitynow.NewBudgets(o.Clock), newRemote: o.NewRemote, allowHTTP: o.AllowInsecureHTTP,
		log: o.Logger, onChange: o.OnChange, clock: o.Clock, httpTimout: o.Timeout, dialGuard: o.DialGuard,
		conns: map[string]*entry{}, snapshots: map[string]*Snapshot{},
		limits: map[identitynow.BudgetKey]map[string]simv1alpha1.RateLimit{},
	}
}

// Key names a tenant object in the registry.
func Key(kind simv1alpha1.TenantKind, namespace, name string) string {
	if kind == simv1alpha1.TenantKindClusterTenant {
		namespace = ""
	}
	return string(kind) + "/" + namespace + "/" + name
}

// Connect returns the Connection for a tenant object, building a new client when the spec or the
// credentials changed since the last call.
func (r *Registry) Connect(key string, spec simv1alpha1.TenantSpec, creds Credentials) (*Connection, error) {
	fp := fingerprint(spec, creds)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.conns[key]; ok && e.fingerprint == fp {
		return e.conn, nil
	}
	endpoint := Endpoint(spec)
	tokenURL := spec.TokenURL
	if tokenURL == "" {
		tokenURL = strings.TrimRight(spec.BaseURL, "/") + "/oauth/token"
	}
	release := identitynow.Release(spec.APIRelease)
	budgetKey := identitynow.BudgetKey{TokenURL: tokenURL, ClientID: creds.ClientID, Release: release}
	r.dropLimit(key)
	if r.limits[budgetKey] == nil {
		r.limits[budgetKey] = map[string]simv1alpha1.RateLimit{}
	}
	r.limits[budgetKey][key] = spec.RateLimit
	requests, period := strictest(r.limits[budgetKey])
	budget := r.budgets.Get(budgetKey, requests, period)
	remote, err := r.newRemote(identitynow.Config{
		BaseURL: spec.BaseURL, TokenURL: tokenURL, ClientID: creds.ClientID, ClientSecret: creds.ClientSecret,
		Release: release, PatchFormat: identitynow.PatchFormat(spec.PatchFormat), CABundle: spec.CABundle,
		DialGuard:         r.dialGuard,
		AllowInsecureHTTP: r.allowHTTP, Budget: budget, Clock: r.clock, Logger: r.log, Timeout: r.httpTimout,
	})
	if err != nil {
		return nil, err
	}
	snapKey := endpoint + "|" + creds.ClientID
	snap, ok := r.snapshots[snapKey]
	if !ok {
		var notify func([]string)
		if r.onChange != nil {
			notify = func(ids []string) { r.onChange(endpoint, ids) }
		}
		snap = NewSnapshot(r.clock, notify)
		r.snapshots[snapKey] = snap
	}
	conn := &Connection{Remote: remote, Snapshot: snap, Spec: *spec.DeepCopy(), Endpoint: endpoint}
	r.conns[key] = &entry{fingerprint: fp, conn: conn}
	return conn, nil
}

// Lookup returns the Connection last built for key.
func (r *Registry) Lookup(key string) (*Connection, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.conns[key]
	if !ok {
		return nil, false
	}
	return e.conn, true
}

// Forget drops the Connection of a deleted or broken tenant object.
func (r *Registry) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, key)
	r.dropLimit(key)
}

// dropLimit removes a tenant's declared limit from whichever budget it was counted in, and relaxes that
// budget to the strictest limit that remains.
func (r *Registry) dropLimit(key string) {
	for bk, owners := range r.limits {
		if _, ok := owners[key]; !ok {
			continue
		}
		delete(owners, key)
		if len(owners) == 0 {
			delete(r.limits, bk)
			continue
		}
		requests, period := strictest(owners)
		r.budgets.Get(bk, requests, period)
	}
}

// strictest returns the lowest rate (requests per period) among the limits.
func strictest(limits map[string]simv1alpha1.RateLimit) (requests int, period time.Duration) {
	for _, l := range limits {
		p := l.Period.Duration
		if requests == 0 || float64(l.Requests)/p.Seconds() < float64(requests)/period.Seconds() {
			requests, period = int(l.Requests), p
		}
	}
	return requests, period
}

// Endpoint identifies a tenant's id space: its base URL and API release.
func Endpoint(spec simv1alpha1.TenantSpec) string {
	return strings.TrimRight(strings.ToLower(spec.BaseURL), "/") + "#" + string(spec.APIRelease)
}

// fingerprint changes whenever the client must be rebuilt. It hashes the client secret together with
// everything else so that a rotated value in an unchanged Secret version is still noticed; the digest
// never leaves the process.
func fingerprint(spec simv1alpha1.TenantSpec, creds Credentials) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(spec)
	h.Write([]byte(creds.ClientID + "\x00" + creds.ClientSecret + "\x00" + creds.ResourceVersion))
	return hex.EncodeToString(h.Sum(nil))
}
