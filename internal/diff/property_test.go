package diff

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// checkProperties asserts the invariants of Compute on one pair of documents:
// Compute(x, x) is empty, the result is well formed and deterministic, the
// patch applies to observed with evanphx/json-patch and yields desired on the
// managed keys (observed elsewhere), and diffing the patched document again
// finds nothing.
func checkProperties(t *testing.T, observed, desired map[string]any) {
	t.Helper()
	for _, x := range []map[string]any{observed, desired} {
		if r := Compute(x, x); !r.Empty() {
			t.Fatalf("Compute(x, x) not empty for %s: %s", mustJSON(x), mustJSON(r.Operations))
		}
	}
	r := Compute(observed, desired)
	if err := wellFormed(r, desired); err != nil {
		t.Fatal(err)
	}
	if again := Compute(observed, desired); !reflect.DeepEqual(r, again) {
		t.Fatalf("not deterministic:\n %s\n %s", mustJSON(r), mustJSON(again))
	}
	got, err := apply(observed, r.Operations)
	if err != nil {
		t.Fatalf("observed %s desired %s: %v", mustJSON(observed), mustJSON(desired), err)
	}
	if err := converged(observed, desired, got); err != nil {
		t.Fatalf("observed %s desired %s patch %s: %v", mustJSON(observed), mustJSON(desired), mustJSON(r.Operations), err)
	}
	if again := Compute(got, desired); !again.Empty() {
		t.Fatalf("patched %s still differs from %s: %s", mustJSON(got), mustJSON(desired), mustJSON(again.Operations))
	}
}

// TestComputeProperty checks the invariants on pseudo-random document pairs
// built from a fixed seed, biased towards the managed fields and sharing keys
// and values between observed and desired.
func TestComputeProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		observed := randomDoc(rng)
		desired := mutate(rng, observed)
		// Round-trip through JSON so values have the decoded shapes.
		checkProperties(t, roundTrip(t, observed), roundTrip(t, desired))
	}
}

var (
	topKeys   = []string{"name", "description", "type", "cluster", "sources", "attributes", "statusMap", "request", "beforeProvisioningRule", "id", "a/b", "~x", ""}
	innerKeys = []string{"uid", "url", "a/b", "c~d", "~1", "/", "", "closed_complete"}
)

func randomDoc(rng *rand.Rand) map[string]any {
	d := map[string]any{}
	for _, k := range topKeys {
		if rng.IntN(2) == 0 {
			d[k] = randomTop(rng, k)
		}
	}
	return d
}

func randomTop(rng *rand.Rand, k string) any {
	switch {
	case k == setField && rng.IntN(5) > 0:
		return randomSources(rng)
	case mapFields[k] && rng.IntN(5) > 0:
		return randomMap(rng, 2)
	}
	return randomValue(rng, 2)
}

func randomSources(rng *rand.Rand) []any {
	s := []any{}
	for range rng.IntN(4) {
		s = append(s, []string{"s1", "s2", "s3"}[rng.IntN(3)])
	}
	return s
}

func randomMap(rng *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for _, k := range innerKeys {
		if rng.IntN(3) == 0 {
			m[k] = randomValue(rng, depth-1)
		}
	}
	return m
}

func randomValue(rng *rand.Rand, depth int) any {
	n := 6
	if depth > 0 {
		n = 8
	}
	switch rng.IntN(n) {
	case 0:
		return nil
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return float64(rng.IntN(3))
	case 3, 4, 5:
		return []string{"", "x", "y", "a/b"}[rng.IntN(4)]
	case 6:
		return []any{randomValue(rng, depth-1), randomValue(rng, depth-1)}[:rng.IntN(3)]
	}
	return randomMap(rng, depth-1)
}

// mutate returns a copy of d with some top-level and inner values changed,
// dropped, added or set to null.
func mutate(rng *rand.Rand, d map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range topKeys {
		v, ok := d[k]
		switch rng.IntN(6) {
		case 0: // unmanaged
		case 1:
			out[k] = randomTop(rng, k)
		case 2:
			out[k] = nil
		case 3:
			if m, isM := v.(map[string]any); isM {
				out[k] = mutateMap(rng, m)
				continue
			}
			fallthrough
		default:
			if ok {
				out[k] = v
			}
		}
	}
	return out
}

func mutateMap(rng *rand.Rand, m map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range innerKeys {
		v, ok := m[k]
		switch rng.IntN(4) {
		case 0:
		case 1:
			out[k] = randomValue(rng, 1)
		default:
			if ok {
				out[k] = v
			}
		}
	}
	return out
}

func roundTrip(t *testing.T, m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return doc(t, string(b))
}
