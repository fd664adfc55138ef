// Package remotefake is a function-field fake of tenant.Remote, in the style of cert-manager's ACME
// client fake: a test sets the functions its case needs, and every method it did not set fails with a
// clear "not implemented" error, so a step that calls the remote unexpectedly fails its test instead of
// passing by accident. It records every call in order.
package remotefake

import (
	"context"
	"fmt"
	"sync"

	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Remote implements tenant.Remote with one function field per method.
type Remote struct {
	ListEachFunc                    func(ctx context.Context, each func(identitynow.Integration)) error
	GetFunc                         func(ctx context.Context, id string) (*identitynow.Integration, error)
	CreateFunc                      func(ctx context.Context, d identitynow.Details) (*identitynow.Integration, error)
	PutFunc                         func(ctx context.Context, id string, d identitynow.Details) (*identitynow.Integration, error)
	PatchFunc                       func(ctx context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error)
	PatchBeforeProvisioningRuleFunc func(ctx context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error)
	DeleteFunc                      func(ctx context.Context, id string) error
	CheckTokenFunc                  func(ctx context.Context) error
	ListSourcesFunc                 func(ctx context.Context, names []string, each func(identitynow.Named)) error
	ListManagedClustersFunc         func(ctx context.Context, names []string, each func(identitynow.Named)) error

	mu    sync.Mutex
	calls []string
}

// Calls returns the methods called so far, in order ("Create", "Patch", ...).
func (r *Remote) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *Remote) record(method string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, method)
}

func notImplemented(method string) error {
	return fmt.Errorf("remotefake: %s is not implemented by this test", method)
}

// ListEach calls ListEachFunc.
func (r *Remote) ListEach(ctx context.Context, each func(identitynow.Integration)) error {
	r.record("ListEach")
	if r.ListEachFunc == nil {
		return notImplemented("ListEach")
	}
	return r.ListEachFunc(ctx, each)
}

// Get calls GetFunc.
func (r *Remote) Get(ctx context.Context, id string) (*identitynow.Integration, error) {
	r.record("Get")
	if r.GetFunc == nil {
		return nil, notImplemented("Get")
	}
	return r.GetFunc(ctx, id)
}

// Create calls CreateFunc.
func (r *Remote) Create(ctx context.Context, d identitynow.Details) (*identitynow.Integration, error) {
	r.record("Create")
	if r.CreateFunc == nil {
		return nil, notImplemented("Create")
	}
	return r.CreateFunc(ctx, d)
}

// Put calls PutFunc.
func (r *Remote) Put(ctx context.Context, id string, d identitynow.Details) (*identitynow.Integration, error) {
	r.record("Put")
	if r.PutFunc == nil {
		return nil, notImplemented("Put")
	}
	return r.PutFunc(ctx, id, d)
}

// Patch calls PatchFunc.
func (r *Remote) Patch(ctx context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error) {
	r.record("Patch")
	if r.PatchFunc == nil {
		return nil, notImplemented("Patch")
	}
	return r.PatchFunc(ctx, id, ops)
}

// PatchBeforeProvisioningRule calls PatchBeforeProvisioningRuleFunc.
func (r *Remote) PatchBeforeProvisioningRule(ctx context.Context, id string, ops []identitynow.Operation) (*identitynow.Integration, error) {
	r.record("PatchBeforeProvisioningRule")
	if r.PatchBeforeProvisioningRuleFunc == nil {
		return nil, notImplemented("PatchBeforeProvisioningRule")
	}
	return r.PatchBeforeProvisioningRuleFunc(ctx, id, ops)
}

// Delete calls DeleteFunc.
func (r *Remote) Delete(ctx context.Context, id string) error {
	r.record("Delete")
	if r.DeleteFunc == nil {
		return notImplemented("Delete")
	}
	return r.DeleteFunc(ctx, id)
}

// CheckToken calls CheckTokenFunc.
func (r *Remote) CheckToken(ctx context.Context) error {
	r.record("CheckToken")
	if r.CheckTokenFunc == nil {
		return notImplemented("CheckToken")
	}
	return r.CheckTokenFunc(ctx)
}

// ListSources calls ListSourcesFunc.
func (r *Remote) ListSources(ctx context.Context, names []string, each func(identitynow.Named)) error {
	r.record("ListSources")
	if r.ListSourcesFunc == nil {
		return notImplemented("ListSources")
	}
	return r.ListSourcesFunc(ctx, names, each)
}

// ListManagedClusters calls ListManagedClustersFunc.
func (r *Remote) ListManagedClusters(ctx context.Context, names []string, each func(identitynow.Named)) error {
	r.record("ListManagedClusters")
	if r.ListManagedClustersFunc == nil {
		return notImplemented("ListManagedClusters")
	}
	return r.ListManagedClustersFunc(ctx, names, each)
}
