// Package install tests the two ways to install sim-operator: dist/install.yaml (kustomize build of
// config/default, what `make build-installer` writes) and the Helm chart in charts/sim-operator. Both
// are rendered, checked for the security properties the project promises, compared with each other
// and with the generated CRDs and RBAC in config/, and sent to a real kube-apiserver (envtest) as a
// server-side dry run.
package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/sim-operator/sim-operator/test/harness"
)

// Names every install uses.
const (
	Namespace   = "sim-operator-system"
	ReleaseName = "sim-operator"
	KubeVersion = "v1.37.2"
)

// ChartDir is the Helm chart's directory.
func ChartDir() string { return filepath.Join(harness.RepoRoot(), "charts", "sim-operator") }

// KustomizePath is the kustomize binary `make kustomize` installs (or $KUSTOMIZE).
func KustomizePath() string {
	if p := os.Getenv("KUSTOMIZE"); p != "" {
		return p
	}
	return filepath.Join(harness.RepoRoot(), "bin", "kustomize")
}

// KustomizeBuild runs `kustomize build config/default`, which is what `make build-installer` writes
// to dist/install.yaml (with the image of IMG; the default IMG is the image in config/manager).
func KustomizeBuild() ([]byte, error) {
	kustomize := KustomizePath()
	if _, err := os.Stat(kustomize); err != nil {
		return nil, fmt.Errorf("%s not found: run `make kustomize` (`make test` does): %w", kustomize, err)
	}
	cmd := exec.Command(kustomize, "build", filepath.Join(harness.RepoRoot(), "config", "default"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kustomize build config/default: %w: %s", err, stderr.String())
	}
	return out, nil
}

// RenderChart renders the chart as `helm template sim-operator charts/sim-operator
// --namespace sim-operator-system --kube-version v1.37.2` does, with vals on top of values.yaml
// (validated against values.schema.json), in Helm's install order.
func RenderChart(vals map[string]any) ([]byte, error) {
	chrt, err := loader.Load(ChartDir())
	if err != nil {
		return nil, err
	}
	kubeVersion, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kubeVersion
	if err := chartutil.ProcessDependenciesWithMerge(chrt, vals); err != nil {
		return nil, err
	}
	if vals == nil {
		vals = map[string]any{}
	}
	renderVals, err := chartutil.ToRenderValues(chrt, vals,
		chartutil.ReleaseOptions{Name: ReleaseName, Namespace: Namespace, Revision: 1, IsInstall: true}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chrt, renderVals)
	if err != nil {
		return nil, err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	if len(hooks) > 0 {
		return nil, fmt.Errorf("the chart has %d hooks; this renderer does not handle them", len(hooks))
	}
	var out bytes.Buffer
	for _, m := range manifests {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return out.Bytes(), nil
}

// LintChart runs `helm lint --strict` on the chart with vals and returns every warning and error.
func LintChart(vals map[string]any) []string {
	kubeVersion, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return []string{err.Error()}
	}
	if vals == nil {
		vals = map[string]any{}
	}
	linter := lint.AllWithKubeVersion(ChartDir(), vals, Namespace, kubeVersion)
	var problems []string
	for _, m := range linter.Messages {
		if m.Severity >= support.WarningSev {
			problems = append(problems, m.Error())
		}
	}
	return problems
}

// Decode splits a multi-document YAML stream into objects, skipping empty documents.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("object %d: %w", len(objs)+1, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("object %d has no kind, apiVersion or name: %v", len(objs)+1, m)
		}
		objs = append(objs, u)
	}
}

// NamespaceObject is a Namespace named name.
func NamespaceObject(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Namespace")
	u.SetName(name)
	return u
}

// Key identifies an object in messages and maps: Kind namespace/name.
func Key(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// Keys lists the Keys of objs, sorted as given.
func Keys(objs []*unstructured.Unstructured) []string {
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		keys = append(keys, Key(o))
	}
	return keys
}

// ByKind returns the objects of a kind.
func ByKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if strings.EqualFold(o.GetKind(), kind) {
			out = append(out, o)
		}
	}
	return out
}
