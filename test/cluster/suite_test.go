//go:build e2ecluster

// Package cluster is the in-cluster e2e suite: sim-operator as users run it, from its container image,
// installed with dist/install.yaml and with the Helm chart on a real single-node cluster (kubelet,
// containerd, kube-proxy), talking to the fake IdentityNow API on the host's IP address.
//
// It runs only under `make e2e-cluster` (hack/e2e-cluster.sh), which brings the cluster up, builds and
// imports the image, sets the E2E_* variables below and tears everything down afterwards. The build
// tag e2ecluster keeps it out of `make test`.
package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/test/harness"
	"github.com/sim-operator/sim-operator/test/install"
)

// Names both installs share (the Helm release is called sim-operator, so its names equal those of
// dist/install.yaml).
const (
	operatorNS     = install.Namespace
	deploymentName = "sim-operator-controller-manager"
	metricsService = "sim-operator-controller-manager-metrics-service"
	metricsReader  = "sim-operator-metrics-reader"
	leaseName      = "sim-operator.identitynow.io"
	managerLabels  = "control-plane=controller-manager"
	samplesNS      = harness.SamplesNamespace
)

// The environment hack/e2e-cluster.sh sets.
var (
	kubeconfig    = os.Getenv("E2E_KUBECONFIG")
	kubectlBin    = os.Getenv("E2E_KUBECTL")
	hostIP        = os.Getenv("E2E_HOST_IP")
	image         = os.Getenv("E2E_IMAGE")
	installYAML   = os.Getenv("E2E_INSTALL_YAML")
	fakeBin       = os.Getenv("E2E_FAKE_BIN")
	logDir        = os.Getenv("E2E_LOG_DIR")
	clusterScript = os.Getenv("E2E_CLUSTER_SCRIPT")
)

var (
	fake      *harness.Fake
	k8sClient client.Client
	restCfg   *rest.Config
	// secrets are values that must never appear in a log: the samples' credentials and every token
	// the suite creates.
	secretsMu sync.Mutex
	secrets   = []string{harness.SampleClientSecret, harness.SampleServiceNowPassword}
	// report holds the measured figures, printed at the end and written to E2E_LOG_DIR.
	reportMu sync.Mutex
	report   []string
)

func TestCluster(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	RunSpecs(t, "in-cluster e2e suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	for name, v := range map[string]string{
		"E2E_KUBECONFIG": kubeconfig, "E2E_KUBECTL": kubectlBin, "E2E_HOST_IP": hostIP, "E2E_IMAGE": image,
		"E2E_INSTALL_YAML": installYAML, "E2E_FAKE_BIN": fakeBin, "E2E_LOG_DIR": logDir,
		"E2E_CLUSTER_SCRIPT": clusterScript,
	} {
		if v == "" {
			Fail(name + " is not set: this suite runs under `make e2e-cluster` (hack/e2e-cluster.sh)")
		}
	}
	var err error
	restCfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	httpClient, err := rest.HTTPClientFor(restCfg)
	Expect(err).NotTo(HaveOccurred())
	mapper, err := apiutil.NewDynamicRESTMapper(restCfg, httpClient)
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(restCfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	Expect(err).NotTo(HaveOccurred())

	By("starting the fake IdentityNow on " + hostIP + ", where pods reach it")
	fake, err = harness.StartFake(ctx, fakeBin, filepath.Join(logDir, "fake-identitynow.log"),
		"--listen", hostIP+":0",
		"--client", harness.SampleClientID+":"+harness.SampleClientSecret,
		"--masked-attributes", "password")
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("fake IdentityNow at %s\n", fake.URL)
}, NodeTimeout(time.Minute))

var _ = AfterSuite(func() {
	if fake != nil {
		Expect(fake.Stop(5 * time.Second)).To(Succeed())
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	if len(report) > 0 && logDir != "" {
		text := strings.Join(report, "\n") + "\n"
		_ = os.WriteFile(filepath.Join(logDir, "cluster-report.txt"), []byte(text), 0o644)
		_, _ = fmt.Fprintf(os.Stdout, "\nin-cluster e2e figures:\n%s", harness.Indent(text, "  "))
	}
})

// On a failure, what a user would look at first.
var _ = ReportAfterEach(func(r SpecReport) {
	if !r.Failed() {
		return
	}
	for _, args := range [][]string{
		{"get", "pods,deployments,replicasets", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"get", "sim,tenants,clustertenants", "-A", "-o", "wide"},
		{"-n", operatorNS, "logs", "-l", managerLabels, "--tail=40", "--all-containers", "--prefix"},
	} {
		out, stderr, _ := run(context.Background(), "", args...)
		GinkgoWriter.Printf("$ kubectl %s\n%s%s\n", harness.Quote(args), out, stderr)
	}
})

// addReport records a measured figure.
func addReport(format string, args ...any) {
	reportMu.Lock()
	defer reportMu.Unlock()
	line := fmt.Sprintf(format, args...)
	report = append(report, line)
	GinkgoWriter.Printf("REPORT: %s\n", line)
}

func addSecret(s string) {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	secrets = append(secrets, s)
}

// run runs kubectl against the cluster and returns its stdout and stderr.
func run(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, kubectlBin, args...)
	cmd.Dir = harness.RepoRoot()
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w\n%s%s", harness.Quote(args), err, out.String(), errb.String())
	}
	return out.String(), errb.String(), err
}

// kubectl runs kubectl, echoes it to the Ginkgo log and fails the spec on error.
func kubectl(args ...string) string {
	GinkgoHelper()
	GinkgoWriter.Printf("$ kubectl %s\n", harness.Quote(args))
	out, stderr, err := run(context.Background(), "", args...)
	Expect(err).NotTo(HaveOccurred())
	if s := strings.TrimSpace(out + stderr); s != "" && len(s) < 4000 {
		GinkgoWriter.Print(harness.Indent(s, "  "))
	}
	return out
}

// kubectlNoWarning is kubectl with stdin that also fails when the API server answered with a warning
// (kubectl prints "Warning: ..." on stderr), a Pod Security one for example.
func kubectlNoWarning(stdin string, args ...string) string {
	GinkgoHelper()
	GinkgoWriter.Printf("$ kubectl %s\n", harness.Quote(args))
	out, stderr, err := run(context.Background(), stdin, args...)
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Print(harness.Indent(out+stderr, "  "))
	Expect(stderr).NotTo(ContainSubstring("Warning"), "kubectl %s printed a warning", harness.Quote(args))
	return out
}

// jsonpath reads one field with `kubectl get -o jsonpath`, without echoing (it is polled).
func jsonpath(g Gomega, args ...string) string {
	out, _, err := run(context.Background(), "", append([]string{"get"}, args...)...)
	g.Expect(err).NotTo(HaveOccurred())
	return out
}

// sample objects: config/samples as `kubectl apply -f config/samples` puts them in the default
// namespace, the tenants pointed at the fake, plus the copy of the API-client Secret that the sample
// ClusterTenant reads from the operator's namespace.
func sampleObjects() []*unstructured.Unstructured {
	GinkgoHelper()
	files, err := filepath.Glob(filepath.Join(harness.RepoRoot(), harness.SamplesDir, "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	slices.Sort(files)
	var objs []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		decoded, err := install.Decode(b)
		Expect(err).NotTo(HaveOccurred(), f)
		objs = append(objs, decoded...)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != "ClusterTenant" {
			o.SetNamespace(samplesNS)
		}
		if o.GetKind() == "Tenant" || o.GetKind() == "ClusterTenant" {
			Expect(unstructured.SetNestedField(o.Object, fake.URL, "spec", "baseURL")).To(Succeed())
		}
		out = append(out, o)
		if o.GetKind() == "Secret" && o.GetName() == harness.SampleCredentialsSecret {
			c := o.DeepCopy()
			c.SetNamespace(operatorNS)
			out = append(out, c)
		}
	}
	return out
}

func toYAML(objs []*unstructured.Unstructured) string {
	GinkgoHelper()
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		Expect(err).NotTo(HaveOccurred())
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}

// managerPods returns the names of the manager's pods that are not being deleted.
func managerPods(g Gomega) []string {
	out := jsonpath(g, "pods", "-n", operatorNS, "-l", managerLabels, "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}`)
	var pods []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 1 {
			pods = append(pods, f[0])
		}
	}
	slices.Sort(pods)
	return pods
}

// restartCounts sums the manager containers' restarts.
func restartCount(g Gomega) int {
	out := jsonpath(g, "pods", "-n", operatorNS, "-l", managerLabels, "-o",
		`jsonpath={range .items[*]}{.status.containerStatuses[0].restartCount}{" "}{end}`)
	n := 0
	for f := range strings.FieldsSeq(out) {
		var i int
		_, _ = fmt.Sscan(f, &i)
		n += i
	}
	return n
}

// podLogs returns `kubectl logs` of a manager pod, with the previous container's when it restarted.
func podLogs(g Gomega, pod string) string {
	out, _, err := run(context.Background(), "", "logs", "-n", operatorNS, pod, "-c", "manager")
	g.Expect(err).NotTo(HaveOccurred())
	prev, _, err := run(context.Background(), "", "logs", "-n", operatorNS, pod, "-c", "manager", "--previous")
	if err == nil {
		out = prev + out
	}
	return out
}

// expectNoSecretsInLogs reads every manager pod's log with `kubectl logs` (saving it in E2E_LOG_DIR)
// and fails if one holds a secret, as such or base64-encoded.
func expectNoSecretsInLogs(phase string) {
	GinkgoHelper()
	pods := managerPods(Default)
	Expect(pods).NotTo(BeEmpty())
	secretsMu.Lock()
	values := slices.Clone(secrets)
	secretsMu.Unlock()
	total := 0
	for _, pod := range pods {
		log := podLogs(Default, pod)
		total += strings.Count(log, "\n")
		_ = os.WriteFile(filepath.Join(logDir, phase+"-"+pod+".log"), []byte(log), 0o644)
		for _, s := range values {
			Expect(strings.Contains(log, s)).To(BeFalse(), "kubectl logs %s shows a secret (%d characters)", pod, len(s))
			Expect(strings.Contains(log, base64.StdEncoding.EncodeToString([]byte(s)))).To(BeFalse(),
				"kubectl logs %s shows a secret base64-encoded (%d characters)", pod, len(s))
		}
	}
	addReport("%s: kubectl logs of %d manager pod(s), %d lines: none of the %d secret values, plain or base64", phase,
		len(pods), total, len(values))
}

// resetFake deletes every remote object and the request log, so a new install starts afresh.
func resetFake(ctx context.Context) {
	GinkgoHelper()
	objs, err := fake.Objects(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, o := range objs {
		adminDelete(ctx, "/_admin/objects/"+o.ID)
	}
	adminDelete(ctx, "/_admin/requests")
}

func adminDelete(ctx context.Context, path string) {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, fake.URL+path, nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	Expect(resp.StatusCode/100).To(Equal(2), "DELETE %s", path)
}
