package cli

import (
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// userAgent names the plugin in requests to the API server and to IdentityNow.
var userAgent = "kubectl-sim/" + identitynow.Version

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(simv1alpha1.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	return s
}()

// client returns a client of the API server named by the kubeconfig flags.
func (g *globals) client() (client.Client, error) {
	cfg, err := g.kube.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = userAgent
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 100, 200
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// namespace returns the namespace of -n, else the kubeconfig context's, and whether -n set it.
func (g *globals) namespace() (string, bool, error) {
	ns, explicit, err := g.kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", false, err
	}
	return ns, explicit, nil
}

// tenantRef is a tenant named on the command line: NAME or tenant/NAME for a Tenant,
// clustertenant/NAME for a ClusterTenant.
type tenantRef struct {
	Kind simv1alpha1.TenantKind
	Name string
}

func (t tenantRef) String() string { return string(t.Kind) + "/" + t.Name }

func parseTenantRef(v string) (tenantRef, error) {
	kind, name, ok := strings.Cut(v, "/")
	if !ok {
		kind, name = "tenant", v
	}
	var ref tenantRef
	switch strings.ToLower(kind) {
	case "tenant", "tenants":
		ref.Kind = simv1alpha1.TenantKindTenant
	case "clustertenant", "clustertenants":
		ref.Kind = simv1alpha1.TenantKindClusterTenant
	default:
		return ref, fmt.Errorf("--tenant %q: want NAME, tenant/NAME or clustertenant/NAME", v)
	}
	if name == "" {
		return ref, fmt.Errorf("--tenant %q: the name is missing", v)
	}
	ref.Name = name
	return ref, nil
}

// refersTo says whether a SimIntegration in namespace ns with this tenantRef uses the tenant named by t
// (a Tenant in tenantNS, or a ClusterTenant).
func (t tenantRef) refersTo(ref simv1alpha1.TenantReference, ns, tenantNS string) bool {
	kind := ref.Kind
	if kind == "" {
		kind = simv1alpha1.TenantKindTenant
	}
	if kind != t.Kind || ref.Name != t.Name {
		return false
	}
	return kind == simv1alpha1.TenantKindClusterTenant || ns == tenantNS
}

// tenantKind is ref.Kind with its default.
func tenantKind(ref simv1alpha1.TenantReference) simv1alpha1.TenantKind {
	if ref.Kind == "" {
		return simv1alpha1.TenantKindTenant
	}
	return ref.Kind
}
