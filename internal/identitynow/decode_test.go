package identitynow

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDecodeIntegration(t *testing.T) {
	ts := time.Date(2024, 1, 17, 18, 45, 25, 994e6, time.UTC)
	tests := []struct {
		name    string
		body    string
		fields  map[string]any
		created time.Time
		wantErr bool
	}{
		{"echo shape", `{"id":"i","name":"n","created":"2024-01-17T18:45:25.994Z","modified":"2024-01-17T18:45:25.994Z",
			"description":"d","type":"t","attributes":{"a":1},"sources":["s"],"cluster":"c","statusMap":{"x":"y"},
			"request":{"r":"s"},"beforeProvisioningRule":{"type":"RULE","id":"r","name":"R"}}`,
			map[string]any{"name": "n", "description": "d", "type": "t", "attributes": map[string]any{"a": 1.0},
				"sources": []any{"s"}, "cluster": "c", "statusMap": map[string]any{"x": "y"}, "request": map[string]any{"r": "s"},
				"beforeProvisioningRule": map[string]any{"type": "RULE", "id": "r", "name": "R"}}, ts, false},
		{"dto shape", `{"id":"i","name":"n","created":"2024-01-17T18:45:25.994Z","description":"","type":"ServiceNowSDIM",
			"attributes":{},"managedSources":["s1"],"cluster":null,"clusterRef":{"type":"CLUSTER","id":"c1","name":"c1"},
			"ownerRef":{"type":"IDENTITY","id":"o"},"provisioningConfig":{"universalManager":false}}`,
			map[string]any{"name": "n", "description": "", "type": "ServiceNowSDIM", "attributes": map[string]any{},
				"sources": []any{"s1"}, "cluster": "c1"}, ts, false},
		{"sources wins over managedSources", `{"sources":["a"],"managedSources":["b"],"cluster":"x","clusterRef":{"id":"y"}}`,
			map[string]any{"sources": []any{"a"}, "cluster": "x"}, time.Time{}, false},
		{"empty clusterRef id", `{"clusterRef":{"id":""},"managedSources":null}`, map[string]any{}, time.Time{}, false},
		{"json-encoded maps", `{"attributes":"{\"uid\":\"Walter White\"}","statusMap":"{closed=Failed}","request":"{\"a\":\"b\"} x"}`,
			map[string]any{"attributes": map[string]any{"uid": "Walter White"}, "statusMap": "{closed=Failed}", "request": `{"a":"b"} x`},
			time.Time{}, false},
		{"nulls are absent", `{"name":"n","description":null,"attributes":null}`, map[string]any{"name": "n"}, time.Time{}, false},
		{"time without millis", `{"created":"2015-05-28T14:07:17Z"}`, map[string]any{}, time.Date(2015, 5, 28, 14, 7, 17, 0, time.UTC), false},
		{"time without zone", `{"created":"2015-05-28T14:07:17.5"}`, map[string]any{}, time.Date(2015, 5, 28, 14, 7, 17, 5e8, time.UTC), false},
		{"bad time", `{"created":"yesterday"}`, map[string]any{}, time.Time{}, false},
		{"array", `[]`, nil, time.Time{}, true},
		{"null", `null`, nil, time.Time{}, true},
		{"garbage", `{`, nil, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := decodeIntegration([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(in.Fields, tt.fields) || !in.Created.Equal(tt.created) {
				t.Fatalf("got %#v created %v", in.Fields, in.Created)
			}
		})
	}
}

func TestDecodeIntegrations(t *testing.T) {
	if l, err := decodeIntegrations([]byte(`null`)); err != nil || len(l) != 0 {
		t.Fatalf("null list: %v %v", l, err)
	}
	if l, err := decodeIntegrations([]byte(`[{"id":"a"},{"id":"b"}]`)); err != nil || len(l) != 2 || l[1].ID != "b" {
		t.Fatalf("list: %v %v", l, err)
	}
	if l, err := decodeIntegrations([]byte(" [ ] \n")); err != nil || len(l) != 0 {
		t.Fatalf("empty list: %v %v", l, err)
	}
	for _, bad := range []string{`{"id":"a"}`, `[1]`, `[null]`, `[{"id":"a"}] x`, `[{"id":"a"}`, `null null`, `"[]"`, ``} {
		if _, err := decodeIntegrations([]byte(bad)); err == nil {
			t.Fatalf("%s: want error", bad)
		}
	}
}

func FuzzDecodeIntegration(f *testing.F) {
	for _, s := range []string{
		`{"id":"i","name":"n","managedSources":["a"],"clusterRef":{"id":"c"},"cluster":null}`,
		`{"attributes":"{\"a\":1}","statusMap":"{}","created":"2024-01-17T18:45:25.994Z"}`,
		`{"sources":[1,{"a":null}],"clusterRef":[],"id":5,"name":{}}`, `[]`, `null`, `"x"`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := decodeIntegration(data)
		if err != nil {
			return
		}
		for k, v := range in.Fields {
			if !slices.Contains(requestKeys, k) || v == nil {
				t.Fatalf("unexpected field %q=%v", k, v)
			}
		}
		if _, err := json.Marshal(in.Fields); err != nil {
			t.Fatalf("fields not re-encodable: %v", err)
		}
		_, _ = decodeIntegrations(data)
	})
}
