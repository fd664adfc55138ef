package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// secretValue is a resolved secret attribute: its value and where it came from.
type secretValue struct {
	Value   string
	Version simv1alpha1.SecretVersion
}

// desiredState is what the remote object must look like, built from spec and Secrets.
type desiredState struct {
	// Details is the full request document, with secret values, for POST and PUT.
	Details identitynow.Details
	// Doc holds the managed top-level keys in decoded-JSON shape, with secret values.
	Doc map[string]any
	// Applied is the record to store once the remote matches Doc.
	Applied simv1alpha1.LastApplied
	// SecretAttributes names the attributes whose values come from Secrets.
	SecretAttributes []string
}

// buildDesired turns a spec, its resolved secret attributes and the ids its references resolved to
// (which take the place of spec.sources and spec.cluster) into the desired remote document. It
// refuses a spec whose secretAttributes repeat a key of attributes.
func buildDesired(obj *simv1alpha1.SimIntegration, secrets map[string]secretValue, refs refIDs) (desiredState, error) {
	spec := obj.Spec
	attrs, err := plainAttributes(spec)
	if err != nil {
		return desiredState{}, err
	}
	sources, cluster := spec.Sources, spec.Cluster
	if spec.SourceRefs != nil {
		sources = refs.sources
		if sources == nil {
			sources = []string{}
		}
	}
	if spec.ClusterRef != nil {
		cluster = refs.cluster
	}
	d := identitynow.Details{
		Name: obj.RemoteName(), Description: spec.Description, Cluster: cluster,
		Sources: sortedSet(sources), StatusMap: spec.StatusMap, Request: spec.Request,
	}
	if spec.Type != "" {
		d.Type = &spec.Type
	}
	if r := spec.BeforeProvisioningRule; r != nil {
		d.BeforeProvisioningRule = &identitynow.RuleRef{Type: r.Type, ID: r.ID, Name: r.Name}
	}
	applied := simv1alpha1.LastApplied{FieldDigests: map[string]string{}}
	plainDoc, err := toDoc(d)
	if err != nil {
		return desiredState{}, err
	}
	keepEmpty(plainDoc, spec, sources)
	if attrs != nil {
		plainDoc["attributes"] = attrs
	}
	for k, v := range plainDoc {
		applied.FieldDigests[k] = digest(v)
	}

	var secretNames []string
	if len(attrs) > 0 || len(spec.SecretAttributes) > 0 {
		d.Attributes = maps.Clone(attrs)
		if d.Attributes == nil {
			d.Attributes = map[string]any{}
		}
		for _, sa := range spec.SecretAttributes {
			if _, dup := attrs[sa.Name]; dup {
				return desiredState{}, fmt.Errorf("attribute %q is set in both attributes and secretAttributes; keep it in one", sa.Name)
			}
			sv, ok := secrets[sa.Name]
			if !ok {
				return desiredState{}, fmt.Errorf("secret attribute %q was not resolved", sa.Name)
			}
			d.Attributes[sa.Name] = sv.Value
			applied.SecretVersions = append(applied.SecretVersions, sv.Version)
			secretNames = append(secretNames, sa.Name)
		}
	}
	doc, err := toDoc(d)
	if err != nil {
		return desiredState{}, err
	}
	keepEmpty(doc, spec, sources)
	return desiredState{Details: d, Doc: doc, Applied: applied, SecretAttributes: secretNames}, nil
}

// keepEmpty manages a map or list set to empty in spec (`statusMap: {}`, `sourceRefs: []`): every
// remote key is then removed, where leaving it out would make the field unmanaged. sources are the
// desired source ids (from spec.sources or spec.sourceRefs).
func keepEmpty(doc map[string]any, spec simv1alpha1.SimIntegrationSpec, sources []string) {
	empty := map[string]bool{
		"statusMap": spec.StatusMap != nil && len(spec.StatusMap) == 0,
		"request":   spec.Request != nil && len(spec.Request) == 0,
		"attributes": spec.Attributes != nil && string(spec.Attributes.Raw) == "{}" &&
			len(spec.SecretAttributes) == 0,
	}
	for k, isEmpty := range empty {
		if _, set := doc[k]; isEmpty && !set {
			doc[k] = map[string]any{}
		}
	}
	if sources != nil && len(sources) == 0 {
		doc["sources"] = []any{}
	}
}

func plainAttributes(spec simv1alpha1.SimIntegrationSpec) (map[string]any, error) {
	if spec.Attributes == nil || len(spec.Attributes.Raw) == 0 {
		return nil, nil
	}
	var attrs map[string]any
	if err := json.Unmarshal(spec.Attributes.Raw, &attrs); err != nil {
		return nil, fmt.Errorf("spec.attributes must be a JSON object: %w", err)
	}
	return attrs, nil
}

// toDoc renders a request document as decoded JSON (the shape the diff engine compares).
func toDoc(d identitynow.Details) (map[string]any, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{}
	return doc, json.Unmarshal(raw, &doc)
}

func sortedSet(in []string) []string {
	if in == nil {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// digest fingerprints a plain (never secret) value for the last-applied record.
func digest(v any) string {
	raw, _ := json.Marshal(v)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// comparableObserved returns the observed document with what the remote does not show filled in:
// a field the remote does not return, or an attribute it masks, counts as equal to desired when the
// last-applied record says the operator already sent the current value (same plain digest, same
// Secret resourceVersion). ObserveOnly has no record and compares only what the remote shows.
func comparableObserved(observed map[string]any, want desiredState, last *simv1alpha1.LastApplied, observeOnly bool) map[string]any {
	out := maps.Clone(observed)
	if out == nil {
		out = map[string]any{}
	}
	sent := func(field string) bool {
		return observeOnly || (last != nil && last.FieldDigests[field] != "" && last.FieldDigests[field] == want.Applied.FieldDigests[field])
	}
	for k, v := range want.Doc {
		got, returned := out[k]
		switch {
		case !returned && k == "attributes":
			if sent(k) && secretsSent(want, last, want.SecretAttributes, observeOnly) {
				out[k] = v
			}
		case !returned:
			if sent(k) {
				out[k] = v
			}
		case k == "attributes":
			out[k] = fillAttributes(got, v, want, last, sent(k), observeOnly)
		}
	}
	return out
}

// fillAttributes fills masked or missing attribute values that the record says were already sent.
func fillAttributes(got, want any, d desiredState, last *simv1alpha1.LastApplied, plainSent, observeOnly bool) any {
	gotMap, ok := got.(map[string]any)
	wantMap, _ := want.(map[string]any)
	if !ok {
		return got
	}
	gotMap = maps.Clone(gotMap)
	for key, wv := range wantMap {
		gv, present := gotMap[key]
		if present && !identitynow.IsMasked(gv) {
			continue
		}
		secret := slices.Contains(d.SecretAttributes, key)
		if (secret && secretsSent(d, last, []string{key}, observeOnly)) || (!secret && plainSent) {
			gotMap[key] = wv
		}
	}
	return gotMap
}

// secretsSent reports whether every named secret attribute was last sent from the Secret version
// that holds its current value.
func secretsSent(d desiredState, last *simv1alpha1.LastApplied, names []string, observeOnly bool) bool {
	if observeOnly {
		return true
	}
	if last == nil {
		return len(names) == 0
	}
	for _, name := range names {
		cur := findVersion(d.Applied.SecretVersions, name)
		prev := findVersion(last.SecretVersions, name)
		if cur == nil || prev == nil || *cur != *prev {
			return false
		}
	}
	return true
}

func findVersion(vs []simv1alpha1.SecretVersion, attribute string) *simv1alpha1.SecretVersion {
	for i := range vs {
		if vs[i].Attribute == attribute {
			return &vs[i]
		}
	}
	return nil
}

// putDocument is the full object for a PUT: the remote's fields the spec does not manage, overlaid with
// the desired ones, so that a PUT leaves unset fields as the remote has them.
func putDocument(observed map[string]any, want desiredState) (identitynow.Details, error) {
	merged := maps.Clone(observed)
	if merged == nil {
		merged = map[string]any{}
	}
	maps.Copy(merged, want.Doc)
	if a, ok := merged["attributes"].(map[string]any); ok {
		for _, k := range slices.Sorted(maps.Keys(a)) { // the first masked key by name: one message, whatever the order
			if identitynow.IsMasked(a[k]) {
				return identitynow.Details{}, stall(simv1alpha1.ReasonInvalidSpec,
					"updateStrategy Put would overwrite the masked attribute %q with its mask; manage it in spec.attributes or spec.secretAttributes", k)
			}
		}
	}
	raw, err := json.Marshal(merged)
	if err != nil {
		return identitynow.Details{}, err
	}
	var d identitynow.Details
	return d, json.Unmarshal(raw, &d)
}
