package fake

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Sources and Managed Clusters APIs, read-only, as the operator uses them to resolve names to
// ids (../shared/reference/identitynow-references-api.md): list and get under /v3, /beta, /v2024,
// /v2025 and /v2026, and the per-service /sources/v1 and /managed-clusters/v1. Lists take limit
// (0..250, default 250), offset and count (X-Total-Count, counted after filtering) and the
// documented filters subset below, comparing strings without case; an unsupported filter is a 400.
// No experimental header is needed. Requests count against the rate limit of their own API version
// (v3, beta, v2025, v1, ...) for the client id. Tests seed objects with AddSource and
// AddManagedCluster (or /_admin/sources, /_admin/managed-clusters); names need not be unique.

// The APIs a request may address, as LoggedRequest.API records them.
const (
	APISIM             = "sim-integrations"
	APISources         = "sources"
	APIManagedClusters = "managed-clusters"
)

// The scopes the lookups need (any one of each pair, or sp:scopes:all); see SetScopes.
var lookupScopes = map[string][]string{
	APISources:         {"idn:sources:read", "idn:sources:manage"},
	APIManagedClusters: {"idn:remote-client:read", "idn:remote-client:manage"},
}

// sourceFilters and clusterFilters are the filters the fake supports: for sources the name, id,
// type and connectorName operators the API documents; for managed clusters eq on the four
// documented fields.
var (
	sourceFilters = filterOps{
		"name":          {"co", "eq", "in", "sw", "ge", "gt", "ne", "isnull"},
		"id":            {"eq", "in", "ge", "gt", "le", "lt", "ne", "isnull", "sw"},
		"type":          {"eq", "in", "ge", "gt", "ne", "isnull", "sw"},
		"connectorName": {"eq", "ge", "gt", "in", "ne", "isnull", "sw"},
	}
	clusterFilters = filterOps{"name": {"eq"}, "type": {"eq"}, "status": {"eq"}, "operational": {"eq"}}
	// sourceSorters are the sortable source fields the fake honours.
	sourceSorters = []string{"name", "id", "type", "connectorName", "created", "modified"}
)

// Source is a source of the fake tenant. Empty fields get plausible defaults when it is added.
type Source struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Type          string `json:"type,omitempty"`
	Connector     string `json:"connector,omitempty"`
	ConnectorName string `json:"connectorName,omitempty"`
	// Cluster is the id of the managed cluster the source runs on ("" for none).
	Cluster string `json:"cluster,omitempty"`
	// IdentityNow marks the tenant's own IdentityNow source, listed only with includeIDNSource=true.
	IdentityNow bool      `json:"identityNow,omitempty"`
	Created     time.Time `json:"created"`
	Modified    time.Time `json:"modified"`
}

// ManagedCluster is a managed (virtual appliance) cluster of the fake tenant.
type ManagedCluster struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Type        string    `json:"type,omitempty"`
	Status      string    `json:"status,omitempty"`
	Operational bool      `json:"operational"`
	Created     time.Time `json:"created"`
	Modified    time.Time `json:"modified"`
}

// refStore holds the sources and clusters, in insertion order, and the clients' scopes. Its zero
// value is empty. Guarded by the server's mu.
type refStore struct {
	sources  []*Source
	clusters []*ManagedCluster
	// scopes restricts a client id to these scopes; a client not named has sp:scopes:all.
	scopes map[string][]string
}

// lookupRoute is a request to a lookup API.
type lookupRoute struct {
	api, version, id string
}

// lookupVersions are the API versions that serve both lookups, besides the per-service v1.
var lookupVersions = []string{"v3", "beta", "v2024", "v2025", "v2026"}

// parseLookupRoute recognises /{version}/{api}[/{id}] and /{api}/v1[/{id}].
func parseLookupRoute(p string) (lookupRoute, bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] == "") {
		return lookupRoute{}, false
	}
	api := func(s string) bool { return s == APISources || s == APIManagedClusters }
	rt := lookupRoute{}
	switch {
	case slices.Contains(lookupVersions, parts[0]) && api(parts[1]):
		rt.version, rt.api = parts[0], parts[1]
	case api(parts[0]) && parts[1] == "v1":
		rt.version, rt.api = "v1", parts[0]
	default:
		return lookupRoute{}, false
	}
	if len(parts) == 3 {
		rt.id = parts[2]
	}
	return rt, true
}

// template is the route's path template, for the rate limit's backoff.
func (rt lookupRoute) template() string {
	t := "/" + rt.version + "/" + rt.api
	if rt.version == "v1" {
		t = "/" + rt.api + "/v1"
	}
	if rt.id != "" {
		t += "/{id}"
	}
	return t
}

// serveLookup runs the gateway checks (bearer token, rate limit, scope) and then the operation.
func (s *Server) serveLookup(w http.ResponseWriter, r *http.Request, rt lookupRoute, e *LoggedRequest, authProblem string) {
	if authProblem != "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": authProblem})
		return
	}
	var clientID string
	s.annotate(e, func(e *LoggedRequest) { clientID = e.ClientID })
	if ra, ok := s.admit(clientID, rt.version, r.Method+" "+rt.template()); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int64(ra.Seconds())))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": " Rate Limit Exceeded "})
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeErrorDTO(w, http.StatusMethodNotAllowed, fmt.Sprintf("Request method '%s' is not supported.", r.Method))
		return
	}
	if !s.hasScope(clientID, rt.api) {
		writeErrorDTO(w, http.StatusForbidden)
		return
	}
	if rt.id != "" {
		s.getLookup(w, rt)
		return
	}
	s.listLookup(w, r, rt)
}

// hasScope says whether the client may read api.
func (s *Server) hasScope(clientID, api string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	scopes, restricted := s.refs.scopes[clientID]
	if !restricted || slices.Contains(scopes, "sp:scopes:all") {
		return true
	}
	return slices.ContainsFunc(lookupScopes[api], func(sc string) bool { return slices.Contains(scopes, sc) })
}

func (s *Server) getLookup(w http.ResponseWriter, rt lookupRoute) {
	s.mu.Lock()
	var out map[string]any
	if rt.api == APISources {
		if i := slices.IndexFunc(s.refs.sources, func(x *Source) bool { return x.ID == rt.id }); i >= 0 {
			out = s.renderSource(s.refs.sources[i])
		}
	} else if i := slices.IndexFunc(s.refs.clusters, func(x *ManagedCluster) bool { return x.ID == rt.id }); i >= 0 {
		out = renderCluster(s.refs.clusters[i])
	}
	s.mu.Unlock()
	if out == nil {
		writeErrorDTO(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// listLookup serves a list: filter, sort (sources), count, page.
func (s *Server) listLookup(w http.ResponseWriter, r *http.Request, rt lookupRoute) {
	q := r.URL.Query()
	limit, err := intParam(q.Get("limit"), 250, 0, 250)
	if err != nil {
		writeErrorDTO(w, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	offset, err := intParam(q.Get("offset"), 0, 0, 1<<31-1)
	if err != nil {
		writeErrorDTO(w, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	allowed := sourceFilters
	if rt.api == APIManagedClusters {
		allowed = clusterFilters
	}
	match := predicate(func(map[string]string) bool { return true })
	if f := q.Get("filters"); f != "" {
		if match, err = parseFilter(f, allowed); err != nil {
			writeErrorDTO(w, http.StatusBadRequest, "filters: "+err.Error())
			return
		}
	}
	var sorters []string
	if v := q.Get("sorters"); v != "" && rt.api == APISources {
		for f := range strings.SplitSeq(v, ",") {
			if !slices.Contains(sourceSorters, strings.TrimPrefix(f, "-")) {
				writeErrorDTO(w, http.StatusBadRequest, fmt.Sprintf("sorters: unsupported sort field %q", f))
				return
			}
			sorters = append(sorters, f)
		}
	}
	includeIDN := q.Get("includeIDNSource") == "true"

	s.mu.Lock()
	var total int
	page := []map[string]any{}
	if rt.api == APISources {
		var matched []*Source
		for _, src := range s.refs.sources {
			if (!src.IdentityNow || includeIDN) && match(sourceFields(src)) {
				matched = append(matched, src)
			}
		}
		sortSources(matched, sorters)
		total = len(matched)
		for _, src := range matched[min(offset, total):min(offset+limit, total)] {
			page = append(page, s.renderSource(src))
		}
	} else {
		var matched []*ManagedCluster
		for _, c := range s.refs.clusters {
			if match(clusterFields(c)) {
				matched = append(matched, c)
			}
		}
		total = len(matched)
		for _, c := range matched[min(offset, total):min(offset+limit, total)] {
			page = append(page, renderCluster(c))
		}
	}
	s.mu.Unlock()
	if q.Get("count") == "true" {
		w.Header().Set("X-Total-Count", strconv.Itoa(total))
	}
	writeJSON(w, http.StatusOK, page)
}

// intParam reads an integer query parameter within [lo, hi]; "" is def.
func intParam(v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not an integer from %d to %d", v, lo, hi)
	}
	return n, nil
}

func sourceFields(src *Source) map[string]string {
	return map[string]string{"name": src.Name, "id": src.ID, "type": src.Type, "connectorName": src.ConnectorName}
}

func clusterFields(c *ManagedCluster) map[string]string {
	return map[string]string{"name": c.Name, "type": c.Type, "status": c.Status, "operational": strconv.FormatBool(c.Operational)}
}

// sortSources orders by the sorters in turn ("-" descending), keeping insertion order for ties.
func sortSources(srcs []*Source, sorters []string) {
	if len(sorters) == 0 {
		return
	}
	key := func(src *Source, field string) string {
		switch field {
		case "created":
			return timestamp(src.Created)
		case "modified":
			return timestamp(src.Modified)
		}
		return sourceFields(src)[field]
	}
	slices.SortStableFunc(srcs, func(a, b *Source) int {
		for _, f := range sorters {
			field, desc := strings.CutPrefix(f, "-")
			c := cmp.Compare(key(a, field), key(b, field))
			if desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

// renderSource is a Source body with the keys the SDK requires (name, owner, connector) and a
// cluster reference matching a managed cluster. Caller holds mu.
func (s *Server) renderSource(src *Source) map[string]any {
	var cluster any
	if src.Cluster != "" {
		name := src.Cluster
		if i := slices.IndexFunc(s.refs.clusters, func(c *ManagedCluster) bool { return c.ID == src.Cluster }); i >= 0 {
			name = s.refs.clusters[i].Name
		}
		cluster = map[string]any{"type": "CLUSTER", "id": src.Cluster, "name": name}
	}
	return map[string]any{
		"id": src.ID, "name": src.Name, "description": "", "type": src.Type,
		"connector": src.Connector, "connectorName": src.ConnectorName,
		"owner":   map[string]any{"type": "IDENTITY", "id": "2c9180a46faadee4016fb4e018c20639", "name": "Support"},
		"cluster": cluster, "beforeProvisioningRule": nil, "authoritative": false, "healthy": true,
		"status": "SOURCE_STATE_HEALTHY", "connectionType": "direct", "features": []any{},
		"created": timestamp(src.Created), "modified": timestamp(src.Modified),
	}
}

// renderCluster is a ManagedCluster body with the keys the SDK requires (id, clientType, ccgVersion).
func renderCluster(c *ManagedCluster) map[string]any {
	return map[string]any{
		"id": c.ID, "name": c.Name, "pod": "fake01", "org": "fake", "type": c.Type,
		"configuration": map[string]any{"clusterExternalId": c.ID, "gmtOffset": "0"},
		"description":   "", "clientType": "VA", "ccgVersion": "v01", "status": c.Status,
		"operational": c.Operational, "clientIds": []any{},
		"createdAt": timestamp(c.Created), "updatedAt": timestamp(c.Modified),
	}
}

// AddSource stores a source and returns its id (a new one when src.ID is empty); a source with the
// same id is replaced. Names need not be unique.
func (s *Server) AddSource(src Source) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	src.ID = cmpOr(src.ID, newID())
	src.Type = cmpOr(src.Type, "Active Directory - Direct")
	src.Connector = cmpOr(src.Connector, "active-directory")
	src.ConnectorName = cmpOr(src.ConnectorName, "Active Directory")
	src.Created, src.Modified = now, now
	s.refs.sources = slices.DeleteFunc(s.refs.sources, func(x *Source) bool { return x.ID == src.ID })
	s.refs.sources = append(s.refs.sources, &src)
	return src.ID
}

// EditSource changes a source out of band (a rename, say) and bumps its modified time. It reports
// whether the source exists; its id cannot change.
func (s *Server) EditSource(id string, edit func(*Source)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.refs.sources, func(x *Source) bool { return x.ID == id })
	if i < 0 {
		return false
	}
	src := *s.refs.sources[i]
	edit(&src)
	src.ID, src.Modified = id, s.clock()
	s.refs.sources[i] = &src
	return true
}

// RemoveSource deletes a source; it reports whether it existed.
func (s *Server) RemoveSource(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.refs.sources)
	s.refs.sources = slices.DeleteFunc(s.refs.sources, func(x *Source) bool { return x.ID == id })
	return len(s.refs.sources) < n
}

// Sources returns copies of the sources in insertion order.
func (s *Server) Sources() []Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Source, len(s.refs.sources))
	for i, src := range s.refs.sources {
		out[i] = *src
	}
	return out
}

// AddManagedCluster stores a managed cluster and returns its id (a new one when c.ID is empty); one
// with the same id is replaced. Names need not be unique.
func (s *Server) AddManagedCluster(c ManagedCluster) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	c.ID = cmpOr(c.ID, newID())
	c.Type = cmpOr(c.Type, "idn")
	c.Status = cmpOr(c.Status, "NORMAL")
	c.Created, c.Modified = now, now
	s.refs.clusters = slices.DeleteFunc(s.refs.clusters, func(x *ManagedCluster) bool { return x.ID == c.ID })
	s.refs.clusters = append(s.refs.clusters, &c)
	return c.ID
}

// EditManagedCluster changes a managed cluster out of band; it reports whether it exists.
func (s *Server) EditManagedCluster(id string, edit func(*ManagedCluster)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.refs.clusters, func(x *ManagedCluster) bool { return x.ID == id })
	if i < 0 {
		return false
	}
	c := *s.refs.clusters[i]
	edit(&c)
	c.ID, c.Modified = id, s.clock()
	s.refs.clusters[i] = &c
	return true
}

// RemoveManagedCluster deletes a managed cluster; it reports whether it existed.
func (s *Server) RemoveManagedCluster(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.refs.clusters)
	s.refs.clusters = slices.DeleteFunc(s.refs.clusters, func(x *ManagedCluster) bool { return x.ID == id })
	return len(s.refs.clusters) < n
}

// ManagedClusters returns copies of the managed clusters in insertion order.
func (s *Server) ManagedClusters() []ManagedCluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ManagedCluster, len(s.refs.clusters))
	for i, c := range s.refs.clusters {
		out[i] = *c
	}
	return out
}

// SetScopes limits what a client id's tokens may read: the lookups answer 403 unless scopes hold one
// of the API's read or manage scopes, or sp:scopes:all. Nil gives the client every scope again (the
// default). The SIM routes are not affected.
func (s *Server) SetScopes(clientID string, scopes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs.scopes == nil {
		s.refs.scopes = map[string][]string{}
	}
	if scopes == nil {
		delete(s.refs.scopes, clientID)
		return
	}
	s.refs.scopes[clientID] = slices.Clone(scopes)
}

// adminReferences serves the admin routes of the lookups:
//
//	GET    /_admin/sources              all sources
//	POST   /_admin/sources              add a Source ("id" optional) → {"id":…}
//	PATCH  /_admin/sources/{id}         {"name": ...} rename (other fields likewise)
//	DELETE /_admin/sources/{id}         remove
//	...    /_admin/managed-clusters     the same for managed clusters
//	PUT    /_admin/scopes/{clientID}    ["idn:sources:read", ...] (null: every scope), see SetScopes
func (s *Server) adminReferences(m *http.ServeMux) {
	m.HandleFunc("GET /_admin/sources", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Sources()) })
	m.HandleFunc("POST /_admin/sources", func(w http.ResponseWriter, r *http.Request) {
		var src Source
		if readJSON(w, r, &src) {
			src.ID = s.AddSource(src)
			writeJSON(w, http.StatusOK, map[string]string{"id": src.ID})
		}
	})
	m.HandleFunc("PATCH /_admin/sources/{id}", func(w http.ResponseWriter, r *http.Request) {
		var patch map[string]any
		if !readJSON(w, r, &patch) {
			return
		}
		if !s.EditSource(r.PathValue("id"), func(src *Source) { mergeInto(src, patch) }) {
			writeErrorDTO(w, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("DELETE /_admin/sources/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.RemoveSource(r.PathValue("id")) {
			writeErrorDTO(w, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_admin/managed-clusters", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.ManagedClusters())
	})
	m.HandleFunc("POST /_admin/managed-clusters", func(w http.ResponseWriter, r *http.Request) {
		var c ManagedCluster
		if readJSON(w, r, &c) {
			writeJSON(w, http.StatusOK, map[string]string{"id": s.AddManagedCluster(c)})
		}
	})
	m.HandleFunc("PATCH /_admin/managed-clusters/{id}", func(w http.ResponseWriter, r *http.Request) {
		var patch map[string]any
		if !readJSON(w, r, &patch) {
			return
		}
		if !s.EditManagedCluster(r.PathValue("id"), func(c *ManagedCluster) { mergeInto(c, patch) }) {
			writeErrorDTO(w, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("DELETE /_admin/managed-clusters/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.RemoveManagedCluster(r.PathValue("id")) {
			writeErrorDTO(w, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("PUT /_admin/scopes/{clientID}", func(w http.ResponseWriter, r *http.Request) {
		var scopes []string
		if readJSON(w, r, &scopes) {
			s.SetScopes(r.PathValue("clientID"), scopes)
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

// mergeInto overlays the JSON fields of patch on dst (a pointer to a struct), as a merge patch would.
func mergeInto(dst any, patch map[string]any) {
	raw, _ := json.Marshal(dst)
	var cur map[string]any
	_ = json.Unmarshal(raw, &cur)
	maps.Copy(cur, patch)
	raw, _ = json.Marshal(cur)
	_ = json.Unmarshal(raw, dst)
}
