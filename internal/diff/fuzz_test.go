package diff

import (
	"encoding/json"
	"testing"
)

// fuzzSeeds are realistic (observed, desired) pairs: a remote
// ServiceDeskIntegration as returned and the managed part of a spec.
var fuzzSeeds = [][2]string{
	{
		`{"id":"62945a496ef440189b1f03e3623411c8","name":"ServiceNow SIM","description":"Tickets","type":"ServiceNow Service Desk","cluster":"xyzzy999","sources":["2c9180835d191a86015d28455b4a2329"],"statusMap":{"closed_complete":"Committed","closed_cancelled":"Failed"},"request":{"short_description":"SailPoint Access Request $!plan.arguments.identityRequestId"},"attributes":{"uid":"svc-sailpoint","url":"https://acme.service-now.com","password":"***"},"created":"2026-11-20T08:00:00Z","modified":"2026-11-28T10:00:02Z"}`,
		`{"name":"ServiceNow SIM","description":"Tickets for access requests","type":"ServiceNow Service Desk","cluster":"xyzzy999","sources":["2c9180835d191a86015d28455b4a2329"],"statusMap":{"closed_complete":"Committed","closed_cancelled":"Failed","in_process":"Queued","requested":"Queued"},"request":{"short_description":"SailPoint Access Request $!plan.arguments.identityRequestId"},"attributes":{"uid":"svc-sailpoint","url":"https://acme.service-now.com"}}`,
	},
	{
		`{"name":"n","attributes":{"cfg":{"retries":3,"hosts":["a","b"],"tls":{"verify":true}},"flat":"x"}}`,
		`{"name":"n","attributes":{"cfg":{"retries":3,"hosts":["b","a"],"tls":{"verify":false}},"extra":[1,{"k":null}]}}`,
	},
	{
		`{"attributes":{"a/b":"1","c~d":"2","~1":"3","/":"", "":"empty"}}`,
		`{"attributes":{"a/b":"1","c~d":"changed","~0":"new","":"still"},"x/y~z":"top"}`,
	},
	{`{"attributes":{},"statusMap":{},"request":{}}`, `{"attributes":{},"statusMap":{},"request":{}}`},
	{`{"attributes":{"a":"1"},"statusMap":{"s":"Queued"}}`, `{"attributes":{},"statusMap":{},"request":{}}`},
	{`{"sources":["s2","s1","s1"]}`, `{"sources":["s1","s2"]}`},
	{`{"sources":["s1","s2"],"description":"d"}`, `{"sources":["s1","s3"],"description":"d"}`},
	{`{"sources":null,"attributes":null,"statusMap":"bad"}`, `{"sources":[],"attributes":{"uid":"u"},"statusMap":{"a":"Failed"}}`},
	{
		`{"beforeProvisioningRule":{"type":"RULE","id":"2c918085708c274401708c2a8a760001","name":"Example Rule"},"description":"d"}`,
		`{"beforeProvisioningRule":{"type":"RULE","id":"2c918085708c274401708c2a8a760002","name":"Other Rule"},"description":"d"}`,
	},
	{`{"beforeProvisioningRule":{"type":"RULE","id":"r"},"cluster":"c"}`, `{"beforeProvisioningRule":null,"cluster":null,"type":null}`},
	{`{}`, `{"name":"new","description":"","attributes":{"n":1.5e3,"b":false},"sources":["s1"]}`},
	{`{"id":"1","created":"t","unmanaged":{"x":[1,2]}}`, `{}`},
	{`{"attributes":{"port":8080,"ratio":0.1}}`, `{"attributes":{"port":8.08e3,"ratio":1e-1}}`},
	{`{"request":{"k":"v"},"name":1}`, `{"request":"v","name":"1"}`},
}

// FuzzCompute checks, for any two JSON objects, that Compute(x, x) is empty,
// that Compute is deterministic and well formed, that applying its patch to
// observed (with evanphx/json-patch) yields desired on the managed keys and
// observed elsewhere, and that diffing the patched document finds nothing.
func FuzzCompute(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, observedJSON, desiredJSON string) {
		var observed, desired map[string]any
		if json.Unmarshal([]byte(observedJSON), &observed) != nil || observed == nil ||
			json.Unmarshal([]byte(desiredJSON), &desired) != nil || desired == nil {
			return // not two JSON objects: nothing to check
		}
		checkProperties(t, observed, desired)
	})
}
