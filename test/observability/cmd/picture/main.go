// Command picture draws the main panels of sim-operator's Grafana dashboard, their PromQL queries
// evaluated by Prometheus' engine over a scrape series of a real run, into docs/images/dashboard.png.
// With -record it first makes that run: the real manager binary against a local kube-apiserver and
// the fake IdentityNow API (KUBEBUILDER_ASSETS must name kube-apiserver, etcd and kubectl), scraped
// every few seconds for about four minutes, and writes the series to -run.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/sim-operator/sim-operator/test/observability"
)

func main() {
	record := flag.Bool("record", false, "record a new run first (needs KUBEBUILDER_ASSETS)")
	runFile := flag.String("run", observability.RunFile, "the scrape series to draw (written with -record)")
	out := flag.String("o", observability.PictureFile, "the PNG to write")
	every := flag.Duration("every", 5*time.Second, "scrape interval when recording")
	flag.Parse()
	if err := run(*record, *runFile, *out, *every); err != nil {
		fmt.Fprintln(os.Stderr, "picture:", err)
		os.Exit(1)
	}
}

func run(record bool, runFile, out string, every time.Duration) error {
	if record {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		dir, err := os.MkdirTemp("", "sim-operator-picture-")
		if err != nil {
			return err
		}
		scrapes, err := observability.Record(ctx, observability.RecordOptions{
			Assets: os.Getenv("KUBEBUILDER_ASSETS"), WorkDir: dir, Every: every,
			Progress: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
		})
		if err != nil {
			return fmt.Errorf("%w (logs in %s)", err, dir)
		}
		var buf bytes.Buffer
		if err := observability.WriteRun(&buf, scrapes); err != nil {
			return err
		}
		if err := os.WriteFile(runFile, buf.Bytes(), 0o644); err != nil {
			return err
		}
		_ = os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "wrote %d scrapes to %s\n", len(scrapes), runFile)
	}
	r, err := observability.LoadRun(runFile)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := observability.RenderPicture(&buf, r); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", out)
	return nil
}
