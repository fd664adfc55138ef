// Package conformance checks the fake IdentityNow API (internal/identitynow/fake) with a client
// nobody here wrote: SailPoint's official Go SDK, github.com/sailpoint-oss/golang-sdk/v2 at
// v2.7.106, calling every SIM operation of its api_v2024, api_v2025 and api_v2026 packages with
// the SDK's own request and response models, in both response shapes and both ways of hiding a
// secret (masked, omitted). v2.7.106 has no per-service package (sim_integrations, /v1, is v3
// of the SDK), and its api_beta is not served by the fake.
//
// It is a module of its own so that the SDK, large as it is, never enters the operator's module
// graph; it reaches the fake through a replace of the root module. Run it from this directory:
//
//	go test ./...
//
// Where the SDK cannot decode what the real API sends (the 401 and 429 bodies, whose string
// properties v2 models as maps), the tests assert what the real API does and how the SDK then
// fails, not what the SDK would wish.
package conformance
