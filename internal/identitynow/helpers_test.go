package identitynow

import (
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

const (
	testClientID = "client-a"
	testSecret   = "secret-a"
)

// newClock is a settable clock at a fixed start time.
func newClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
}

// env is a started fake server plus a way to build clients against it.
type env struct {
	t   *testing.T
	fk  *fake.Server
	url string
}

func newEnv(t *testing.T, opts fake.Options) *env {
	t.Helper()
	if opts.Clients == nil {
		opts.Clients = map[string]string{testClientID: testSecret}
	}
	fk := fake.NewServer(opts)
	u := fk.Start()
	t.Cleanup(fk.Close)
	return &env{t: t, fk: fk, url: u}
}

// client returns a client with a private unlimited budget, adjusted by mod.
func (e *env) client(mod func(*Config)) *Client {
	e.t.Helper()
	cfg := Config{
		BaseURL: e.url, ClientID: testClientID, ClientSecret: testSecret,
		AllowInsecureHTTP: true, Timeout: 5 * time.Second,
		Budget: NewBudget(0, 0, nil),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// mustError returns err as an *Error, failing the test when it is not one.
func mustError(t *testing.T, err error) *Error {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("want an *Error, got %T: %v", err, err)
	}
	return e
}
