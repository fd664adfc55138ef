package diff

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
)

// doc decodes a JSON object the way callers produce documents.
func doc(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %q: %v", s, err)
	}
	return m
}

// apply applies ops to observed with evanphx/json-patch and decodes the result.
func apply(observed map[string]any, ops []jsonpatch.Operation) (map[string]any, error) {
	in, err := json.Marshal(observed)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	patch, err := jsonpatch5.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("decode patch %s: %w", raw, err)
	}
	out, err := patch.Apply(in)
	if err != nil {
		return nil, fmt.Errorf("apply %s to %s: %w", raw, in, err)
	}
	var m map[string]any
	return m, json.Unmarshal(out, &m)
}

// converged returns an error unless got holds desired on every managed key
// (sources compared as sets, a nil desired value meaning unset or null) and
// observed on every unmanaged key, and nothing else.
func converged(observed, desired, got map[string]any) error {
	for k, dv := range desired {
		if err := managedMatches(k, dv, got); err != nil {
			return err
		}
	}
	for k, ov := range observed {
		if _, managed := desired[k]; managed {
			continue
		}
		if gv, ok := got[k]; !ok || !Equal(gv, ov) {
			return fmt.Errorf("unmanaged key %q changed: %v -> %v (present %v)", k, ov, gv, ok)
		}
	}
	for k := range got {
		_, inO := observed[k]
		_, inD := desired[k]
		if !inO && !inD {
			return fmt.Errorf("key %q appeared from nowhere", k)
		}
	}
	return nil
}

func managedMatches(k string, dv any, got map[string]any) error {
	gv := got[k]
	switch {
	case dv == nil && gv == nil:
		return nil
	case k == setField && sameSet(gv, dv):
		return nil
	case k != setField && Equal(gv, dv):
		return nil
	}
	return fmt.Errorf("managed key %q: got %#v, want %#v", k, gv, dv)
}

// wellFormed checks the Result invariants: operations sorted by path, paths
// sorted and distinct, each operation under one of the paths, every path a
// managed key.
func wellFormed(r Result, desired map[string]any) error {
	if !slices.IsSortedFunc(r.Operations, func(a, b jsonpatch.Operation) int { return strings.Compare(a.Path, b.Path) }) {
		return fmt.Errorf("operations not sorted: %v", r.Operations)
	}
	for i := 1; i < len(r.Paths); i++ {
		if r.Paths[i-1] >= r.Paths[i] {
			return fmt.Errorf("paths not sorted/distinct: %v", r.Paths)
		}
	}
	managed := map[string]bool{}
	for k := range desired {
		managed["/"+Escape(k)] = true
	}
	tops := map[string]bool{}
	for _, op := range r.Operations {
		top := topLevel(op.Path)
		tops[top] = true
		if !slices.Contains(r.Paths, top) {
			return fmt.Errorf("operation %s not listed in paths %v", op.Path, r.Paths)
		}
		if !managed[top] {
			return fmt.Errorf("operation %s touches an unmanaged key", op.Path)
		}
	}
	if len(tops) != len(r.Paths) || (len(r.Paths) == 0) != r.Empty() {
		return fmt.Errorf("paths %v inconsistent with operations %v", r.Paths, r.Operations)
	}
	return nil
}
