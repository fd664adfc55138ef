package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

// releases are the SDK packages with SIM operations that the fake serves.
var releases = []release{releaseV2024, releaseV2025, releaseV2026}

// release connects one SDK package.
type release struct {
	name    string
	connect func(connection) simAPI
}

// connection is what an SDK Configuration is made of.
type connection struct {
	baseURL, clientID, secret string
	token                     string // a token the SDK uses as is (no token request)
	experimental              bool   // Configuration.Experimental
	header                    *string
	http                      *retryablehttp.Client
}

// simAPI is the SIM service of one SDK package; each method is one SDK operation.
type simAPI interface {
	List(ctx context.Context) ([]observed, *http.Response, error)
	Create(ctx context.Context, in integration) (observed, *http.Response, error)
	Get(ctx context.Context, id string) (observed, *http.Response, error)
	Put(ctx context.Context, id string, in integration) (observed, *http.Response, error)
	Patch(ctx context.Context, id string, ops []patchOp) (observed, *http.Response, error)
	PatchRule(ctx context.Context, id string, ops []patchOp) (observed, *http.Response, error)
	Delete(ctx context.Context, id string) (*http.Response, error)
	ErrorDTO(err error) (errorDTO, bool)
}

// integration is what the test sends, as the SDK's SimIntegrationDetails ("" and nil: not set).
type integration struct {
	Name, Description, Type, Cluster string
	Attributes, StatusMap, Request   map[string]any
	Sources                          []string
	Rule                             *ref
}

// observed is what the SDK decoded, from its ServiceDeskIntegrationDto.
type observed struct {
	ID, Name, Description, Type string
	Created, Modified           time.Time
	Attributes                  map[string]any
	ManagedSources              []string
	ClusterSet                  bool   // the key cluster was present (null included)
	Cluster                     string // its value, "" for null
	ClusterRef, Rule            *ref
	ResourceRefs                []ref          // provisioningConfig.managedResourceRefs
	Extra                       map[string]any // AdditionalProperties: keys the DTO does not declare
}

type ref struct{ Type, ID, Name string }

// patchOp is one JsonPatchOperation; Value is a string, bool, int32, map or nil.
type patchOp struct {
	Op, Path string
	Value    any
}

// errorDTO is the SDK's ErrorResponseDto as decoded from an error body.
type errorDTO struct {
	DetailCode, TrackingID string
	Messages               []message
	Extra                  map[string]any
}

type message struct{ Locale, LocaleOrigin, Text string }

const (
	clientID     = "conformance-client"
	clientSecret = "conformance-secret"
	secretKey    = "password"
	secretValue  = "s3cret-value"
)

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// server starts a fake with one client and the given options.
func server(t *testing.T, opts fake.Options) (*fake.Server, string) {
	t.Helper()
	opts.Clients = map[string]string{clientID: clientSecret}
	s := fake.NewServer(opts)
	u := s.Start()
	t.Cleanup(s.Close)
	return s, u
}

// sdkHTTP is the SDK's default transport (retryablehttp with its defaults) without its log.
func sdkHTTP() *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.Logger = nil
	return c
}

// noRetries returns every response to the SDK, as a client that handles 429 itself would.
func noRetries() *retryablehttp.Client {
	c := sdkHTTP()
	c.RetryMax = 0
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return c
}

func connect(rel release, baseURL string, hc *retryablehttp.Client) simAPI {
	return rel.connect(connection{baseURL: baseURL, clientID: clientID, secret: clientSecret, experimental: true, http: hc})
}

// full is a SimIntegrationDetails with every field, as in SailPoint's example.
func full(name string) integration {
	return integration{
		Name: name, Description: "Integration description", Type: "ServiceNow Service Desk",
		Attributes: map[string]any{"uid": "Walter White", secretKey: secretValue, "cloudStatus": "UNREGISTERED",
			"lastSyncDate": float64(1470348809380)},
		Sources: []string{"2c9180835d191a86015d28455b4a2329", "2c5680835d191a85765d28455b4a9823"},
		Cluster: "xyzzy999",
		StatusMap: map[string]any{"closed_cancelled": "Failed", "closed_complete": "Committed",
			"closed_incomplete": "Failed", "closed_rejected": "Failed", "in_process": "Queued", "requested": "Queued"},
		Request: map[string]any{"description": "SailPoint Access Request",
			"short_description": "SailPoint Access Request $!plan.arguments.identityRequestId"},
		Rule: &ref{Type: "RULE", ID: "2c918085708c274401708c2a8a760001", Name: "Example Rule"},
	}
}

// TestLifecycle calls every SIM operation of every SDK package in both response shapes and both
// secret modes, and checks what the SDK's models decode, what went on the wire and what the fake
// stored.
func TestLifecycle(t *testing.T) {
	for _, rel := range releases {
		for _, shape := range []fake.Shape{fake.ShapeEcho, fake.ShapeDTO} {
			for _, hiding := range []string{"masked", "omitted"} {
				t.Run(rel.name+"/"+string(shape)+"/"+hiding, func(t *testing.T) {
					t.Parallel()
					lifecycle(t, rel, shape, hiding)
				})
			}
		}
	}
}

func lifecycle(t *testing.T, rel release, shape fake.Shape, hiding string) {
	opts := fake.Options{Shape: shape, RateLimit: fake.RateLimit{Requests: 100, Period: 10 * time.Second}}
	if hiding == "masked" {
		opts.MaskedAttributes = []string{secretKey}
	} else {
		opts.OmittedAttributes = []string{secretKey}
	}
	s, u := server(t, opts)
	sdk := connect(rel, u, sdkHTTP())
	ctx := context.Background()
	c := &checker{t: t, s: s, shape: shape, hiding: hiding}

	list, res, err := sdk.List(ctx)
	c.ok("list (empty)", res, err)
	if len(list) != 0 {
		t.Fatalf("list of an empty tenant: %d items", len(list))
	}

	want := full("sim-" + rel.name)
	created, res, err := sdk.Create(ctx, want)
	c.ok("create", res, err)
	c.integration("create", created, want)
	id := created.ID
	c.stored("create", id, want)
	c.wire("create", http.MethodPost, "/"+rel.name+"/sim-integrations", "application/json", func(body map[string]any) {
		for _, k := range []string{"attributes", "statusMap", "request", "beforeProvisioningRule"} {
			if _, isObject := body[k].(map[string]any); !isObject {
				t.Errorf("create: the SDK sent %s as %T, want a JSON object", k, body[k])
			}
		}
	})

	minimal := integration{Name: "minimal-" + rel.name}
	small, res, err := sdk.Create(ctx, minimal)
	c.ok("create (name only)", res, err)
	c.integration("create (name only)", small, minimal)

	got, res, err := sdk.Get(ctx, id)
	c.ok("get", res, err)
	c.integration("get", got, want)
	if got.ID != id || !got.Created.Equal(created.Created) {
		t.Errorf("get: id %s created %s, want %s %s", got.ID, got.Created, id, created.Created)
	}

	list, res, err = sdk.List(ctx)
	c.ok("list", res, err)
	if ids := idsOf(list); !slices.Equal(ids, []string{id, small.ID}) {
		t.Fatalf("list: ids %v, want %v", ids, []string{id, small.ID})
	}
	c.integration("list[0]", list[0], want)

	want.Description = "updated by PUT"
	want.Attributes = map[string]any{"uid": "Jesse Pinkman", secretKey: "n3w-" + secretValue}
	want.Sources = []string{"2c9180835d191a86015d28455b4a2329"}
	put, res, err := sdk.Put(ctx, id, want)
	c.ok("put", res, err)
	c.integration("put", put, want)
	c.stored("put", id, want)

	ops := []patchOp{
		{Op: "replace", Path: "/description", Value: "patched"},
		{Op: "add", Path: "/attributes/enabled", Value: true},
		{Op: "add", Path: "/attributes/retries", Value: int32(3)},
		{Op: "replace", Path: "/statusMap", Value: map[string]any{"closed_complete": "Committed"}},
	}
	want.Description, want.StatusMap = "patched", map[string]any{"closed_complete": "Committed"}
	want.Attributes = map[string]any{"uid": "Jesse Pinkman", secretKey: "n3w-" + secretValue, "enabled": true,
		"retries": float64(3)}
	patched, res, err := sdk.Patch(ctx, id, ops)
	c.ok("patch", res, err)
	c.integration("patch", patched, want)
	c.stored("patch", id, want)
	c.wire("patch", http.MethodPatch, "/"+rel.name+"/sim-integrations/"+id, "application/json-patch+json",
		func(body map[string]any) {
			if ops, _ := body["operations"].([]any); len(ops) != 4 {
				t.Errorf("patch: the SDK sent %v, want {\"operations\":[4 operations]}", body)
			}
		})

	want.Rule = &ref{Type: "RULE", ID: "048eb3d55c5a4758bd07dccb87741c78", Name: "Before Provisioning Airtable Rule"}
	rule, res, err := sdk.PatchRule(ctx, id, []patchOp{{Op: "replace", Path: "/beforeProvisioningRule",
		Value: map[string]any{"type": want.Rule.Type, "id": want.Rule.ID, "name": want.Rule.Name}}})
	c.ok("patch beforeProvisioningRule", res, err)
	c.integration("patch beforeProvisioningRule", rule, want)
	c.stored("patch beforeProvisioningRule", id, want)

	for _, del := range []string{id, small.ID} {
		res, err = sdk.Delete(ctx, del)
		c.ok("delete", res, err)
		if _, still := s.Get(del); still {
			t.Errorf("delete: %s is still stored", del)
		}
	}
	_, res, err = sdk.Get(ctx, id)
	c.errorDTO(sdk, "get after delete", res, err, http.StatusNotFound, "404 Not found")
	res, err = sdk.Delete(ctx, id)
	c.errorDTO(sdk, "delete again", res, err, http.StatusNotFound, "404 Not found")
	c.everyRequest(rel)
}

// checker holds what one lifecycle checks against.
type checker struct {
	t      *testing.T
	s      *fake.Server
	shape  fake.Shape
	hiding string
}

func (c *checker) ok(what string, res *http.Response, err error) {
	c.t.Helper()
	if err != nil || res == nil || res.StatusCode != http.StatusOK {
		c.t.Fatalf("%s: %v (response %v)", what, errorText(err), statusOf(res))
	}
}

// integration checks a decoded DTO against what was sent, in the fake's response shape.
func (c *checker) integration(what string, got observed, want integration) {
	t := c.t
	t.Helper()
	if !hexID.MatchString(got.ID) || got.Name != want.Name || got.Description != want.Description {
		t.Errorf("%s: id %q name %q description %q, want a 32-hex id, %q, %q", what, got.ID, got.Name,
			got.Description, want.Name, want.Description)
	}
	if got.Created.IsZero() || got.Modified.Before(got.Created) {
		t.Errorf("%s: created %s modified %s: the SDK's SailPointTime did not parse them", what, got.Created, got.Modified)
	}
	wantType := want.Type
	if wantType == "" {
		wantType = "ServiceNowSDIM" // the DTO's default
	}
	if got.Type != wantType {
		t.Errorf("%s: type %q, want %q", what, got.Type, wantType)
	}
	c.attributes(what, got.Attributes, want.Attributes)
	var gotRule ref
	if got.Rule != nil {
		gotRule = *got.Rule
	}
	if want.Rule != nil && gotRule != *want.Rule || want.Rule == nil && got.Rule != nil {
		t.Errorf("%s: beforeProvisioningRule %+v, want %+v", what, got.Rule, want.Rule)
	}
	if c.shape == fake.ShapeEcho {
		c.echo(what, got, want)
	} else {
		c.dto(what, got, want)
	}
}

// attributes: the secret masked or left out, everything else as sent.
func (c *checker) attributes(what string, got, want map[string]any) {
	c.t.Helper()
	expect := maps.Clone(want)
	if expect == nil {
		expect = map[string]any{}
	}
	if _, has := expect[secretKey]; has {
		if c.hiding == "masked" {
			expect[secretKey] = fake.Masked
		} else {
			delete(expect, secretKey)
		}
	}
	if !jsonEqual(got, expect) {
		c.t.Errorf("%s: attributes %v, want %v (secret %s)", what, got, expect, c.hiding)
	}
}

// echo: the stored request document, with statusMap, request and sources as keys the DTO
// does not declare.
func (c *checker) echo(what string, got observed, want integration) {
	t := c.t
	t.Helper()
	if got.Cluster != want.Cluster || got.ClusterRef != nil || got.ManagedSources != nil || got.ResourceRefs != nil {
		t.Errorf("%s (echo): cluster %q clusterRef %+v managedSources %v, want %q and no DTO fields", what,
			got.Cluster, got.ClusterRef, got.ManagedSources, want.Cluster)
	}
	for k, v := range map[string]any{"statusMap": want.StatusMap, "request": want.Request, "sources": want.Sources} {
		if _, has := got.Extra[k]; has != (!isNil(v)) || has && !jsonEqual(got.Extra[k], v) {
			t.Errorf("%s (echo): %s %v, want %v", what, k, got.Extra[k], v)
		}
	}
}

// dto: ServiceDeskIntegrationDto as the spec has it, managedSources and clusterRef, cluster null.
func (c *checker) dto(what string, got observed, want integration) {
	t := c.t
	t.Helper()
	sources := want.Sources
	if sources == nil {
		sources = []string{}
	}
	var refs []ref
	for _, id := range want.Sources {
		refs = append(refs, ref{Type: "SOURCE", ID: id, Name: id})
	}
	if !slices.Equal(got.ManagedSources, sources) || !slices.Equal(got.ResourceRefs, refs) {
		t.Errorf("%s (dto): managedSources %v managedResourceRefs %v, want %v", what, got.ManagedSources,
			got.ResourceRefs, sources)
	}
	var wantRef *ref
	if want.Cluster != "" {
		wantRef = &ref{Type: "CLUSTER", ID: want.Cluster, Name: want.Cluster}
	}
	if !got.ClusterSet || got.Cluster != "" || (wantRef == nil) != (got.ClusterRef == nil) ||
		wantRef != nil && *got.ClusterRef != *wantRef {
		t.Errorf("%s (dto): cluster set=%v %q clusterRef %+v, want cluster null and clusterRef %+v", what,
			got.ClusterSet, got.Cluster, got.ClusterRef, wantRef)
	}
	for _, k := range []string{"statusMap", "request", "sources"} {
		if v, has := got.Extra[k]; has {
			t.Errorf("%s (dto): %s = %v, which ServiceDeskIntegrationDto does not have", what, k, v)
		}
	}
}

// stored: the fake keeps what was sent, the secret included (hiding is for responses only).
func (c *checker) stored(what, id string, want integration) {
	c.t.Helper()
	o, ok := c.s.Get(id)
	if !ok {
		c.t.Fatalf("%s: %s is not stored", what, id)
	}
	attrs, _ := o.Doc["attributes"].(map[string]any)
	if attrs[secretKey] != want.Attributes[secretKey] || o.Doc["description"] != want.Description {
		c.t.Errorf("%s: stored %v, want the secret and description as sent", what, o.Doc)
	}
}

// wire checks the last request of method to path: its content type and its JSON body.
func (c *checker) wire(what, method, path, contentType string, body func(map[string]any)) {
	c.t.Helper()
	reqs := c.s.Requests(fake.ByMethod(method), fake.ByPathPrefix(path))
	if len(reqs) == 0 {
		c.t.Fatalf("%s: no %s %s logged", what, method, path)
	}
	r := reqs[len(reqs)-1]
	if got := r.Header.Get("Content-Type"); got != contentType {
		c.t.Errorf("%s: Content-Type %q, want %q", what, got, contentType)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		c.t.Fatalf("%s: body %s is not a JSON object: %v", what, r.Body, err)
	}
	body(m)
}

// everyRequest: each SIM request came from the SDK with the experimental header it defaults to.
func (c *checker) everyRequest(rel release) {
	c.t.Helper()
	reqs := c.s.Requests(fake.SIMOnly())
	if len(reqs) < 12 {
		c.t.Errorf("only %d SIM requests logged", len(reqs))
	}
	for _, r := range reqs {
		if r.Release != rel.name || r.Header.Get("X-SailPoint-Experimental") != "true" ||
			!strings.HasPrefix(r.Header.Get("User-Agent"), "SailPoint-SDK-Go/2.7.106") {
			c.t.Errorf("%s %s: release %s, X-SailPoint-Experimental %q, User-Agent %q", r.Method, r.Path, r.Release,
				r.Header.Get("X-SailPoint-Experimental"), r.Header.Get("User-Agent"))
		}
	}
	if n := len(c.s.Requests(fake.ByPathPrefix("/oauth/token"))); n != 1 {
		c.t.Errorf("%d token requests; the SDK fetches one and keeps it", n)
	}
}

// errorDTO checks an error answered with an ErrorResponseDto that the SDK decoded.
func (c *checker) errorDTO(sdk simAPI, what string, res *http.Response, err error, status int, detailCode string) {
	c.t.Helper()
	checkErrorDTO(c.t, sdk, what, res, err, status, detailCode)
}

func checkErrorDTO(t *testing.T, sdk simAPI, what string, res *http.Response, err error, status int, detailCode string) errorDTO {
	t.Helper()
	if err == nil || statusOf(res) != status {
		t.Fatalf("%s: %v (response %v), want a %d error", what, err, statusOf(res), status)
	}
	dto, ok := sdk.ErrorDTO(err)
	if !ok || dto.DetailCode != detailCode || !hexID.MatchString(dto.TrackingID) || len(dto.Messages) == 0 {
		t.Fatalf("%s: the SDK decoded %+v (%v), want an ErrorResponseDto with detailCode %q", what, dto, ok, detailCode)
	}
	for _, m := range dto.Messages {
		if m.Locale != "en-US" || m.LocaleOrigin != "DEFAULT" || m.Text == "" {
			t.Errorf("%s: message %+v, want locale en-US, localeOrigin DEFAULT and a text", what, m)
		}
	}
	if want := strconv.Itoa(status) + " " + http.StatusText(status); err.Error() != want {
		t.Errorf("%s: the SDK's error says %q, want %q", what, err.Error(), want)
	}
	return dto
}

func idsOf(list []observed) []string {
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = o.ID
	}
	return out
}

func statusOf(res *http.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}

func errorText(err error) string {
	if err == nil {
		return "no error"
	}
	var b interface{ Body() []byte }
	if errors.As(err, &b) {
		return err.Error() + ": " + string(b.Body())
	}
	return err.Error()
}

// jsonEqual compares two values as JSON documents.
func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return false
	}
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	na, _ := json.Marshal(va)
	nb, _ := json.Marshal(vb)
	return string(na) == string(nb)
}

func isNil(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return x == nil
	case []string:
		return x == nil
	}
	return false
}
