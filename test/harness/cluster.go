package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ManagerServiceAccount is the identity the manager runs as: the ServiceAccount that
// config/rbac/role_binding.yaml binds in-cluster (with config/default's name prefix), so the manager
// has exactly the permissions of config/rbac/role.yaml and nothing more.
const ManagerServiceAccount = OperatorNamespace + ":sim-operator-controller-manager"

// Cluster is a local kube-apiserver and etcd with the CRDs of config/crd/bases installed.
type Cluster struct {
	// Host is the apiserver URL.
	Host string
	// Kubeconfig is a kubeconfig file for an administrator (group system:masters), for kubectl.
	Kubeconfig string
	// ManagerKubeconfig is a kubeconfig file for the manager's ServiceAccount user, bound to the
	// ClusterRole of config/rbac/role.yaml.
	ManagerKubeconfig string
	// KubectlPath is the kubectl binary built with the apiserver.
	KubectlPath string
	// CacheDir is kubectl's discovery and HTTP cache (KUBECACHEDIR), kept out of ~/.kube.
	CacheDir string

	env *envtest.Environment
}

// StartCluster starts kube-apiserver and etcd from assets, installs the CRDs, writes the kubeconfig
// files into workDir and grants the manager's ServiceAccount the ClusterRole of config/rbac/role.yaml.
func StartCluster(ctx context.Context, assets, workDir string) (c *Cluster, err error) {
	root := RepoRoot()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 60 * time.Second, // a loaded 2-core machine can be slow
	}
	if _, err := env.Start(); err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err)
	}
	c = &Cluster{
		Host:        env.Config.Host,
		KubectlPath: filepath.Join(assets, "kubectl"),
		CacheDir:    filepath.Join(workDir, "kube-cache"),
		env:         env,
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()
	if c.Kubeconfig, err = writeKubeconfig(env, envtest.User{Name: "demo", Groups: []string{"system:masters"}},
		filepath.Join(workDir, "kubeconfig")); err != nil {
		return c, err
	}
	saUser := "system:serviceaccount:" + ManagerServiceAccount
	if c.ManagerKubeconfig, err = writeKubeconfig(env,
		envtest.User{Name: saUser, Groups: []string{"system:serviceaccounts", "system:authenticated"}},
		filepath.Join(workDir, "manager.kubeconfig")); err != nil {
		return c, err
	}
	if _, err := c.Kubectl(ctx, "", "apply", "-f", filepath.Join(root, "config", "rbac", "role.yaml")); err != nil {
		return c, err
	}
	if _, err := c.Kubectl(ctx, "", "create", "clusterrolebinding", "sim-operator-manager-rolebinding",
		"--clusterrole=manager-role", "--serviceaccount="+ManagerServiceAccount); err != nil {
		return c, err
	}
	return c, nil
}

func writeKubeconfig(env *envtest.Environment, u envtest.User, path string) (string, error) {
	user, err := env.AddUser(u, nil)
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", u.Name, err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, kc, 0o600)
}

// Stop stops the apiserver and etcd and removes their data.
func (c *Cluster) Stop() error {
	if c == nil || c.env == nil {
		return nil
	}
	env := c.env
	c.env = nil
	return env.Stop()
}

// Kubectl runs kubectl with the administrator's kubeconfig, stdin as its standard input (if not
// empty), and returns its stdout. The error carries the command line and stderr.
func (c *Cluster) Kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.KubectlPath, args...)
	cmd.Dir = RepoRoot() // so that relative paths such as config/samples work
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "KUBECACHEDIR="+c.CacheDir)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\n%s%s", Quote(args), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// Quote renders args as a shell command line would need them.
func Quote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'{}$*?[]|&;<>()\\`!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
