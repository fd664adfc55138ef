package fake

// render returns the response document for o in the configured shape. Caller holds mu.
func (s *Server) render(o *object) map[string]any {
	doc := cloneDoc(o.doc)
	s.mask(doc)
	var out map[string]any
	if s.opts.Shape == ShapeEcho {
		out = doc
		for k, v := range requiredDefaults() {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	} else {
		out = dto(doc)
	}
	out["id"] = o.id
	out["created"] = timestamp(o.created)
	out["modified"] = timestamp(o.modified)
	return out
}

// mask replaces the values of masked attribute keys and drops omitted ones.
func (s *Server) mask(doc map[string]any) {
	attrs, ok := doc["attributes"].(map[string]any)
	if !ok {
		return
	}
	for _, k := range s.opts.MaskedAttributes {
		if _, ok := attrs[k]; ok {
			attrs[k] = Masked
		}
	}
	for _, k := range s.opts.OmittedAttributes {
		delete(attrs, k)
	}
}

// dto converts a request-shape document into ServiceDeskIntegrationDto:
// name, description, type and attributes are always present; sources become
// managedSources (and provisioningConfig.managedResourceRefs); cluster becomes
// clusterRef while the deprecated cluster is null; statusMap, request and
// sources are not returned.
func dto(doc map[string]any) map[string]any {
	out := map[string]any{"name": doc["name"], "cluster": nil}
	for k, def := range requiredDefaults() {
		out[k] = orDefault(doc[k], def)
	}
	sources, _ := doc["sources"].([]any)
	if sources == nil {
		sources = []any{}
	}
	refs := make([]any, 0, len(sources))
	for _, id := range sources {
		refs = append(refs, map[string]any{"type": "SOURCE", "id": id, "name": id})
	}
	out["managedSources"] = sources
	out["provisioningConfig"] = map[string]any{
		"universalManager": false, "managedResourceRefs": refs,
		"planInitializerScript": nil, "noProvisioningRequests": false,
		"provisioningRequestExpiration": 0,
	}
	if c, ok := doc["cluster"].(string); ok {
		out["clusterRef"] = map[string]any{"type": "CLUSTER", "id": c, "name": c}
	}
	if r, ok := doc["beforeProvisioningRule"]; ok {
		out["beforeProvisioningRule"] = r
	}
	return out
}

func orDefault(v, def any) any {
	if v == nil {
		return def
	}
	return v
}

// requiredDefaults are the keys ServiceDeskIntegrationDto requires besides name, with the values
// the fake gives them when a document has none (type: the schema's default). Every response
// carries them, in either shape: SDKs refuse a response without them.
func requiredDefaults() map[string]any {
	return map[string]any{"description": "", "type": "ServiceNowSDIM", "attributes": map[string]any{}}
}
