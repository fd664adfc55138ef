package diff

import (
	"encoding/json"
	"math"
	"math/big"
)

// Equal reports whether two JSON values are deeply equal. Numbers compare by
// numeric value whatever their Go type (1 == 1.0 == json.Number("1")); arrays
// compare in order; objects by their key sets and values.
func Equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if af, ok := a.(float64); ok {
		if bf, ok := b.(float64); ok {
			return af == bf
		}
	}
	if an, ok := asNumber(a); ok {
		bn, ok := asNumber(b)
		return ok && an.Cmp(bn) == 0
	}
	if isMap(a) || isMap(b) {
		return isMap(a) && isMap(b) && equalMaps(asMap(a), asMap(b))
	}
	if isSlice(a) || isSlice(b) {
		return isSlice(a) && isSlice(b) && equalSlices(asSlice(a), asSlice(b))
	}
	return equalScalars(a, b)
}

// equalScalars compares strings and booleans.
func equalScalars(a, b any) bool {
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	}
	return false
}

func equalMaps(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || !Equal(av, bv) {
			return false
		}
	}
	return true
}

func equalSlices(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// sameSet reports whether a and b are arrays holding the same items,
// ignoring order and duplicates. Non-arrays fall back to Equal.
func sameSet(a, b any) bool {
	if !isSlice(a) || !isSlice(b) {
		return Equal(a, b)
	}
	as, bs := asSlice(a), asSlice(b)
	return subset(as, bs) && subset(bs, as)
}

// subset reports whether every item of a is Equal to some item of b.
func subset(a, b []any) bool {
	for _, x := range a {
		if !contains(b, x) {
			return false
		}
	}
	return true
}

func contains(items []any, x any) bool {
	for _, y := range items {
		if Equal(x, y) {
			return true
		}
	}
	return false
}

// asNumber converts any Go numeric type or json.Number to an exact rational.
func asNumber(v any) (*big.Rat, bool) {
	switch n := v.(type) {
	case float64:
		return floatRat(n)
	case float32:
		return floatRat(float64(n))
	case int:
		return new(big.Rat).SetInt64(int64(n)), true
	case int8:
		return new(big.Rat).SetInt64(int64(n)), true
	case int16:
		return new(big.Rat).SetInt64(int64(n)), true
	case int32:
		return new(big.Rat).SetInt64(int64(n)), true
	case int64:
		return new(big.Rat).SetInt64(n), true
	}
	return asUnsignedOrJSON(v)
}

func asUnsignedOrJSON(v any) (*big.Rat, bool) {
	switch n := v.(type) {
	case uint:
		return new(big.Rat).SetUint64(uint64(n)), true
	case uint8:
		return new(big.Rat).SetUint64(uint64(n)), true
	case uint16:
		return new(big.Rat).SetUint64(uint64(n)), true
	case uint32:
		return new(big.Rat).SetUint64(uint64(n)), true
	case uint64:
		return new(big.Rat).SetUint64(n), true
	case json.Number:
		return new(big.Rat).SetString(string(n))
	}
	return nil, false
}

// floatRat converts a finite float to an exact rational. NaN and infinities,
// which JSON cannot carry, are not numbers here and so equal nothing.
func floatRat(f float64) (*big.Rat, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	return new(big.Rat).SetFloat64(f), true
}

func isMap(v any) bool {
	switch v.(type) {
	case map[string]any, map[string]string:
		return true
	}
	return false
}

// asMap returns v as map[string]any (copying a map[string]string).
func asMap(v any) map[string]any {
	switch m := v.(type) {
	case map[string]any:
		return m
	case map[string]string:
		out := make(map[string]any, len(m))
		for k, s := range m {
			out[k] = s
		}
		return out
	}
	return nil
}

func isSlice(v any) bool {
	switch v.(type) {
	case []any, []string:
		return true
	}
	return false
}

// asSlice returns v as []any (copying a []string).
func asSlice(v any) []any {
	switch s := v.(type) {
	case []any:
		return s
	case []string:
		out := make([]any, len(s))
		for i, x := range s {
			out[i] = x
		}
		return out
	}
	return nil
}
