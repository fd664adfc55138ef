// Package identitynow is a small client for the SailPoint Identity Security Cloud
// (formerly IdentityNow) "SIM integrations" API.
//
// It speaks every API release that carries the SIM routes (v2024, v2025, v2026 and
// the per-service v1 layout), obtains OAuth2 client-credentials tokens, keeps a
// shared sliding-window rate budget per (token URL, client id, release), and turns
// every failure into an *Error with a Kind the caller can act on. Errors, logs and
// metrics never carry secrets, tokens, request bodies or attribute values.
//
// The package has no Kubernetes dependencies.
package identitynow

import (
	"slices"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
)

// Release is an ISC API release that carries the SIM integration routes.
type Release string

// The supported releases.
const (
	ReleaseV2024 Release = "v2024"
	ReleaseV2025 Release = "v2025"
	ReleaseV2026 Release = "v2026"
	// ReleaseV1 is the per-service layout: {baseURL}/sim-integrations/v1.
	ReleaseV1 Release = "v1"
)

// Releases lists every supported release.
var Releases = []Release{ReleaseV2024, ReleaseV2025, ReleaseV2026, ReleaseV1}

// Valid reports whether r is a supported release.
func (r Release) Valid() bool {
	return slices.Contains(Releases, r)
}

// PatchFormat selects the body form of a PATCH request.
type PatchFormat string

// The PATCH body forms.
const (
	// PatchFormatOperations sends {"operations":[...]} (the official schema and SDK).
	PatchFormatOperations PatchFormat = "Operations"
	// PatchFormatArray sends a bare RFC 6902 array.
	PatchFormatArray PatchFormat = "Array"
)

// Valid reports whether f is a supported PATCH body form.
func (f PatchFormat) Valid() bool {
	return f == PatchFormatOperations || f == PatchFormatArray
}

// Operation is one RFC 6902 JSON Patch operation.
type Operation = jsonpatch.Operation

// RuleRef references a before-provisioning rule.
type RuleRef struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Details is the request document (SimIntegrationDetails) sent by POST and PUT.
type Details struct {
	Name                   string            `json:"name"`
	Description            *string           `json:"description,omitempty"`
	Type                   *string           `json:"type,omitempty"`
	Attributes             map[string]any    `json:"attributes,omitempty"`
	Sources                []string          `json:"sources,omitempty"`
	Cluster                *string           `json:"cluster,omitempty"`
	StatusMap              map[string]string `json:"statusMap,omitempty"`
	Request                map[string]string `json:"request,omitempty"`
	BeforeProvisioningRule *RuleRef          `json:"beforeProvisioningRule,omitempty"`
}

// Integration is a remote SIM integration as observed, normalised from either
// response shape (the echoed request document or ServiceDeskIntegrationDto).
type Integration struct {
	ID       string
	Name     string
	Created  time.Time
	Modified time.Time
	// Fields is the object in request (SimIntegrationDetails) shape. It holds only
	// the top-level keys the response carried among name, description, type,
	// attributes, sources, cluster, statusMap, request and beforeProvisioningRule,
	// with values as decoded JSON (map[string]any, []any, string, float64, bool).
	// A JSON null counts as absent. managedSources becomes "sources" when "sources"
	// is absent; clusterRef.id becomes "cluster" when "cluster" is absent or null;
	// attributes, statusMap and request sent as JSON-encoded strings are decoded.
	Fields map[string]any
}

// IsMasked reports whether a value is one the remote hid, such as "********": a non-empty string of
// '*' only. The remote returns credential attributes that way (or leaves them out).
func IsMasked(v any) bool {
	s, ok := v.(string)
	return ok && s != "" && strings.Trim(s, "*") == ""
}

// DefaultTokenURL is the OAuth token endpoint of a tenant whose token URL is not set: the API base URL
// followed by /oauth/token.
func DefaultTokenURL(baseURL string) string {
	return strings.TrimRight(baseURL, "/") + "/oauth/token"
}
