// Package tenant turns Tenant and ClusterTenant objects into ready IdentityNow connections: the client
// with its credentials, the rate budget shared by tenants with the same credentials and release, and
// the per-tenant remote snapshot.
package tenant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Remote is the IdentityNow SIM API, and the lookups that resolve names to ids, as the reconcilers use
// them. *identitynow.Client implements it, and remotefake.Remote imitates it for tests. Every error is
// an *identitynow.Error whose Kind says what the caller may do (identitynow.KindOf); every request
// takes one unit of a rate budget (the SIM calls the tenant's, each lookup the budget of its own API
// version, shared by the tenants with the same credentials), and none blocks longer than its context
// and the client's request timeout allow.
type Remote interface {
	// ListEach pages through every integration of the tenant, calling each once per object in the
	// order served. An error after some calls means the list is incomplete and must be discarded.
	ListEach(ctx context.Context, each func(identitynow.Integration)) error
	// Get reads one integration; an object that does not exist is KindNotFound.
	Get(ctx context.Context, id string) (*identitynow.Integration, error)
	// Create sends one POST and returns the object the remote stored, with its new id. It is the only
	// call that is not safe to retry: after KindTransport or KindServer the object may exist anyway, so
	// a caller must look it up by name (in a list sent after the failure) before creating again.
	Create(ctx context.Context, d identitynow.Details) (*identitynow.Integration, error)
	// Put replaces the whole object and returns it as stored. Attributes the remote masks must be sent
	// with their real values, or the mask overwrites them.
	Put(ctx context.Context, id string, d identitynow.Details) (*identitynow.Integration, error)
	// Patch applies JSON Patch operations (in the tenant's patch format) and returns the object as
	// stored. A KindInvalid answer may come from operations computed on an out-of-date copy.
	Patch(ctx context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error)
	// PatchBeforeProvisioningRule applies operations on /beforeProvisioningRule, which the remote
	// serves on a route of its own, and returns the object as stored.
	PatchBeforeProvisioningRule(ctx context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error)
	// Delete deletes one integration; one already gone is KindNotFound.
	Delete(ctx context.Context, id string) error
	// CheckToken obtains a token if the cached one is missing or close to expiry; KindUnauthorized
	// means the credentials were refused.
	CheckToken(ctx context.Context) error
	// ListSources lists the sources named by names (the Sources API, scope idn:sources:read), calling
	// each once per source listed. The remote compares names without regard to case and may pass
	// sources whose names only resemble those asked for: the caller compares. It sends as few requests
	// as the names allow (usually one, more for a long list of names or over 250 results) and passes at
	// most identitynow.MaxLookupResults objects. An error means the list is incomplete and must be
	// discarded; a 403 (KindForbidden) means the API client lacks the scope.
	ListSources(ctx context.Context, names []string, each func(identitynow.Named)) error
	// ListManagedClusters is ListSources for managed clusters (the Managed Clusters API, scope
	// idn:remote-client:read).
	ListManagedClusters(ctx context.Context, names []string, each func(identitynow.Named)) error
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
	// Refs is the tenant's shared cache of name references (sources and managed clusters), set with
	// Snapshot.
	Refs *References
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
	return DefaultPollInterval
}

// DefaultPollInterval is the CRD's default pollInterval: one list per minute is 1 request in 600 of
// the documented budget, whatever the tenant's size (docs/benchmarks.md).
const DefaultPollInterval = time.Minute

// List lists the tenant's remote objects; it is the snapshot's ListFunc.
func (c *Connection) List(ctx context.Context, each func(identitynow.Integration)) error {
	return c.Remote.ListEach(ctx, each)
}

// ListSources lists sources by name; it is the references cache's lister.
func (c *Connection) ListSources(ctx context.Context, names []string, each func(identitynow.Named)) error {
	return c.Remote.ListSources(ctx, names, each)
}

// ListManagedClusters lists managed clusters by name; it is the references cache's lister.
func (c *Connection) ListManagedClusters(ctx context.Context, names []string, each func(identitynow.Named)) error {
	return c.Remote.ListManagedClusters(ctx, names, each)
}

// Proven reports whether the connection's credentials have produced a token: only then does it carry
// the tenant's shared snapshot, and only then may SimIntegrations act through it.
func (c *Connection) Proven() bool { return c.Snapshot != nil }

// Registry keeps one Connection per tenant object, one rate budget per (token URL, client id, release,
// client secret) and one snapshot per (endpoint, the same credentials), however many tenants share
// them. Sharing waits for proof: a tenant joins a budget's limit and a snapshot only once its own
// credentials have produced a token (Prove), so knowing another tenant's client id is not enough to
// read its remote objects or to lower its limit. Clients, budgets and snapshots that no tenant uses
// any more are dropped. It is safe for concurrent use.
type Registry struct {
	budgets   *identitynow.Budgets
	newRemote func(identitynow.Config) (Remote, error)
	allowHTTP bool
	dialGuard *identitynow.AddressPolicy
	log       logr.Logger
	onChange  func(endpoint string, ids []string)
	clock     func() time.Time
	timeout   time.Duration

	mu    sync.Mutex
	conns map[string]*entry
	// snapshots are shared by the proven tenants of one endpoint and credentials; users are tenant keys.
	snapshots map[string]*sharedSnapshot
	// owners of each budget: every tenant whose client holds it, with its declared limit. The budget
	// enforces the strictest limit of the proven owners, since the remote counts them all against
	// one client id and release.
	owners map[identitynow.BudgetKey]budgetOwners
}

type entry struct {
	fingerprint string
	conn        *Connection
	budgetKey   identitynow.BudgetKey
	// lookupKeys are the budgets of the Sources and Managed Clusters lookups (one per API version;
	// either may be budgetKey itself, when the SIM release is that version).
	lookupKeys  []identitynow.BudgetKey
	snapshotKey string
}

type budgetOwner struct {
	key    string // the tenant's registry key
	limit  simv1alpha1.RateLimit
	proven bool
}

// budgetOwners are a budget's owners. Most budgets have one (each tenant its own API client), so a
// slice: a map per budget cost about 1 KiB each, three budgets per tenant (docs/benchmarks.md).
type budgetOwners []budgetOwner

func (bo budgetOwners) index(key string) int {
	for i := range bo {
		if bo[i].key == key {
			return i
		}
	}
	return -1
}

type sharedSnapshot struct {
	snapshot *Snapshot
	refs     *References
	users    map[string]bool
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
		log: o.Logger, onChange: o.OnChange, clock: o.Clock, timeout: o.Timeout, dialGuard: o.DialGuard,
		conns: map[string]*entry{}, snapshots: map[string]*sharedSnapshot{},
		owners: map[identitynow.BudgetKey]budgetOwners{},
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
// credentials changed since the last call. A new connection is not proven: it has no snapshot and
// its limit does not count on a shared budget until Prove. It sends no request.
func (r *Registry) Connect(key string, spec simv1alpha1.TenantSpec, creds Credentials) (*Connection, error) {
	fp := fingerprint(spec, creds)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.conns[key]; ok && e.fingerprint == fp {
		return e.conn, nil
	}
	tokenURL := spec.TokenURL
	if tokenURL == "" {
		tokenURL = identitynow.DefaultTokenURL(spec.BaseURL)
	}
	release := identitynow.Release(spec.APIRelease)
	cred := credentialDigest(tokenURL, creds)
	budgetKey := identitynow.BudgetKey{TokenURL: tokenURL, ClientID: creds.ClientID, Release: release, Credential: cred}
	r.releaseLocked(key)
	budget := r.joinBudget(key, budgetKey, spec.RateLimit)
	// The remote counts its limit per client id and API version: the lookups count on the budgets of
	// their own versions, with the same declared limit (the documented one applies to each version).
	sourcesKey, clustersKey := budgetKey, budgetKey
	sourcesKey.Release, clustersKey.Release = identitynow.SourcesVersion(release), identitynow.ClustersVersion(release)
	lookupKeys := []identitynow.BudgetKey{sourcesKey, clustersKey}
	sourcesBudget := r.joinBudget(key, sourcesKey, spec.RateLimit)
	clustersBudget := r.joinBudget(key, clustersKey, spec.RateLimit)
	remote, err := r.newRemote(identitynow.Config{
		BaseURL: spec.BaseURL, TokenURL: tokenURL, ClientID: creds.ClientID, ClientSecret: creds.ClientSecret,
		Release: release, PatchFormat: identitynow.PatchFormat(spec.PatchFormat), CABundle: spec.CABundle,
		DialGuard:         r.dialGuard,
		AllowInsecureHTTP: r.allowHTTP, Budget: budget, Clock: r.clock, Logger: r.log, Timeout: r.timeout,
		SourcesBudget: sourcesBudget, ClustersBudget: clustersBudget,
	})
	if err != nil {
		for _, bk := range append([]identitynow.BudgetKey{budgetKey}, lookupKeys...) {
			r.leaveBudget(key, bk)
		}
		return nil, err
	}
	endpoint := Endpoint(spec)
	r.conns[key] = &entry{
		fingerprint: fp, budgetKey: budgetKey, lookupKeys: lookupKeys, snapshotKey: endpoint + "|" + cred,
		conn: &Connection{Remote: remote, Spec: *spec.DeepCopy(), Endpoint: endpoint},
	}
	return r.conns[key].conn, nil
}

// Prove records that conn's credentials produced a token and returns the shared connection: the same
// client with the snapshot of every proven tenant of its endpoint and credentials, and its limit now
// counted on the shared budget. It fails if conn is no longer the tenant's current connection.
func (r *Registry) Prove(key string, conn *Connection) (*Connection, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.conns[key]
	if !ok || (e.conn != conn && e.conn.Remote != conn.Remote) {
		return nil, errConnectionReplaced
	}
	if e.conn.Proven() {
		return e.conn, nil
	}
	for _, bk := range append([]identitynow.BudgetKey{e.budgetKey}, e.lookupKeys...) {
		if i := r.owners[bk].index(key); i >= 0 {
			r.owners[bk][i].proven = true
		}
		r.applyLimit(bk)
	}
	shared, ok := r.snapshots[e.snapshotKey]
	if !ok {
		var notify func([]string)
		if r.onChange != nil {
			endpoint := e.conn.Endpoint
			notify = func(ids []string) { r.onChange(endpoint, ids) }
		}
		shared = &sharedSnapshot{snapshot: NewSnapshot(SnapshotOptions{Clock: r.clock, OnChange: notify}),
			refs: NewReferences(r.clock), users: map[string]bool{}}
		r.snapshots[e.snapshotKey] = shared
	}
	shared.users[key] = true
	proven := *e.conn
	proven.Snapshot, proven.Refs = shared.snapshot, shared.refs
	e.conn = &proven
	r.setSnapshotSourceLocked(shared)
	return e.conn, nil
}

// setSnapshotSourceLocked points a shared snapshot at one of its users' clients (they share credentials
// and endpoint, so any of them lists the same objects) and at the shortest poll interval they ask for.
func (r *Registry) setSnapshotSourceLocked(shared *sharedSnapshot) {
	var lister *Connection
	interval := time.Duration(0)
	for user := range shared.users {
		e, ok := r.conns[user]
		if !ok {
			continue
		}
		if lister == nil || e.conn.PollInterval() < interval {
			lister, interval = e.conn, e.conn.PollInterval()
		}
	}
	if lister != nil {
		shared.snapshot.setSource(lister.List, interval)
		shared.refs.setSource(lister.ListSources, lister.ListManagedClusters, interval)
	}
}

var errConnectionReplaced = errors.New("the tenant's credentials or spec changed meanwhile; trying again")

// Lookup returns the proven Connection last built for key.
func (r *Registry) Lookup(key string) (*Connection, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.conns[key]
	if !ok || !e.conn.Proven() {
		return nil, false
	}
	return e.conn, true
}

// Forget drops the Connection of a deleted or broken tenant object, and with it the client, budget and
// snapshot if no other tenant uses them.
func (r *Registry) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseLocked(key)
}

// Len returns the number of connections, budgets and snapshots held (for tests and metrics).
func (r *Registry) Len() (conns, budgets, snapshots int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns), r.budgets.Len(), len(r.snapshots)
}

// releaseLocked drops key's connection: it closes the client, leaves its budget and its snapshot.
func (r *Registry) releaseLocked(key string) {
	e, ok := r.conns[key]
	if !ok {
		return
	}
	delete(r.conns, key)
	if c, ok := e.conn.Remote.(interface{ Close() }); ok {
		c.Close()
	}
	r.leaveBudget(key, e.budgetKey)
	for _, bk := range e.lookupKeys {
		r.leaveBudget(key, bk)
	}
	if shared, ok := r.snapshots[e.snapshotKey]; ok {
		delete(shared.users, key)
		shared.refs.forget(key)
		if len(shared.users) == 0 {
			delete(r.snapshots, e.snapshotKey)
		} else {
			r.setSnapshotSourceLocked(shared)
		}
	}
}

// joinBudget returns the budget for bk with key as an unproven owner: the budget keeps the limit of its
// proven owners, or takes the strictest unproven limit if it has none.
func (r *Registry) joinBudget(key string, bk identitynow.BudgetKey, limit simv1alpha1.RateLimit) *identitynow.Budget {
	owner := budgetOwner{key: key, limit: limit}
	if i := r.owners[bk].index(key); i >= 0 {
		r.owners[bk][i] = owner
	} else {
		r.owners[bk] = append(r.owners[bk], owner)
	}
	return r.applyLimit(bk)
}

// leaveBudget removes key from bk's owners, relaxing the budget to the strictest limit that remains,
// and drops the budget when it has no owner left.
func (r *Registry) leaveBudget(key string, bk identitynow.BudgetKey) {
	owners := r.owners[bk]
	i := owners.index(key)
	if i < 0 {
		return
	}
	owners = slices.Delete(owners, i, i+1)
	r.owners[bk] = owners
	if len(owners) == 0 {
		delete(r.owners, bk)
		r.budgets.Drop(bk)
		return
	}
	r.applyLimit(bk)
}

// applyLimit sets bk's budget to the strictest limit among its proven owners, or among all owners when
// none is proven yet (then the budget is theirs alone, shared with no proven tenant).
func (r *Registry) applyLimit(bk identitynow.BudgetKey) *identitynow.Budget {
	var proven, all []simv1alpha1.RateLimit
	for _, o := range r.owners[bk] {
		all = append(all, o.limit)
		if o.proven {
			proven = append(proven, o.limit)
		}
	}
	if len(proven) == 0 {
		proven = all
	}
	requests, period := strictest(proven)
	return r.budgets.Get(bk, requests, period)
}

// strictest returns the lowest rate (requests per period) among the limits.
func strictest(limits []simv1alpha1.RateLimit) (requests int, period time.Duration) {
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

// credentialDigest identifies an API client by everything needed to use it, the secret included, so
// that only tenants holding the same secret share state. The digest never leaves the process.
func credentialDigest(tokenURL string, creds Credentials) string {
	h := sha256.Sum256([]byte(tokenURL + "\x00" + creds.ClientID + "\x00" + creds.ClientSecret))
	return hex.EncodeToString(h[:])
}

// ValidClientID refuses client ids that no IdentityNow API client has: empty, longer than 256
// characters, or with characters other than printable ASCII without spaces. A user-chosen id keys
// shared state, so its size is bounded.
func ValidClientID(id string) error {
	if id == "" || len(id) > maxClientIDLen {
		return fmt.Errorf("must be 1 to %d characters long", maxClientIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return errors.New("must hold printable ASCII characters only, without spaces")
		}
	}
	return nil
}

const maxClientIDLen = 256

// fingerprint changes whenever the client must be rebuilt. It hashes the client secret together with
// everything else so that a rotated value in an unchanged Secret version is still noticed; the digest
// never leaves the process.
func fingerprint(spec simv1alpha1.TenantSpec, creds Credentials) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(spec)
	h.Write([]byte(creds.ClientID + "\x00" + creds.ClientSecret + "\x00" + creds.ResourceVersion))
	return hex.EncodeToString(h.Sum(nil))
}
