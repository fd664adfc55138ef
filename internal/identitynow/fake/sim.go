package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

type routeKind int

const (
	routeCollection routeKind = iota + 1
	routeItem
	routeRule
)

type route struct {
	release string
	kind    routeKind
	id      string
}

// templates are the path templates of the route kinds, below the release prefix.
var templates = map[routeKind]string{
	routeCollection: "/sim-integrations", routeItem: "/sim-integrations/{id}",
	routeRule: "/sim-integrations/{id}/beforeProvisioningRule",
}

var releasePrefixes = []struct{ prefix, release string }{
	{"/v2024/sim-integrations", "v2024"},
	{"/v2025/sim-integrations", "v2025"},
	{"/v2026/sim-integrations", "v2026"},
	{"/sim-integrations/v1", "v1"},
}

// parseRoute recognises the SIM routes of every release.
func parseRoute(p string) (route, bool) {
	for _, rp := range releasePrefixes {
		rest, ok := strings.CutPrefix(p, rp.prefix)
		if !ok {
			continue
		}
		if rest == "" {
			return route{release: rp.release, kind: routeCollection}, true
		}
		parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
		switch {
		case !strings.HasPrefix(rest, "/") || parts[0] == "":
			return route{}, false
		case len(parts) == 1:
			return route{release: rp.release, kind: routeItem, id: parts[0]}, true
		case len(parts) == 2 && parts[1] == "beforeProvisioningRule":
			return route{release: rp.release, kind: routeRule, id: parts[0]}, true
		}
		return route{}, false
	}
	return route{}, false
}

// serveSIM runs the gateway checks (experimental header, bearer token, rate
// limit) and then the operation.
func (s *Server) serveSIM(w http.ResponseWriter, r *http.Request, rt route, e *LoggedRequest, authProblem string) {
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("X-SailPoint-Experimental")), "true") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Experimental Header is missing or invalid."})
		return
	}
	if authProblem != "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": authProblem})
		return
	}
	var clientID string
	s.annotate(e, func(e *LoggedRequest) { clientID = e.ClientID })
	if ra, ok := s.admit(clientID, rt.release, r.Method+" "+templates[rt.kind]); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int64(ra.Seconds())))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": " Rate Limit Exceeded "})
		return
	}
	switch m := r.Method; {
	case rt.kind == routeCollection && m == http.MethodGet:
		s.list(w)
	case rt.kind == routeCollection && m == http.MethodPost:
		s.create(w, r, e.body)
	case rt.kind == routeItem && m == http.MethodGet:
		s.get(w, rt.id)
	case rt.kind == routeItem && m == http.MethodPut:
		s.put(w, r, rt.id, e.body)
	case rt.kind == routeItem && m == http.MethodPatch, rt.kind == routeRule && m == http.MethodPatch:
		s.patch(w, r, rt, e.body)
	case rt.kind == routeItem && m == http.MethodDelete:
		s.delete(w, rt.id)
	default:
		w.Header().Set("Allow", allowed[rt.kind])
		writeErrorDTO(w, http.StatusMethodNotAllowed, fmt.Sprintf("Request method '%s' is not supported.", m))
	}
}

var allowed = map[routeKind]string{
	routeCollection: "GET, POST", routeItem: "GET, PUT, PATCH, DELETE", routeRule: "PATCH",
}

func (s *Server) list(w http.ResponseWriter) {
	s.mu.Lock()
	out := make([]any, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.render(s.store[id]))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, id string) {
	s.mu.Lock()
	o, ok := s.store[id]
	var out map[string]any
	if ok {
		out = s.render(o)
	}
	s.mu.Unlock()
	if !ok {
		writeErrorDTO(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, body []byte) {
	doc, status, problem := parseDetails(r, body)
	if problem != "" {
		writeErrorDTO(w, status, problem)
		return
	}
	s.mu.Lock()
	if status, problem := s.check(doc, ""); problem != "" {
		s.mu.Unlock()
		writeErrorDTO(w, status, problem)
		return
	}
	out, delay := s.render(s.commitNew(newID(), doc)), s.delay
	s.mu.Unlock()
	if sleepCtx(r.Context(), delay) {
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, id string, body []byte) {
	doc, status, problem := parseDetails(r, body)
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.store[id]
	switch {
	case !ok:
		writeErrorDTO(w, http.StatusNotFound)
		return
	case problem != "":
		writeErrorDTO(w, status, problem)
		return
	}
	if status, problem := s.check(doc, id); problem != "" {
		writeErrorDTO(w, status, problem)
		return
	}
	s.setDoc(o, doc)
	writeJSON(w, http.StatusOK, s.render(o))
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, rt route, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.store[rt.id]
	if !ok {
		writeErrorDTO(w, http.StatusNotFound)
		return
	}
	ops, problem := decodePatchBody(r, body, s.opts.PatchForms, rt.kind == routeRule)
	if problem != "" {
		writeErrorDTO(w, http.StatusBadRequest, problem)
		return
	}
	doc, problem := applyOps(o.doc, ops)
	status := http.StatusBadRequest
	if problem == "" {
		status, problem = s.check(doc, rt.id)
	}
	if problem != "" {
		writeErrorDTO(w, status, problem)
		return
	}
	s.setDoc(o, doc)
	writeJSON(w, http.StatusOK, s.render(o))
}

func (s *Server) delete(w http.ResponseWriter, id string) {
	s.mu.Lock()
	if o, found := s.store[id]; found {
		// A rejection refuses the delete of a stored document it matches, quoting it if it echoes.
		if status, msg, bad := s.rejected(o.doc); bad {
			s.mu.Unlock()
			writeErrorDTO(w, status, msg)
			return
		}
	}
	ok := s.removeLocked(id)
	s.mu.Unlock()
	if !ok {
		writeErrorDTO(w, http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// check validates a resulting document: schema, injected rejections, unique
// name. It returns the status and text of the answer; an empty text accepts the document. Caller
// holds mu.
func (s *Server) check(doc map[string]any, self string) (int, string) {
	if p := validateDoc(doc); p != "" {
		return http.StatusBadRequest, p
	}
	if status, msg, bad := s.rejected(doc); bad {
		return status, msg
	}
	if name := doc["name"].(string); s.nameTaken(name, self) {
		return http.StatusBadRequest, fmt.Sprintf("A SIM integration named %q already exists; names must be unique.", name)
	}
	return http.StatusBadRequest, ""
}

// parseDetails decodes a POST/PUT body (SimIntegrationDetails).
func parseDetails(r *http.Request, body []byte) (map[string]any, int, string) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, http.StatusUnsupportedMediaType, "Content-Type must be application/json."
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, http.StatusBadRequest, "The request body must be a JSON object."
	}
	return sanitize(raw), 0, ""
}

// docKeys are the stored SimIntegrationDetails keys; others are ignored
// (id, created and modified are read-only).
var docKeys = map[string]bool{
	"name": true, "description": true, "type": true, "attributes": true, "sources": true,
	"cluster": true, "statusMap": true, "request": true, "beforeProvisioningRule": true,
}

// sanitize keeps the known keys and drops null values.
func sanitize(raw map[string]any) map[string]any {
	doc := map[string]any{}
	for k, v := range raw {
		if docKeys[k] && v != nil {
			doc[k] = v
		}
	}
	return doc
}

// validateDoc checks field types; it never quotes values.
func validateDoc(doc map[string]any) string {
	if n, ok := doc["name"].(string); !ok || strings.TrimSpace(n) == "" {
		return "Required field 'name' is missing or empty."
	}
	for k, v := range doc {
		if p := validateField(k, v); p != "" {
			return fmt.Sprintf("Invalid value for field '%s': %s.", k, p)
		}
	}
	return ""
}

func validateField(k string, v any) string {
	switch k {
	case "description", "type", "cluster":
		if _, ok := v.(string); !ok {
			return "must be a string"
		}
	case "attributes":
		if _, ok := v.(map[string]any); !ok {
			return "must be an object"
		}
	case "statusMap", "request":
		if !stringMap(v, nil) {
			return "must be an object of strings"
		}
	case "sources":
		if !stringList(v) {
			return "must be an array of strings"
		}
	case "beforeProvisioningRule":
		if !stringMap(v, map[string]bool{"type": true, "id": true, "name": true}) {
			return "must be an object with string fields type, id and name"
		}
	}
	return ""
}

func stringMap(v any, only map[string]bool) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for k, x := range m {
		if _, isStr := x.(string); !isStr || (only != nil && !only[k]) {
			return false
		}
	}
	return true
}

func stringList(v any) bool {
	l, ok := v.([]any)
	if !ok {
		return false
	}
	for _, x := range l {
		if _, isStr := x.(string); !isStr {
			return false
		}
	}
	return true
}

// patchOp is the part of an operation checked before applying it.
type patchOp struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	From string `json:"from"`
}

// decodePatchBody checks the media type and body form and returns the
// operations as raw JSON, one per element.
func decodePatchBody(r *http.Request, body []byte, forms PatchForms, rule bool) ([]json.RawMessage, string) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json-patch+json" {
		return nil, "Content-Type must be application/json-patch+json."
	}
	raw, problem := patchArray(bytes.TrimSpace(body), forms)
	if problem != "" {
		return nil, problem
	}
	var ops []json.RawMessage
	if err := json.Unmarshal(raw, &ops); err != nil {
		return nil, "The JSON Patch operations must be an array."
	}
	for i, o := range ops {
		if p := checkOp(o, rule); p != "" {
			return nil, fmt.Sprintf("JSON Patch operation %d: %s", i, p)
		}
	}
	return ops, ""
}

// patchArray extracts the operations array of either body form.
func patchArray(body []byte, forms PatchForms) (json.RawMessage, string) {
	switch {
	case len(body) > 0 && body[0] == '[':
		if forms == PatchFormsOperations {
			return nil, `A bare JSON Patch array is not accepted; send {"operations":[...]}.`
		}
		return body, ""
	case len(body) > 0 && body[0] == '{':
		if forms == PatchFormsArray {
			return nil, "The request body must be a JSON Patch array."
		}
		var w struct {
			Operations json.RawMessage `json:"operations"`
		}
		if json.Unmarshal(body, &w) != nil || len(w.Operations) == 0 || string(w.Operations) == "null" {
			return nil, "The request body must be a JsonPatch object with an operations array."
		}
		return w.Operations, ""
	}
	return nil, "The request body must be a JSON Patch document."
}

var patchOps = map[string]bool{"add": true, "remove": true, "replace": true, "move": true, "copy": true, "test": true}

// checkOp validates one operation's op and paths (the document keys for the
// integration; only /beforeProvisioningRule for the rule sub-resource).
func checkOp(raw json.RawMessage, rule bool) string {
	var op patchOp
	if err := json.Unmarshal(raw, &op); err != nil {
		return "not a JSON Patch operation"
	}
	if !patchOps[op.Op] {
		return "unsupported op"
	}
	paths := []string{op.Path}
	if op.Op == "move" || op.Op == "copy" {
		paths = append(paths, op.From)
	}
	for _, p := range paths {
		if p := checkPath(p, rule); p != "" {
			return p
		}
	}
	return ""
}

func checkPath(p string, rule bool) string {
	if !strings.HasPrefix(p, "/") {
		return "path must be a JSON Pointer below the integration"
	}
	top, _, _ := strings.Cut(p[1:], "/")
	switch {
	case rule && top != "beforeProvisioningRule":
		return "only /beforeProvisioningRule may be patched here"
	case !docKeys[top]:
		return fmt.Sprintf("path /%s is not patchable", top)
	}
	return ""
}

// applyOps applies the operations in order to a copy of doc; none is kept if one fails.
func applyOps(doc map[string]any, ops []json.RawMessage) (map[string]any, string) {
	cur, err := json.Marshal(doc)
	if err != nil {
		return nil, "internal error"
	}
	opts := jsonpatch.NewApplyOptions()
	for i, o := range ops {
		p, err := jsonpatch.DecodePatch(append(append([]byte{'['}, o...), ']'))
		if err == nil {
			cur, err = p.ApplyWithOptions(cur, opts)
		}
		if err != nil {
			var op patchOp
			_ = json.Unmarshal(o, &op)
			return nil, fmt.Sprintf("JSON Patch operation %d (%s %s) could not be applied.", i, op.Op, op.Path)
		}
	}
	var out map[string]any
	if err := json.Unmarshal(cur, &out); err != nil || out == nil {
		return nil, "The patched document is not a JSON object."
	}
	return sanitize(out), ""
}
