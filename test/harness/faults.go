package harness

import (
	"context"
	"net/http"
)

// InjectFault queues a fault in the fake (POST /_admin/faults), e.g.
// {"match": {"pathContains": "/sim-integrations"}, "count": 5, "status": -1} for connection resets
// or {"count": 1, "status": 429, "retryAfter": "10s"}.
func (f *Fake) InjectFault(ctx context.Context, fault map[string]any) error {
	return f.admin(ctx, http.MethodPost, "/_admin/faults", fault, nil)
}

// ClearFaults drops queued faults, the failure rate and field rejections (DELETE /_admin/faults).
func (f *Fake) ClearFaults(ctx context.Context) error {
	return f.admin(ctx, http.MethodDelete, "/_admin/faults", nil, nil)
}

// RevokeTokens invalidates every token the fake has issued (POST /_admin/revoke-tokens).
func (f *Fake) RevokeTokens(ctx context.Context) error {
	return f.admin(ctx, http.MethodPost, "/_admin/revoke-tokens", nil, nil)
}

// RejectField makes the fake answer 400 with message to writes whose document has value at the
// JSON Pointer (POST /_admin/reject-field).
func (f *Fake) RejectField(ctx context.Context, pointer string, value any, message string) error {
	return f.admin(ctx, http.MethodPost, "/_admin/reject-field",
		map[string]any{"pointer": pointer, "value": value, "message": message}, nil)
}

// InsertObject stores a remote object directly (POST /_admin/objects), as if created outside
// Kubernetes, and returns its id.
func (f *Fake) InsertObject(ctx context.Context, doc map[string]any) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := f.admin(ctx, http.MethodPost, "/_admin/objects", doc, &out)
	return out.ID, err
}

// Reject adds a field rejection with every option of the fake's Rejection (POST
// /_admin/reject-field): pointer, value, message, and optionally status (a 4xx or 5xx, 400 by
// default), echo (a JSON Pointer into the resulting document whose value the message quotes, at
// "{echo}") and echoForm ("", "json" or "url").
func (f *Fake) Reject(ctx context.Context, rule map[string]any) error {
	return f.admin(ctx, http.MethodPost, "/_admin/reject-field", rule, nil)
}
