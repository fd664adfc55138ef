package diff

import (
	"encoding/json"
	"reflect"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
)

type op = jsonpatch.Operation

func add(p string, v any) op     { return jsonpatch.NewOperation(OpAdd, p, v) }
func replace(p string, v any) op { return jsonpatch.NewOperation(OpReplace, p, v) }
func remove(p string) op         { return jsonpatch.NewOperation(OpRemove, p, nil) }

// computeCases are shared by TestCompute and TestComputeConverges.
var computeCases = []struct {
	name              string
	observed, desired string
	ops               []op
	paths             []string
}{
	{
		name:     "up to date",
		observed: `{"id":"x","name":"SN","description":"d","cluster":"c","sources":["a","b"],"attributes":{"uid":"u","n":1},"statusMap":{"closed":"Committed"},"request":{"k":"v"},"beforeProvisioningRule":{"type":"RULE","id":"r","name":"R"}}`,
		desired:  `{"name":"SN","description":"d","cluster":"c","sources":["a","b"],"attributes":{"uid":"u","n":1},"statusMap":{"closed":"Committed"},"request":{"k":"v"},"beforeProvisioningRule":{"type":"RULE","id":"r","name":"R"}}`,
	},
	{name: "empty desired manages nothing", observed: `{"description":"d"}`, desired: `{}`},
	{name: "both empty", observed: `{}`, desired: `{}`},
	{
		name:     "changed description",
		observed: `{"name":"SN","description":"old"}`,
		desired:  `{"name":"SN","description":"new"}`,
		ops:      []op{replace("/description", "new")},
		paths:    []string{"/description"},
	},
	{
		name:     "field the remote lacks is added",
		observed: `{"name":"SN"}`,
		desired:  `{"name":"SN","cluster":"c1","statusMap":{"a":"Queued"}}`,
		ops:      []op{add("/cluster", "c1"), add("/statusMap", map[string]any{"a": "Queued"})},
		paths:    []string{"/cluster", "/statusMap"},
	},
	{
		name:     "attribute added, changed and removed",
		observed: `{"attributes":{"keep":"k","chg":"old","gone":"g"}}`,
		desired:  `{"attributes":{"keep":"k","chg":"new","new":"n"}}`,
		ops:      []op{replace("/attributes/chg", "new"), remove("/attributes/gone"), add("/attributes/new", "n")},
		paths:    []string{"/attributes"},
	},
	{
		name:     "nested attribute value is replaced whole",
		observed: `{"attributes":{"nested":{"a":1,"b":[1,2]}}}`,
		desired:  `{"attributes":{"nested":{"a":1,"b":[2,1]}}}`,
		ops:      []op{replace("/attributes/nested", map[string]any{"a": 1.0, "b": []any{2.0, 1.0}})},
		paths:    []string{"/attributes"},
	},
	{
		name:     "keys with slash and tilde are escaped",
		observed: `{"attributes":{"a/b":"1","c~d":"1","~/":"x"}}`,
		desired:  `{"attributes":{"a/b":"2","c~d":"1","e~/f":"3"}}`,
		ops:      []op{replace("/attributes/a~1b", "2"), add("/attributes/e~0~1f", "3"), remove("/attributes/~0~1")},
		paths:    []string{"/attributes"},
	},
	{
		name:     "escaped top-level key",
		observed: `{"x/y":1}`,
		desired:  `{"x/y":2,"a~b":true}`,
		ops:      []op{add("/a~0b", true), replace("/x~1y", 2.0)},
		paths:    []string{"/a~0b", "/x~1y"},
	},
	{
		name:     "array-like and empty keys",
		observed: `{"attributes":{"-":"1","0":"1"},"":"old"}`,
		desired:  `{"attributes":{"-":"2","1":"1"},"":"new","-":[]}`,
		ops:      []op{replace("/", "new"), add("/-", []any{}), replace("/attributes/-", "2"), remove("/attributes/0"), add("/attributes/1", "1")},
		paths:    []string{"/", "/-", "/attributes"},
	},
	{
		name:     "statusMap and request keys removed",
		observed: `{"statusMap":{"a":"Queued","b":"Failed"},"request":{"x":"1"}}`,
		desired:  `{"statusMap":{"a":"Queued"},"request":{}}`,
		ops:      []op{remove("/request/x"), remove("/statusMap/b")},
		paths:    []string{"/request", "/statusMap"},
	},
	{name: "empty maps equal", observed: `{"attributes":{}}`, desired: `{"attributes":{}}`},
	{
		name:     "empty observed map filled",
		observed: `{"attributes":{}}`,
		desired:  `{"attributes":{"a":null}}`,
		ops:      []op{add("/attributes", map[string]any{"a": nil})},
		paths:    []string{"/attributes"},
	},
	{
		name:     "observed attributes null",
		observed: `{"attributes":null}`,
		desired:  `{"attributes":{"uid":"u"}}`,
		ops:      []op{add("/attributes", map[string]any{"uid": "u"})},
		paths:    []string{"/attributes"},
	},
	{
		name:     "observed attributes a string",
		observed: `{"attributes":"oops"}`,
		desired:  `{"attributes":{}}`,
		ops:      []op{add("/attributes", map[string]any{})},
		paths:    []string{"/attributes"},
	},
	{
		name:     "desired non-object for a map field is a plain value",
		observed: `{"request":{"a":"b"}}`,
		desired:  `{"request":"text"}`,
		ops:      []op{replace("/request", "text")},
		paths:    []string{"/request"},
	},
	{name: "sources reordered", observed: `{"sources":["b","a","c"]}`, desired: `{"sources":["a","b","c"]}`},
	{name: "sources duplicated remotely", observed: `{"sources":["a","a","b"]}`, desired: `{"sources":["a","b"]}`},
	{
		name:     "sources changed",
		observed: `{"sources":["a","b"]}`,
		desired:  `{"sources":["a","c"]}`,
		ops:      []op{replace("/sources", []any{"a", "c"})},
		paths:    []string{"/sources"},
	},
	{
		name:     "sources emptied",
		observed: `{"sources":["a"]}`,
		desired:  `{"sources":[]}`,
		ops:      []op{replace("/sources", []any{})},
		paths:    []string{"/sources"},
	},
	{
		name:     "sources null remotely",
		observed: `{"sources":null}`,
		desired:  `{"sources":[]}`,
		ops:      []op{replace("/sources", []any{})},
		paths:    []string{"/sources"},
	},
	{
		name:     "unmanaged observed keys untouched",
		observed: `{"id":"1","created":"t","modified":"t","provisioningConfig":{"x":1},"description":"a"}`,
		desired:  `{"description":"b"}`,
		ops:      []op{replace("/description", "b")},
		paths:    []string{"/description"},
	},
	{
		name:     "beforeProvisioningRule changed",
		observed: `{"beforeProvisioningRule":{"type":"RULE","id":"old","name":"Old"},"description":"d"}`,
		desired:  `{"beforeProvisioningRule":{"type":"RULE","id":"new","name":"New"},"description":"d"}`,
		ops:      []op{replace("/beforeProvisioningRule", map[string]any{"type": "RULE", "id": "new", "name": "New"})},
		paths:    []string{"/beforeProvisioningRule"},
	},
	{
		name:     "beforeProvisioningRule added",
		observed: `{}`,
		desired:  `{"beforeProvisioningRule":{"type":"RULE","id":"r"}}`,
		ops:      []op{add("/beforeProvisioningRule", map[string]any{"type": "RULE", "id": "r"})},
		paths:    []string{"/beforeProvisioningRule"},
	},
	{
		name:     "desired null removes a set field",
		observed: `{"beforeProvisioningRule":{"id":"r"},"description":"d"}`,
		desired:  `{"beforeProvisioningRule":null,"description":null}`,
		ops:      []op{remove("/beforeProvisioningRule"), remove("/description")},
		paths:    []string{"/beforeProvisioningRule", "/description"},
	},
	{name: "desired null, remote null or absent", observed: `{"a":null}`, desired: `{"a":null,"b":null}`},
	{
		name:     "type change is a replace",
		observed: `{"description":1}`,
		desired:  `{"description":"1"}`,
		ops:      []op{replace("/description", "1")},
		paths:    []string{"/description"},
	},
	{name: "numbers compare numerically", observed: `{"n":1.0,"attributes":{"port":8080}}`, desired: `{"n":1,"attributes":{"port":8.08e3}}`},
	{
		name:     "array order matters outside sources",
		observed: `{"tags":["a","b"]}`,
		desired:  `{"tags":["b","a"]}`,
		ops:      []op{replace("/tags", []any{"b", "a"})},
		paths:    []string{"/tags"},
	},
	{
		name:     "many fields sorted by path",
		observed: `{"name":"n","description":"d","attributes":{"b":1,"a":1}}`,
		desired:  `{"type":"T","name":"m","description":"d","attributes":{"b":2,"a":2},"cluster":"c"}`,
		ops: []op{
			replace("/attributes/a", 2.0), replace("/attributes/b", 2.0),
			add("/cluster", "c"), replace("/name", "m"), add("/type", "T"),
		},
		paths: []string{"/attributes", "/cluster", "/name", "/type"},
	},
}

func TestCompute(t *testing.T) {
	for _, tc := range computeCases {
		t.Run(tc.name, func(t *testing.T) {
			desired := doc(t, tc.desired)
			got := Compute(doc(t, tc.observed), desired)
			if !reflect.DeepEqual(got.Operations, tc.ops) && len(got.Operations)+len(tc.ops) > 0 {
				t.Errorf("operations:\n got  %s\n want %s", mustJSON(got.Operations), mustJSON(tc.ops))
			}
			if !reflect.DeepEqual(got.Paths, tc.paths) && len(got.Paths)+len(tc.paths) > 0 {
				t.Errorf("paths: got %q, want %q", got.Paths, tc.paths)
			}
			if got.Empty() != (len(tc.ops) == 0) {
				t.Errorf("Empty() = %v", got.Empty())
			}
			if err := wellFormed(got, desired); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestComputeConverges applies every case's patch to its observed document
// and checks the result holds desired on managed keys, observed elsewhere.
func TestComputeConverges(t *testing.T) {
	for _, tc := range computeCases {
		t.Run(tc.name, func(t *testing.T) {
			observed, desired := doc(t, tc.observed), doc(t, tc.desired)
			got, err := apply(observed, Compute(observed, desired).Operations)
			if err != nil {
				t.Fatal(err)
			}
			if err := converged(observed, desired, got); err != nil {
				t.Error(err)
			}
			if again := Compute(got, desired); !again.Empty() {
				t.Errorf("not idempotent: %s", mustJSON(again.Operations))
			}
		})
	}
}

func TestComputeGoTypes(t *testing.T) {
	observed := map[string]any{
		"n": 3, "u": uint8(7), "j": json.Number("2.50"), "f": float32(0.5),
		"statusMap": map[string]string{"a": "Queued"}, "sources": []string{"b", "a"},
	}
	desired := map[string]any{
		"n": 3.0, "u": 7.0, "j": 2.5, "f": 0.5,
		"statusMap": map[string]any{"a": "Queued"}, "sources": []any{"a", "b", "a"},
	}
	if r := Compute(observed, desired); !r.Empty() {
		t.Errorf("want no diff, got %s", mustJSON(r.Operations))
	}
	desired["statusMap"] = map[string]string{"a": "Failed"}
	want := []op{replace("/statusMap/a", "Failed")}
	if r := Compute(observed, desired); !reflect.DeepEqual(r.Operations, want) {
		t.Errorf("got %s, want %s", mustJSON(r.Operations), mustJSON(want))
	}
}

func TestComputeNilMaps(t *testing.T) {
	if r := Compute(nil, nil); !r.Empty() || r.Paths != nil {
		t.Errorf("nil/nil: %+v", r)
	}
	r := Compute(nil, map[string]any{"description": "d"})
	if want := []op{add("/description", "d")}; !reflect.DeepEqual(r.Operations, want) {
		t.Errorf("got %s", mustJSON(r.Operations))
	}
}

func TestTopLevelDrift(t *testing.T) {
	observed := doc(t, `{"id":"1","description":"changed","attributes":{"a":"1","b":"2"},"sources":["y","x"],"name":"n"}`)
	desired := doc(t, `{"description":"orig","attributes":{"a":"1"},"sources":["x","y"],"name":"n","cluster":"c"}`)
	want := []string{"/attributes", "/cluster", "/description"}
	if got := TopLevelDrift(observed, desired); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := TopLevelDrift(desired, desired); len(got) != 0 {
		t.Errorf("no drift expected, got %q", got)
	}
}

func TestSplit(t *testing.T) {
	observed := doc(t, `{"description":"a","beforeProvisioningRule":{"type":"RULE","id":"old"},"attributes":{"x":"1"}}`)
	desired := doc(t, `{"description":"b","beforeProvisioningRule":{"type":"RULE","id":"new"},"attributes":{"x":"2"}}`)
	main, rule := Split(Compute(observed, desired).Operations)
	wantMain := []op{replace("/attributes/x", "2"), replace("/description", "b")}
	wantRule := []op{replace(RulePath, map[string]any{"type": "RULE", "id": "new"})}
	if !reflect.DeepEqual(main, wantMain) {
		t.Errorf("main: got %s, want %s", mustJSON(main), mustJSON(wantMain))
	}
	if !reflect.DeepEqual(rule, wantRule) {
		t.Errorf("rule: got %s, want %s", mustJSON(rule), mustJSON(wantRule))
	}
}

func TestSplitEdgeCases(t *testing.T) {
	ops := []op{
		add("/beforeProvisioningRule/id", "x"),
		replace("/beforeProvisioningRuleX", 1),
		remove("/beforeProvisioningRule"),
		replace("/description", "d"),
	}
	main, rule := Split(ops)
	if want := []op{ops[1], ops[3]}; !reflect.DeepEqual(main, want) {
		t.Errorf("main: %s", mustJSON(main))
	}
	if want := []op{ops[0], ops[2]}; !reflect.DeepEqual(rule, want) {
		t.Errorf("rule: %s", mustJSON(rule))
	}
	if m, r := Split(nil); m != nil || r != nil {
		t.Errorf("Split(nil) = %v, %v", m, r)
	}
}

func TestEscapeAndTopLevel(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a", "a/b": "a~1b", "~1": "~01", "~/": "~0~1", "/~": "~1~0"} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"": "", "/": "/", "/a": "/a", "/a/b/c": "/a", "/a~1b/c": "/a~1b", "//x": "/"} {
		if got := topLevel(in); got != want {
			t.Errorf("topLevel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEqual(t *testing.T) {
	cases := []struct {
		a, b any
		want bool
	}{
		{nil, nil, true},
		{nil, "", false},
		{"a", "a", true},
		{true, true, true},
		{true, "true", false},
		{1, 1.0, true},
		{int64(1 << 53), float64(1 << 53), true},
		{int64(1<<53 + 1), float64(1 << 53), false},
		{json.Number("1e2"), 100, true},
		{json.Number("x"), json.Number("x"), false},
		{1, "1", false},
		{[]any{1.0}, []string{"1"}, false},
		{[]any{"a"}, []string{"a"}, true},
		{[]any{"a", "b"}, []any{"b", "a"}, false},
		{map[string]any{}, []any{}, false},
		{map[string]any{"a": nil}, map[string]any{}, false},
		{map[string]any{"a": "x"}, map[string]string{"a": "x"}, true},
	}
	for _, c := range cases {
		if got := Equal(c.a, c.b); got != c.want {
			t.Errorf("Equal(%#v, %#v) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := Equal(c.b, c.a); got != c.want {
			t.Errorf("Equal(%#v, %#v) = %v, want %v (symmetry)", c.b, c.a, got, c.want)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
