package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// SamplesDir is config/samples, relative to the repository root (kubectl runs there).
const SamplesDir = "config/samples"

// Run runs kubectl like Kubectl and, when Config.Echo is set, writes the command line and its output
// there, as a terminal session would show them.
func (e *Env) Run(ctx context.Context, args ...string) (string, error) {
	return e.run(ctx, "", "", args...)
}

// RunStdin is Run with stdin; shown describes it in the echo ("<<EOF ..." for example).
func (e *Env) RunStdin(ctx context.Context, stdin, shown string, args ...string) (string, error) {
	return e.run(ctx, stdin, shown, args...)
}

func (e *Env) run(ctx context.Context, stdin, shown string, args ...string) (string, error) {
	line := "kubectl " + Quote(args)
	if shown != "" {
		line += "  " + shown
	}
	e.echo("$ %s\n", line)
	out, err := e.Cluster.Kubectl(ctx, stdin, args...)
	if out != "" && err == nil {
		e.echo("%s", Indent(out, "  "))
	}
	return out, err
}

func (e *Env) echo(format string, args ...any) {
	if e.Echo != nil {
		_, _ = fmt.Fprintf(e.Echo, format, args...)
	}
}

// Indent prefixes every non-empty line of s.
func Indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(strings.TrimRight(s, "\n")) {
		if strings.TrimSpace(line) != "" {
			b.WriteString(prefix)
		}
		b.WriteString(line)
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// ApplySamples creates the operator's namespace with a copy of the API-client Secret that the sample
// ClusterTenant uses (a ClusterTenant reads its Secret from --cluster-resource-namespace), then
// applies config/samples as a user would: `kubectl apply -f config/samples`.
func (e *Env) ApplySamples(ctx context.Context) error {
	if _, err := e.Run(ctx, "create", "namespace", OperatorNamespace); err != nil {
		return err
	}
	secret, file, err := SampleSecret(SampleCredentialsSecret)
	if err != nil {
		return err
	}
	e.echo("# A ClusterTenant reads its Secret from the operator's namespace (--cluster-resource-namespace):\n")
	if _, err := e.RunStdin(ctx, secret, "< (Secret "+SampleCredentialsSecret+" of "+file+")",
		"apply", "-n", OperatorNamespace, "-f", "-"); err != nil {
		return err
	}
	e.echo("# The samples themselves, in the default namespace:\n")
	_, err = e.Run(ctx, "apply", "-f", SamplesDir)
	return err
}

// SampleSecret returns the YAML of the Secret called name in config/samples and the file holding it.
func SampleSecret(name string) (doc, file string, err error) {
	dir := filepath.Join(RepoRoot(), SamplesDir)
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return "", "", err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", "", err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return "", "", fmt.Errorf("%s: %w", f, err)
			}
			if u.GetKind() == "Secret" && u.GetName() == name {
				out, err := yaml.Marshal(u.Object)
				return string(out), filepath.Join(SamplesDir, filepath.Base(f)), err
			}
		}
	}
	return "", "", fmt.Errorf("no Secret %q in %s", name, dir)
}

// PointTenantsAtFake sets spec.baseURL of every Tenant and ClusterTenant to the fake's URL (the
// samples name https://acme.api.identitynow.com) and returns the patched objects as kind/name.
func (e *Env) PointTenantsAtFake(ctx context.Context) ([]string, error) {
	patch := fmt.Sprintf(`{"spec":{"baseURL":%q}}`, e.Fake.URL)
	e.echo("# The manager runs with --allow-insecure-http --tenant-host-allowlist=127.0.0.1:* for this:\n")
	var patched []string
	for _, kind := range []string{"tenant", "clustertenant"} {
		out, err := e.Cluster.Kubectl(ctx, "", "get", kind, "-A", "-o",
			`jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}`)
		if err != nil {
			return patched, err
		}
		for nsName := range strings.FieldsSeq(out) {
			ns, name, _ := strings.Cut(nsName, "/")
			args := []string{"patch", kind, name, "--type", "merge", "-p", patch}
			if ns != "" && ns != SamplesNamespace {
				args = append(args, "-n", ns)
			}
			if _, err := e.Run(ctx, args...); err != nil {
				return patched, err
			}
			patched = append(patched, kind+"/"+name)
		}
	}
	return patched, nil
}

// WaitReady waits with `kubectl wait` until every Tenant, ClusterTenant and SimIntegration is Ready.
func (e *Env) WaitReady(ctx context.Context, timeout time.Duration) error {
	t := "--timeout=" + timeout.String()
	for _, kind := range []string{"tenants", "clustertenants", "sim"} {
		if _, err := e.Run(ctx, "wait", "--for=condition=Ready", kind, "--all", "-A", t); err != nil {
			return err
		}
	}
	return nil
}
