// Command kubectl-sim is the kubectl plugin of sim-operator, run as `kubectl sim ...` once it is on
// the PATH (krew naming): diff (what the operator would send to IdentityNow for a set of manifests,
// read-only), status (tenants and their SimIntegrations as a tree), reconcile, suspend, resume and
// export. See `kubectl sim --help` and package internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/sim-operator/sim-operator/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	code := cli.Main(ctx, os.Args[1:], streams, os.Getenv)
	stop()
	os.Exit(code)
}
