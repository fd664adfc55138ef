package controller

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/options"
	"github.com/sim-operator/sim-operator/internal/tenant"
)

// Setup wires the indexes, the shared tenant registry and the three reconcilers into mgr.
func Setup(ctx context.Context, mgr manager.Manager, opts *options.Options) error {
	if err := SetupIndexes(ctx, mgr); err != nil {
		return fmt.Errorf("register field indexes: %w", err)
	}
	if err := identitynow.RegisterMetrics(metrics.Registry); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	sims := &SimIntegrationReconciler{
		Client:                  mgr.GetClient(),
		Recorder:                mgr.GetEventRecorder("sim-operator"),
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
	}
	registry := tenant.NewRegistry(tenant.RegistryOptions{
		AllowInsecureHTTP: opts.AllowInsecureHTTP,
		DialGuard:         opts.AddressPolicy(),
		OnChange:          sims.RemoteChanged,
		Logger:            mgr.GetLogger().WithName("identitynow"),
		Timeout:           opts.RemoteTimeout,
	})
	tenants := &tenant.Resolver{
		Client: mgr.GetClient(),
		// Secret metadata comes from the metadata-only informer (the client bypasses the cache for
		// Secrets entirely); values are read from the API server when a resourceVersion changes.
		Secrets:  &tenant.SecretReader{Metadata: mgr.GetCache(), API: mgr.GetAPIReader()},
		Registry: registry,
		Options:  opts,
	}
	if err := registerStateMetrics(metrics.Registry, mgr.GetCache(), registry); err != nil {
		return fmt.Errorf("register state metrics: %w", err)
	}
	sims.Tenants = tenants
	if err := sims.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up SimIntegration controller: %w", err)
	}
	if err := setupNamespaceRelay(mgr, sims); err != nil {
		return fmt.Errorf("set up the namespace watch: %w", err)
	}
	for name, newObj := range map[string]func() simv1alpha1.TenantObject{
		"tenant":        func() simv1alpha1.TenantObject { return &simv1alpha1.Tenant{} },
		"clustertenant": func() simv1alpha1.TenantObject { return &simv1alpha1.ClusterTenant{} },
	} {
		if err := (&TenantReconciler{Client: mgr.GetClient(), Tenants: tenants, New: newObj}).SetupWithManager(mgr, name); err != nil {
			return fmt.Errorf("set up %s controller: %w", name, err)
		}
	}
	return nil
}
