/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command sim-operator is the manager: it reconciles SimIntegrations, Tenants and ClusterTenants.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/options"
	// +kubebuilder:scaffold:imports
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(simv1alpha1.AddToScheme(scheme))
	// +kubebuilder:scaffold:scheme
}

func main() {
	var metricsAddr, probeAddr, pprofAddr string
	var enableLeaderElection, secureMetrics, enableHTTP2 bool
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable the metrics service.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0",
		"The address the Go pprof endpoints bind to, e.g. 127.0.0.1:6060 (0 disables).")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election for controller manager. "+
			"Enabling this will ensure there is only one active controller manager.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"If set, the metrics endpoint is served securely via HTTPS. Use --metrics-secure=false to use HTTP instead.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"If set, HTTP/2 will be enabled for the metrics server")
	opts := options.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := opts.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "sim-operator: invalid flags:", err)
		os.Exit(2)
	}
	setMemoryLimit()
	if err := run(opts, metricsAddr, probeAddr, pprofAddr, enableLeaderElection, secureMetrics, enableHTTP2); err != nil {
		setupLog.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

// setMemoryLimit makes 90 % of the container's memory limit (its cgroup) the Go runtime's soft memory
// limit, so the collector works harder before the kernel would kill the pod. GOMEMLIMIT in the
// environment takes precedence; AUTOMEMLIMIT=off disables it, and AUTOMEMLIMIT=0.8 changes the ratio.
func setMemoryLimit() {
	limit, err := memlimit.Set(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup))
	switch {
	case err != nil:
		setupLog.V(1).Info("No memory limit from the cgroup", "reason", err.Error())
	case limit > 0 && limit < math.MaxInt64:
		setupLog.Info("Go memory limit", "GOMEMLIMIT", limit)
	}
}

func run(opts *options.Options, metricsAddr, probeAddr, pprofAddr string,
	leaderElect, secureMetrics, enableHTTP2 bool) error {
	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		// HTTP/2 stays off by default: HTTP/2 Stream Cancellation and Rapid Reset CVEs.
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOptions := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, TLSOpts: tlsOpts}
	if secureMetrics {
		metricsOptions.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOptions,
		HealthProbeBindAddress: probeAddr,
		PprofBindAddress:       pprofAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "sim-operator.identitynow.io",
		// The lease lives in the operator's namespace, so leader election also works outside a cluster
		// (controller-runtime would otherwise look for the in-pod namespace file).
		LeaderElectionNamespace:       opts.ClusterResourceNamespace,
		LeaderElectionReleaseOnCancel: true,
		Client:                        controller.ClientOptions(),
		Cache:                         controller.CacheOptions(),
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := controller.Setup(ctx, mgr, opts); err != nil {
		return err
	}
	// +kubebuilder:scaffold:builder
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	setupLog.Info("Starting manager", "version", identitynow.Version)
	return mgr.Start(ctx)
}
