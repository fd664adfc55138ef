package main

import (
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

func TestParseFlags(t *testing.T) {
	opts, listen, _, err := parseFlags([]string{
		"--listen", "127.0.0.1:9999", "--client", "a:s1", "--client", "b:s:2",
		"--shape", "echo", "--token-ttl", "30s", "--rate-limit", "5/2s",
		"--masked-attributes", "password,secret", "--patch-forms", "array", "--rate-escalation", "per-request",
	})
	if err != nil {
		t.Fatal(err)
	}
	if listen != "127.0.0.1:9999" || opts.Clients["a"] != "s1" || opts.Clients["b"] != "s:2" ||
		opts.Shape != fake.ShapeEcho || opts.TokenTTL != 30*time.Second ||
		opts.RateLimit.Requests != 5 || opts.RateLimit.Period != 2*time.Second ||
		len(opts.MaskedAttributes) != 2 || opts.PatchForms != fake.PatchFormsArray ||
		opts.RateLimit.Escalation != fake.EscalationPerRequest {
		t.Fatalf("parsed %+v %s", opts, listen)
	}
	defaults, listen, _, err := parseFlags(nil)
	if err != nil || listen != "127.0.0.1:0" || defaults.Shape != fake.ShapeDTO ||
		defaults.RateLimit.Requests != 100 || defaults.RateLimit.Period != 10*time.Second ||
		defaults.RateLimit.Escalation != fake.EscalationDocumented {
		t.Fatalf("defaults %+v %v", defaults, err)
	}
	for _, bad := range [][]string{
		{"--client", "nosecret"}, {"--shape", "xml"}, {"--rate-limit", "fast"},
		{"--rate-limit", "5/0s"}, {"--patch-forms", "merge"}, {"--rate-escalation", "always"},
		{"--source", "no-id"}, {"--source", "=id"}, {"--managed-cluster", "VA="},
	} {
		if _, _, _, err := parseFlags(bad); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
	if rl, err := parseRate("0"); err != nil || rl.Requests != 0 {
		t.Fatalf("0 disables: %v %v", rl, err)
	}
}

func TestSeedReferences(t *testing.T) {
	_, _, refs, err := parseFlags([]string{"--source", "Active Directory=ad-1", "--source", "A=B=b-1",
		"--managed-cluster", "Production VA=va-1"})
	if err != nil {
		t.Fatal(err)
	}
	s := fake.NewServer(fake.Options{})
	refs.seed(s)
	src, cl := s.Sources(), s.ManagedClusters()
	if len(src) != 2 || src[0].Name != "Active Directory" || src[0].ID != "ad-1" || src[1].Name != "A=B" || src[1].ID != "b-1" {
		t.Errorf("sources %+v", src)
	}
	if len(cl) != 1 || cl[0].Name != "Production VA" || cl[0].ID != "va-1" {
		t.Errorf("clusters %+v", cl)
	}
}
