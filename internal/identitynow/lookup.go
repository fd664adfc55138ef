package identitynow

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Named is an object of the tenant listed by a lookup: its id and its name as the tenant has it.
type Named struct {
	ID   string
	Name string
}

// The API versions of the lookups outside the per-service layout (v1). The remote counts its rate
// limit per client id and API version, so each has a budget of its own (Config.SourcesBudget,
// Config.ClustersBudget).
const (
	// SourcesV3 is the version of the Sources API the client lists: GET {baseURL}/v3/sources.
	SourcesV3 Release = "v3"
	// ClustersV2025 is the version of the Managed Clusters API the client lists:
	// GET {baseURL}/v2025/managed-clusters.
	ClustersV2025 Release = ReleaseV2025
)

// The read scopes the lookups need (a manage scope, or sp:scopes:all, does too).
const (
	SourcesScope  = "idn:sources:read"
	ClustersScope = "idn:remote-client:read"
)

// SourcesVersion is the API version of the Sources lookup for a SIM release: v1 (the per-service
// layout, /sources/v1) for ReleaseV1, else v3.
func SourcesVersion(r Release) Release {
	if r == ReleaseV1 {
		return ReleaseV1
	}
	return SourcesV3
}

// ClustersVersion is the API version of the Managed Clusters lookup for a SIM release: v1 (the
// per-service layout, /managed-clusters/v1) for ReleaseV1, else v2025.
func ClustersVersion(r Release) Release {
	if r == ReleaseV1 {
		return ReleaseV1
	}
	return ClustersV2025
}

// Lookup bounds.
const (
	// LookupPageSize is the documented maximum (and default) page size of both lookups.
	LookupPageSize = 250
	// MaxLookupResults bounds what one lookup call passes on, over every page: a filter that matches
	// more (the remote compares names loosely) is an error rather than an unbounded walk.
	MaxLookupResults = 10_000
	// maxFilterBytes bounds the URL-encoded filter of one request; more names go in further requests.
	maxFilterBytes = 4096
	// maxFilterNames bounds the names of one request's filter.
	maxFilterNames = 100
	// maxNamedField bounds the id and the name kept of a listed object; a longer one is skipped.
	maxNamedField = 1024
)

// endpoint is where a call goes and whose budget it takes: the SIM routes, or a lookup API.
type endpoint struct {
	base    string  // e.g. https://host/v3/sources
	tmpl    string  // the path for logs, e.g. /v3/sources
	version Release // the API version, for the rate-limit metric
	budget  *Budget
}

func lookupEndpoint(baseURL, api string, version Release, budget *Budget) *endpoint {
	tmpl := "/" + string(version) + "/" + api
	if version == ReleaseV1 {
		tmpl = "/" + api + "/v1"
	}
	return &endpoint{base: strings.TrimRight(baseURL, "/") + tmpl, tmpl: tmpl, version: version, budget: budget}
}

// ListSources lists the sources named by names (GET …/sources with a name filter, scope
// idn:sources:read), calling each once per source listed. The remote compares names without regard to
// case and may return a source whose name merely resembles one asked for: the caller compares. Names
// are sent in as few requests as the URL length allows (usually one), each paged at LookupPageSize.
// An error means the list is incomplete and what was passed to each must be discarded.
func (c *Client) ListSources(ctx context.Context, names []string, each func(Named)) error {
	return c.lookup(ctx, "list_sources", c.sources, filterChunks(names, sourcesFilter), sourcesFilter, each)
}

// ListSourcesByID lists the sources with the given ids (filter id in (...)), for tools that turn the
// ids of an integration into names (sim-operator-export --by-name).
func (c *Client) ListSourcesByID(ctx context.Context, ids []string, each func(Named)) error {
	return c.lookup(ctx, "list_sources", c.sources, filterChunks(ids, idsFilter), idsFilter, each)
}

// ListAllManagedClusters lists every managed cluster of the tenant, paged (the API cannot filter by
// id); a tenant has a few.
func (c *Client) ListAllManagedClusters(ctx context.Context, each func(Named)) error {
	return c.lookup(ctx, "list_managed_clusters", c.clusters, [][]string{nil}, func([]string) string { return "" }, each)
}

// ListManagedClusters lists the managed clusters named by names (GET …/managed-clusters with a name
// filter, scope idn:remote-client:read), as ListSources does. The API filters names with eq only, so
// several names are joined with or.
func (c *Client) ListManagedClusters(ctx context.Context, names []string, each func(Named)) error {
	return c.lookup(ctx, "list_managed_clusters", c.clusters, filterChunks(names, clustersFilter), clustersFilter, each)
}

// sourcesFilter is `name eq "a"` for one name and `name in ("a","b")` for more.
func sourcesFilter(names []string) string {
	if len(names) == 1 {
		return "name eq " + quote(names[0])
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quote(n)
	}
	return "name in (" + strings.Join(quoted, ",") + ")"
}

// idsFilter is `id in ("a","b")`.
func idsFilter(ids []string) string {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = quote(id)
	}
	return "id in (" + strings.Join(quoted, ",") + ")"
}

// clustersFilter is `name eq "a" or name eq "b"`: the Managed Clusters API documents eq only.
func clustersFilter(names []string) string {
	terms := make([]string, len(names))
	for i, n := range names {
		terms[i] = "name eq " + quote(n)
	}
	return strings.Join(terms, " or ")
}

// quote writes a filter string value: in double quotes, with `\` and `"` escaped by a backslash
// (the documented escapes; %, # and & are taken care of by URL encoding).
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// filterChunks splits names, compared without case and sorted, into groups whose filter fits in one
// request.
func filterChunks(names []string, filter func([]string) string) [][]string {
	seen := map[string]bool{}
	var uniq []string
	for _, n := range names {
		if k := strings.ToLower(n); n != "" && !seen[k] {
			seen[k] = true
			uniq = append(uniq, n)
		}
	}
	slices.Sort(uniq)
	var chunks [][]string
	var cur []string
	for _, n := range uniq {
		next := append(slices.Clone(cur), n)
		if len(cur) > 0 && (len(next) > maxFilterNames || len(url.QueryEscape(filter(next))) > maxFilterBytes) {
			chunks = append(chunks, cur)
			next = []string{n}
		}
		cur = next
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// lookup pages through one lookup API, one filter per chunk (an empty filter lists everything).
func (c *Client) lookup(ctx context.Context, op string, ep *endpoint, chunks [][]string, filter func([]string) string, each func(Named)) error {
	total := 0
	for _, chunk := range chunks {
		for offset := 0; ; offset += LookupPageSize {
			q := url.Values{}
			q.Set("limit", strconv.Itoa(LookupPageSize))
			q.Set("offset", strconv.Itoa(offset))
			if f := filter(chunk); f != "" {
				q.Set("filters", f)
			}
			n := 0
			err := c.do(ctx, call{op: op, method: http.MethodGet, ep: ep, query: q.Encode()}, func(b *bodyReader) error {
				return decodeRawEach(b, func(raw map[string]any) error {
					n++
					if total+n > MaxLookupResults {
						return fmt.Errorf("the lookup matched more than %d objects", MaxLookupResults)
					}
					id, _ := raw["id"].(string)
					name, _ := raw["name"].(string)
					if id != "" && len(id) <= maxNamedField && len(name) <= maxNamedField {
						each(Named{ID: id, Name: name})
					}
					return nil
				})
			})
			if err != nil {
				return err
			}
			total += n
			if n < LookupPageSize {
				break
			}
		}
	}
	return nil
}
