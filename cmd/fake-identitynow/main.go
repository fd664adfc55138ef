// Command fake-identitynow serves the fake SailPoint ISC SIM integrations API
// (package internal/identitynow/fake) for demos and manual tests.
//
//	fake-identitynow --listen 127.0.0.1:0 --client demo:demo-secret --shape dto
//	fake-identitynow --client demo:demo-secret --rate-limit 5/1s --rate-escalation per-request
//	fake-identitynow --client demo:demo-secret --source "Active Directory=2c9180835d191a86" \
//	  --managed-cluster "Production VA=xyzzy999"
//
// The first line on stdout is "listening on http://HOST:PORT". The JSON admin
// API is under /_admin/ (objects, faults, requests, revoke-tokens, config).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

// clientsFlag collects repeated --client id:secret values.
type clientsFlag map[string]string

func (c clientsFlag) String() string { return strconv.Itoa(len(c)) + " client(s)" }

func (c clientsFlag) Set(v string) error {
	id, secret, ok := strings.Cut(v, ":")
	if !ok || id == "" || secret == "" {
		return errors.New("want id:secret")
	}
	c[id] = secret
	return nil
}

// namedFlag collects repeated --source / --managed-cluster NAME=ID values (the last = separates them).
type namedFlag [][2]string

func (n *namedFlag) String() string { return strconv.Itoa(len(*n)) + " object(s)" }

func (n *namedFlag) Set(v string) error {
	i := strings.LastIndex(v, "=")
	if i <= 0 || i == len(v)-1 {
		return errors.New("want NAME=ID")
	}
	*n = append(*n, [2]string{v[:i], v[i+1:]})
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fake-identitynow:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	opts, listen, refs, err := parseFlags(args)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	server := fake.NewServer(opts)
	refs.seed(server)
	srv := &http.Server{Handler: server, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// references are the sources and managed clusters to seed.
type references struct{ sources, clusters namedFlag }

func (r references) seed(s *fake.Server) {
	for _, c := range r.clusters {
		s.AddManagedCluster(fake.ManagedCluster{Name: c[0], ID: c[1], Operational: true})
	}
	for _, src := range r.sources {
		s.AddSource(fake.Source{Name: src[0], ID: src[1]})
	}
}

func parseFlags(args []string) (fake.Options, string, references, error) {
	fs := flag.NewFlagSet("fake-identitynow", flag.ContinueOnError)
	clients := clientsFlag{}
	var refs references
	fs.Var(&refs.sources, "source", "a source of the tenant as NAME=ID (repeatable; names need not be unique)")
	fs.Var(&refs.clusters, "managed-cluster", "a managed cluster of the tenant as NAME=ID (repeatable)")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	fs.Var(clients, "client", "accepted API client as id:secret (repeatable)")
	shape := fs.String("shape", "dto", "response shape: echo or dto")
	ttl := fs.Duration("token-ttl", fake.DefaultTokenTTL, "lifetime of issued tokens")
	rate := fs.String("rate-limit", "100/10s", "SIM requests per period per client id and release (0 disables)")
	escalation := fs.String("rate-escalation", string(fake.EscalationDocumented),
		"repeated 429s: documented (SailPoint's route-specific backoff), "+
			"per-request (every request while blocked escalates; stress tests) or none")
	masked := fs.String("masked-attributes", "", "comma-separated attribute keys returned as ********")
	omitted := fs.String("omitted-attributes", "", "comma-separated attribute keys left out of responses")
	forms := fs.String("patch-forms", "both", "accepted PATCH bodies: both, operations or array")
	if err := fs.Parse(args); err != nil {
		return fake.Options{}, "", refs, err
	}
	rl, err := parseRate(*rate)
	if err != nil {
		return fake.Options{}, "", refs, err
	}
	rl.Escalation = fake.Escalation(*escalation)
	opts := fake.Options{
		Clients: clients, TokenTTL: *ttl, Shape: fake.Shape(*shape),
		PatchForms: fake.PatchForms(*forms), RateLimit: rl,
	}
	if *masked != "" {
		opts.MaskedAttributes = strings.Split(*masked, ",")
	}
	if *omitted != "" {
		opts.OmittedAttributes = strings.Split(*omitted, ",")
	}
	switch {
	case opts.Shape != fake.ShapeEcho && opts.Shape != fake.ShapeDTO:
		return opts, "", refs, fmt.Errorf("--shape must be echo or dto")
	case opts.PatchForms != fake.PatchFormsBoth && opts.PatchForms != fake.PatchFormsOperations &&
		opts.PatchForms != fake.PatchFormsArray:
		return opts, "", refs, fmt.Errorf("--patch-forms must be both, operations or array")
	case !rl.Escalation.Valid():
		return opts, "", refs, fmt.Errorf("--rate-escalation must be documented, per-request or none")
	}
	return opts, *listen, refs, nil
}

// parseRate reads "100/10s"; "0" disables the limit.
func parseRate(v string) (fake.RateLimit, error) {
	if v == "0" || v == "" {
		return fake.RateLimit{}, nil
	}
	n, p, ok := strings.Cut(v, "/")
	reqs, err1 := strconv.Atoi(n)
	period, err2 := time.ParseDuration(p)
	if !ok || err1 != nil || err2 != nil || reqs < 0 || period <= 0 {
		return fake.RateLimit{}, fmt.Errorf("--rate-limit %q: want REQUESTS/PERIOD, e.g. 100/10s", v)
	}
	return fake.RateLimit{Requests: reqs, Period: period}, nil
}
