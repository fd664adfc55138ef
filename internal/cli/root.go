// Package cli is the kubectl plugin kubectl-sim (cmd/kubectl-sim): `kubectl sim diff` shows what the
// operator would send to IdentityNow for a set of manifests, computed with the reconciler's own rules
// (controller.ComputePlan) against the live tenant with read calls only; `status` shows every tenant
// with its SimIntegrations as a tree; `reconcile`, `suspend` and `resume` act on SimIntegrations with
// patches; `export` writes manifests that adopt a tenant's existing integrations.
//
// The kubeconfig and the -n/-A flags work as in kubectl (k8s.io/cli-runtime). The IdentityNow API
// client's credentials come from the tenant's Secret, read through the kubeconfig, or from
// SAIL_CLIENT_ID and SAIL_CLIENT_SECRET, never from flags; no secret value is ever printed.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/sim-operator/sim-operator/internal/identitynow"
)

// Exit codes. diff follows kubectl diff: 0 no differences, 1 differences, greater than 1 an error;
// the other commands exit 1 on an error.
const (
	ExitOK          = 0
	ExitDifferences = 1
	ExitError       = 1
	ExitDiffError   = 2
)

// exitError ends the command with a given exit code; its message (if any) is printed first.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// Getenv reads the environment; tests replace it.
type Getenv func(string) string

// Main runs kubectl-sim with args and returns its exit code.
func Main(ctx context.Context, args []string, streams genericiooptions.IOStreams, getenv Getenv) int {
	root := NewCommand(streams, getenv)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitError
	if ee, ok := errors.AsType[*exitError](err); ok {
		code = ee.code
		err = ee.err
	} else if isDiff(root, args) {
		code = ExitDiffError
	}
	if err != nil {
		_, _ = fmt.Fprintln(streams.ErrOut, "error:", err)
	}
	return code
}

// isDiff says whether args run the diff command, whose errors exit 2 rather than 1.
func isDiff(root *cobra.Command, args []string) bool {
	cmd, _, err := root.Find(args)
	return err == nil && cmd.Name() == "diff"
}

// globals are what every command shares: the kubeconfig flags, the streams and the environment.
type globals struct {
	kube    *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	getenv  Getenv
	color   string
}

const rootLong = `kubectl sim works with sim-operator, the operator that manages SailPoint Identity Security
Cloud (IdentityNow) ServiceNow SIM integrations as SimIntegration objects.

  diff       show what the operator would send to IdentityNow if manifests were applied now
             (the create body, the exact JSON Patch operations or PUT, or the condition it would
             stop on), read-only; exit status 0 no differences, 1 differences, 2 an error
  status     every Tenant and ClusterTenant with its SimIntegrations, as a tree
  reconcile  reconcile SimIntegrations now, with a fresh read of IdentityNow
  suspend    stop all remote calls for SimIntegrations (spec.suspend: true)
  resume     resume them (spec.suspend: false), optionally waiting until they are Ready
  export     write SimIntegration manifests that adopt a tenant's existing integrations

The kubeconfig, --context and -n/--namespace work as in kubectl. diff and export reach IdentityNow
with the tenant's API client, read from the tenant's Secret through the kubeconfig, or from the
environment variables SAIL_CLIENT_ID and SAIL_CLIENT_SECRET when both are set (for a CI job with a
read-only API client). Credentials are never taken from flags, and no secret value is printed.

Every kubectl connection flag works (--server, --token, --as, ...): see "kubectl sim options".`

const rootExample = `  # What would applying this directory change in IdentityNow?
  kubectl sim diff -f deploy/sims/ -R

  # The same, as JSON for a pipeline
  kubectl sim diff -f deploy/sims/ -R -o json

  # Every tenant and its integrations, in all namespaces
  kubectl sim status -A

  # Re-read IdentityNow and correct drift now
  kubectl sim reconcile servicenow-sim

  # A change freeze for one integration, then back to normal
  kubectl sim suspend servicenow-sim
  kubectl sim resume servicenow-sim --wait`

// NewCommand returns the kubectl-sim command tree.
func NewCommand(streams genericiooptions.IOStreams, getenv Getenv) *cobra.Command {
	if getenv == nil {
		getenv = os.Getenv
	}
	g := &globals{kube: genericclioptions.NewConfigFlags(true), streams: streams, getenv: getenv}
	root := &cobra.Command{
		Use:   "kubectl-sim",
		Short: "Plan, inspect and operate sim-operator's SimIntegrations",
		Long:  rootLong, Example: rootExample,
		Version:       identitynow.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl sim"},
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: true,
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	g.kube.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVar(&g.color, "color", "auto", "colour the output: auto (on a terminal), always or never")
	// kubectl's connection flags all work; help lists the common ones, `kubectl sim options` the rest.
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !shownFlags[f.Name] {
			f.Hidden = true
		}
	})
	root.AddCommand(newDiffCommand(g), newStatusCommand(g), newReconcileCommand(g), newSuspendCommand(g, true),
		newSuspendCommand(g, false), newExportCommand(g), newOptionsCommand(root))
	return root
}

// shownFlags are the global flags that every command's help lists.
var shownFlags = map[string]bool{"namespace": true, "kubeconfig": true, "context": true, "color": true}

func newOptionsCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "options",
		Short: "List the global flags (kubeconfig, context, impersonation, TLS, ...) that every command accepts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all := pflag.NewFlagSet("global", pflag.ContinueOnError)
			root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
				c := *f
				c.Hidden = false
				all.AddFlag(&c)
			})
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "The following flags work with every command:\n\n%s", all.FlagUsages())
			return err
		},
	}
}

// colors says whether to colour output written to w.
func (g *globals) colors(w io.Writer) (palette, error) {
	switch strings.ToLower(g.color) {
	case "always":
		return ansiPalette, nil
	case "never":
		return plainPalette, nil
	case "auto", "":
		if g.getenv("NO_COLOR") == "" && isTerminal(w) {
			return ansiPalette, nil
		}
		return plainPalette, nil
	}
	return plainPalette, fmt.Errorf("--color %q: want auto, always or never", g.color)
}
