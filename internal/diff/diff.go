// Package diff computes the RFC 6902 JSON Patch that turns an observed remote
// SIM integration into the desired one, on the managed fields only.
//
// Every function is pure: no I/O and no Kubernetes types. Documents are
// represented as produced by encoding/json decoding into map[string]any
// (string, float64, bool, nil, []any, map[string]any); other numeric Go types,
// json.Number, []string and map[string]string are accepted as well and compare
// by value.
package diff

import (
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
)

// Patch operation names used in Result.Operations.
const (
	OpAdd     = "add"
	OpReplace = "replace"
	OpRemove  = "remove"
)

// RulePath is the top-level JSON Pointer of the before-provisioning rule
// reference, which the Patch update strategy sends on its own route.
const RulePath = "/beforeProvisioningRule"

// mapFields are the top-level keys managed key by key, each as a whole map:
// a key missing remotely is added, a changed value replaced, a key present
// remotely but not desired removed.
var mapFields = map[string]bool{"attributes": true, "statusMap": true, "request": true}

// setField is the top-level key whose value is compared as a set of items.
const setField = "sources"

// Result is the difference between an observed and a desired document.
type Result struct {
	// Operations turn observed into desired on the managed keys, sorted by
	// path; empty when up to date.
	Operations []jsonpatch.Operation
	// Paths are the distinct top-level JSON Pointers touched by Operations,
	// sorted, e.g. ["/attributes", "/description"].
	Paths []string
}

// Empty reports whether observed already matches desired (no operation).
func (r Result) Empty() bool { return len(r.Operations) == 0 }

// Compute compares desired (only the managed top-level keys of a
// SimIntegrationDetails document) with observed (the remote object, holding
// only the keys the remote returned) and returns the operations that turn
// observed into desired. Keys of observed that desired lacks are unmanaged and
// never touched.
//
// Per top-level key k of desired:
//   - a nil desired value means "unset remotely": remove /k when observed has
//     a non-null value for k, nothing otherwise;
//   - k absent from observed: add /k;
//   - "attributes", "statusMap", "request" holding objects on both sides, the
//     observed one not empty: add, replace (whole value) or remove /k/key per
//     key; when observed is empty, null or not an object, add /k whole;
//   - "sources": compared as a set (order and duplicates ignored); when the
//     sets differ, replace /sources with the desired list as given;
//   - anything else: replace /k when not deeply equal (numbers compare by
//     numeric value).
//
// Keys in paths are escaped per RFC 6901. The result is deterministic.
func Compute(observed, desired map[string]any) Result {
	var ops []jsonpatch.Operation
	for k, dv := range desired {
		ops = append(ops, diffKey(k, observed, dv)...)
	}
	return newResult(ops)
}

// TopLevelDrift lists, sorted, the top-level JSON Pointers (e.g.
// "/description") where observed differs from desired on a managed key: what
// ObserveOnly reports in status.drift.
func TopLevelDrift(observed, desired map[string]any) []string {
	return Compute(observed, desired).Paths
}

// Split separates the operations on /beforeProvisioningRule (or below it),
// which the Patch update strategy sends to the rule's own PATCH route, from
// the rest. The relative order of operations is kept in both slices.
func Split(ops []jsonpatch.Operation) (main, rule []jsonpatch.Operation) {
	for _, op := range ops {
		if topLevel(op.Path) == RulePath {
			rule = append(rule, op)
		} else {
			main = append(main, op)
		}
	}
	return main, rule
}

// diffKey returns the operations for one managed top-level key.
func diffKey(k string, observed map[string]any, dv any) []jsonpatch.Operation {
	path := "/" + Escape(k)
	ov, present := observed[k]
	switch {
	case dv == nil:
		return removeIfSet(path, ov)
	case !present:
		return []jsonpatch.Operation{jsonpatch.NewOperation(OpAdd, path, dv)}
	case mapFields[k] && isMap(dv) && isMap(ov) && len(asMap(ov)) > 0:
		return diffMap(path, asMap(ov), asMap(dv))
	case mapFields[k] && isMap(dv) && !Equal(ov, dv):
		// An empty, null or non-object map on the remote may not exist in its stored document: set
		// the whole map with add, which works whether or not the member exists.
		return []jsonpatch.Operation{jsonpatch.NewOperation(OpAdd, path, dv)}
	case k == setField && sameSet(ov, dv):
		return nil
	case k != setField && Equal(ov, dv):
		return nil
	}
	return []jsonpatch.Operation{jsonpatch.NewOperation(OpReplace, path, dv)}
}

// removeIfSet removes path when the observed value is set (not null).
func removeIfSet(path string, ov any) []jsonpatch.Operation {
	if ov == nil {
		return nil
	}
	return []jsonpatch.Operation{jsonpatch.NewOperation(OpRemove, path, nil)}
}

// diffMap manages the map at path as a whole, key by key.
func diffMap(path string, observed, desired map[string]any) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	for key, dv := range desired {
		p := path + "/" + Escape(key)
		ov, ok := observed[key]
		if !ok {
			ops = append(ops, jsonpatch.NewOperation(OpAdd, p, dv))
		} else if !Equal(ov, dv) {
			ops = append(ops, jsonpatch.NewOperation(OpReplace, p, dv))
		}
	}
	for key := range observed {
		if _, ok := desired[key]; !ok {
			ops = append(ops, jsonpatch.NewOperation(OpRemove, path+"/"+Escape(key), nil))
		}
	}
	return ops
}

// newResult sorts ops by path and collects their top-level paths; both
// slices are nil when there is no operation.
func newResult(ops []jsonpatch.Operation) Result {
	if len(ops) == 0 {
		return Result{}
	}
	slices.SortFunc(ops, func(a, b jsonpatch.Operation) int { return strings.Compare(a.Path, b.Path) })
	paths := make([]string, 0, len(ops))
	for _, op := range ops {
		paths = append(paths, topLevel(op.Path))
	}
	slices.Sort(paths)
	return Result{Operations: ops, Paths: slices.Compact(paths)}
}

// topLevel returns the first reference token of a JSON Pointer, as a pointer.
func topLevel(path string) string {
	if i := strings.IndexByte(path[min(1, len(path)):], '/'); i >= 0 {
		return path[:i+1]
	}
	return path
}

// Escape escapes one JSON Pointer reference token per RFC 6901
// ("~" becomes "~0", "/" becomes "~1").
func Escape(token string) string {
	return escaper.Replace(token)
}

var escaper = strings.NewReplacer("~", "~0", "/", "~1")
