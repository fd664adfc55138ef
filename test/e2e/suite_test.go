// Package e2e runs sim-operator as users run it: the real manager binary (built from ./cmd, running
// with the permissions of config/rbac/role.yaml and --zap-log-level=10) and the fake IdentityNow API
// (cmd/fake-identitynow) as processes against a local kube-apiserver and etcd, driven only with the
// real kubectl and config/samples. test/harness holds the code it shares with `make demo`.
//
// E2E_KEEP=1 keeps its work directory (logs, kubeconfig); it is kept anyway when a spec fails.
//
// It needs KUBEBUILDER_ASSETS (kube-apiserver, etcd and kubectl), which `make test` sets; without it
// the suite fails rather than skips.
package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sim-operator/sim-operator/test/harness"
)

var (
	env     *harness.Env
	workDir string
	// setUp is set when BeforeSuite succeeded; failed when a spec failed. Either way the work
	// directory is kept for its logs.
	setUp, failed bool
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	RunSpecs(t, "e2e suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	assets, err := harness.AssetsFromEnv()
	if err != nil {
		Fail("the e2e suite needs kube-apiserver, etcd and kubectl: " + err.Error())
	}

	workDir, err = os.MkdirTemp("", "sim-operator-e2e-")
	Expect(err).NotTo(HaveOccurred())
	By("building the manager and the fake, starting kube-apiserver, etcd, the fake and the manager")
	env, err = harness.Start(ctx, harness.Config{
		Assets:      assets,
		WorkDir:     workDir,
		Race:        raceEnabled,
		ManagerArgs: append([]string{"--zap-log-level=10"}, metricsFlags()...),
		Progress:    func(format string, args ...any) { GinkgoWriter.Printf(format+"\n", args...) },
		Echo:        GinkgoWriter,
	})
	Expect(err).NotTo(HaveOccurred())

	By("applying config/samples and pointing the tenants at the fake")
	Expect(env.ApplySamples(ctx)).To(Succeed())
	patched, err := env.PointTenantsAtFake(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(patched).To(ConsistOf("tenant/acme", "clustertenant/acme-shared"))

	By("waiting until every tenant and SimIntegration is Ready")
	Expect(env.WaitReady(ctx, 90*time.Second)).To(Succeed(), func() string {
		out, _ := env.Kubectl(context.Background(), "get", "sim,tenants,clustertenants", "-A", "-o", "yaml")
		return out + harness.TailFile(env.ManagerLog, 30)
	})
	setUp = true
}, NodeTimeout(6*time.Minute))

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		failed = true
	}
})

var _ = AfterSuite(func(_ SpecContext) {
	if workDir == "" {
		return
	}
	keep := failed || !setUp || os.Getenv("E2E_KEEP") != ""
	if keep {
		GinkgoWriter.Printf("e2e: keeping %s (manager and fake logs, kubeconfig)\n", workDir)
		if env != nil {
			GinkgoWriter.Printf("%s", harness.TailFile(env.ManagerLog, 40))
		}
	}
	if env != nil {
		By("stopping the manager, the fake, kube-apiserver and etcd")
		Expect(env.Stop()).To(Succeed(), "the manager or the fake had exited on its own")

		By("checking the whole manager log, shutdown included, for secrets and data races")
		log, err := os.ReadFile(env.ManagerLog)
		Expect(err).NotTo(HaveOccurred())
		expectNoSecrets("the manager log", string(log))
		Expect(strings.Contains(string(log), "DATA RACE")).To(BeFalse(),
			"the race detector found a data race in the manager: see %s", env.ManagerLog)
	}
	if !keep {
		Expect(os.RemoveAll(workDir)).To(Succeed())
	}
}, NodeTimeout(time.Minute))

// expectNoSecrets fails if text contains the API client secret or the ServiceNow password of
// config/samples, as such or base64-encoded as in a Secret's data (at --zap-log-level=10 client-go
// logs request and response bodies).
func expectNoSecrets(what, text string) {
	GinkgoHelper()
	for _, secret := range []string{harness.SampleClientSecret, harness.SampleServiceNowPassword} {
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
			Expect(strings.Contains(text, form)).To(BeFalse(), "%s contains the secret %q (as %q)", what, secret, form)
		}
	}
}
