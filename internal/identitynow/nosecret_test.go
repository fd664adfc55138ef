package identitynow

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

const (
	distinctSecret = "Zq7-CLIENT-SECRET-8xW"
	wrongSecret    = "Zq7-WRONG-SECRET-8xW"
	distinctValue  = "Zq7-ATTRIBUTE-VALUE-8xW"
)

// TestNoSecretsInErrorsLogsOrMetrics drives every error path with a
// distinctive secret, token and attribute value, and checks that none of them
// appears in any error text, log line (at maximum verbosity) or metric.
func TestNoSecretsInErrorsLogsOrMetrics(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, prefix+" "+args)
	}, funcr.Options{Verbosity: 10})
	reg := prometheus.NewRegistry()
	if err := RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := RegisterMetrics(reg); err != nil {
		t.Fatalf("second registration: %v", err)
	}

	details := Details{Name: "n", Attributes: map[string]any{"password": distinctValue, "uid": "u"}, Cluster: new(distinctValue)}
	ops := []Operation{{Operation: "replace", Path: "/attributes/password", Value: distinctValue}}
	sim := fake.Match{PathContains: "sim-integrations"}
	var texts, tokens []string
	scenarios := []struct {
		name  string
		setup func(*env)
		cfg   func(*Config)
		run   func(*Client, string) error
	}{
		{"duplicate", func(e *env) { e.fk.Insert(map[string]any{"name": "n"}) }, nil,
			func(c *Client, _ string) error { _, err := c.Create(context.Background(), details); return err }},
		{"rejected value", func(e *env) {
			e.fk.RejectField("/attributes/password", distinctValue, "Invalid password "+distinctValue+".")
		}, nil,
			func(c *Client, _ string) error { _, err := c.Create(context.Background(), details); return err }},
		{"patch refused", func(e *env) { e.fk.SetPatchForms(fake.PatchFormsArray) }, nil,
			func(c *Client, id string) error { _, err := c.Patch(context.Background(), id, ops); return err }},
		{"patch test fails", nil, nil,
			func(c *Client, id string) error {
				_, err := c.Patch(context.Background(), id, []Operation{{Operation: "test", Path: "/attributes/password", Value: distinctValue}})
				return err
			}},
		{"rule patch on wrong path", nil, nil,
			func(c *Client, id string) error {
				_, err := c.PatchBeforeProvisioningRule(context.Background(), id, ops)
				return err
			}},
		{"echoed patch value", func(e *env) { e.fk.RejectField("/description", distinctValue, "bad: "+distinctValue) }, nil,
			func(c *Client, id string) error {
				_, err := c.Patch(context.Background(), id, []Operation{{Operation: "add", Path: "/description", Value: distinctValue}})
				return err
			}},
		{"401 twice", func(e *env) { e.fk.FailNext(2, sim, 401, 0) }, nil,
			func(c *Client, id string) error { _, err := c.Put(context.Background(), id, details); return err }},
		{"credentials refused", nil, func(c *Config) { c.ClientSecret = wrongSecret },
			func(c *Client, _ string) error { _, err := c.Create(context.Background(), details); return err }},
		{"403", func(e *env) { e.fk.FailNext(1, sim, 403, 0) }, nil,
			func(c *Client, id string) error { _, err := c.Put(context.Background(), id, details); return err }},
		{"404", nil, nil,
			func(c *Client, _ string) error {
				_, err := c.Put(context.Background(), "ffffffffffffffffffffffffffffffff", details)
				return err
			}},
		{"429", func(e *env) { e.fk.FailNext(1, sim, 429, time.Second) }, nil,
			func(c *Client, _ string) error { _, err := c.Create(context.Background(), details); return err }},
		{"500", func(e *env) { e.fk.FailNext(1, sim, 500, 0) }, nil,
			func(c *Client, id string) error { _, err := c.Patch(context.Background(), id, ops); return err }},
		{"reset", func(e *env) { e.fk.FailNext(1, sim, fake.StatusReset, 0) }, nil,
			func(c *Client, _ string) error { _, err := c.Create(context.Background(), details); return err }},
		{"timeout", func(e *env) { e.fk.SetLatency(time.Second) }, func(c *Config) { c.Timeout = 50 * time.Millisecond },
			func(c *Client, _ string) error { _, err := c.Create(context.Background(), details); return err }},
		{"token endpoint down", func(e *env) { e.fk.FailNext(1, fake.Match{PathContains: "oauth"}, 500, 0) }, nil,
			func(c *Client, _ string) error { return c.CheckToken(context.Background()) }},
		{"closed", func(e *env) { e.fk.Close() }, nil,
			func(c *Client, _ string) error { _, err := c.Create(context.Background(), details); return err }},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, fake.Options{Clients: map[string]string{testClientID: distinctSecret}, MaskedAttributes: []string{"password"}})
			id := e.fk.Insert(map[string]any{"name": "existing", "attributes": map[string]any{"password": "other"}})
			good := e.client(func(c *Config) { c.ClientSecret, c.Logger = distinctSecret, logger })
			if _, err := good.Get(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, good.tokens.tok)
			c := good
			if sc.cfg != nil || sc.setup != nil {
				c = e.client(func(c *Config) {
					c.ClientSecret, c.Logger = distinctSecret, logger
					if sc.cfg != nil {
						sc.cfg(c)
					}
				})
			}
			if sc.setup != nil {
				sc.setup(e)
			}
			err := sc.run(c, id)
			if err == nil {
				t.Fatal("want an error")
			}
			texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			if c.tokens.tok != "" {
				tokens = append(tokens, c.tokens.tok)
			}
		})
	}
	if len(logs) == 0 {
		t.Fatal("no log lines captured")
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var metrics []string
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				metrics = append(metrics, mf.GetName()+" "+l.GetName()+"="+l.GetValue())
			}
		}
	}
	forbidden := append([]string{distinctSecret, wrongSecret, distinctValue, testClientID}, tokens...)
	for _, group := range []struct {
		name  string
		lines []string
	}{{"error", texts}, {"log", logs}, {"metric", metrics}} {
		for _, line := range group.lines {
			for _, f := range forbidden {
				if f != "" && strings.Contains(line, f) {
					t.Errorf("%s contains a secret: %s", group.name, line)
				}
			}
			if strings.Contains(line, "127.0.0.1") && group.name != "error" {
				t.Errorf("%s contains a URL: %s", group.name, line)
			}
		}
	}
	if !strings.Contains(strings.Join(logs, "\n"), `"path"="/v2024/sim-integrations/{id}"`) {
		t.Fatalf("log lines lack the path template:\n%s", strings.Join(logs[:min(3, len(logs))], "\n"))
	}
}
