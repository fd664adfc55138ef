package identitynow

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func rules(t *testing.T, entries ...string) []HostRule {
	t.Helper()
	var out []HostRule
	for _, e := range entries {
		r, err := ParseHostRule(e)
		if err != nil {
			t.Fatalf("ParseHostRule(%q): %v", e, err)
		}
		out = append(out, r)
	}
	return out
}

func TestParseHostRuleErrors(t *testing.T) {
	for entry, want := range map[string]string{
		"":                   "host is empty",
		":443":               "host is empty",
		"acme.example:":      "port after : is empty",
		"acme.example:0":     "from 1 to 65535",
		"acme.example:x":     "from 1 to 65535",
		"acme.example:1e3":   "from 1 to 65535",
		"acme.example:65536": "from 1 to 65535",
		"[a":                 "not a valid glob",
		"[fd00::1":           "written in brackets",
		"[fd00::1]:":         "port after : is empty",
		"[fd00::1]x":         "unexpected",
		"fd00::1:*":          "written in brackets",
		"fd00::1":            "written in brackets",
		"127.1":              "standard form",
		"2130706433:*":       "standard form",
		"0x7f.1":             "standard form",
		"10.0.0.01":          "standard form",
	} {
		if _, err := ParseHostRule(entry); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseHostRule(%q) = %v, want an error containing %q", entry, err, want)
		}
	}
}

func TestAllowsHost(t *testing.T) {
	p := &AddressPolicy{Hosts: rules(t, "*.identitynow.com", "acme.example.com:8443", "dev.example.com:*",
		"*", "127.0.0.1:*", "[fd00::1]:443", "[::1]")}
	for _, tc := range []struct {
		host string
		port uint16
		want bool
	}{
		{"acme.api.identitynow.com", 443, true},
		{"acme.api.identitynow.com", 8443, false}, // no port in the entry: 443 only
		{"acme.api.identitynow.com", 80, false},
		{"acme.example.com", 8443, true},
		{"acme.example.com", 443, true}, // admitted by "*" on 443
		{"acme.example.com", 9000, false},
		{"dev.example.com", 1, true},
		{"evil.example", 443, true}, // "*" admits names on 443
		{"evil.example", 80, false},
		{"127.0.0.1", 443, true},
		{"127.0.0.1", 31337, true},
		{"::ffff:127.0.0.1", 8080, true},
		{"127.0.0.2", 443, false}, // "*" does not admit IP literals
		{"10.1.2.3", 443, false},
		{"169.254.169.254", 443, false},
		{"fd00::1", 443, true},
		{"fd00::1", 80, false},
		{"::1", 443, true},
		{"::2", 443, false},
		{"2130706433", 443, false}, // 127.0.0.1 in another notation: never a name
		{"127.1", 443, false},
		{"0x7f000001", 443, false},
	} {
		if got := p.AllowsHost(tc.host, tc.port); got != tc.want {
			t.Errorf("AllowsHost(%s, %d) = %v, want %v", tc.host, tc.port, got, tc.want)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	strict := &AddressPolicy{Hosts: rules(t, "*.identitynow.com")}
	private := &AddressPolicy{Hosts: strict.Hosts, AllowPrivate: true}
	named := &AddressPolicy{Hosts: rules(t, "127.0.0.1:8080", "[fe80::1]:*", "10.1.2.3")}
	for _, tc := range []struct {
		p    *AddressPolicy
		addr string
		port uint16
		want AddressClass // "" means allowed
	}{
		{strict, "127.0.0.1", 443, ClassLoopback},
		{strict, "127.8.9.10", 443, ClassLoopback},
		{strict, "::1", 443, ClassLoopback},
		{strict, "::ffff:127.0.0.1", 443, ClassLoopback},
		{strict, "169.254.169.254", 443, ClassLinkLocal},
		{strict, "::ffff:169.254.169.254", 443, ClassLinkLocal},
		{strict, "fe80::1", 443, ClassLinkLocal},
		{strict, "fe80::1%eth0", 443, ClassLinkLocal},
		{strict, "0.0.0.0", 443, ClassUnspecified},
		{strict, "0.1.2.3", 443, ClassUnspecified},
		{strict, "::", 443, ClassUnspecified},
		{strict, "224.0.0.1", 443, ClassMulticast},
		{strict, "239.255.255.250", 443, ClassMulticast},
		{strict, "ff02::1", 443, ClassMulticast},
		{strict, "255.255.255.255", 443, ClassBroadcast},
		{strict, "10.1.2.3", 443, ClassPrivate},
		{strict, "172.16.0.1", 443, ClassPrivate},
		{strict, "172.31.255.255", 443, ClassPrivate},
		{strict, "192.168.1.1", 443, ClassPrivate},
		{strict, "::ffff:192.168.1.1", 443, ClassPrivate},
		{strict, "fd00::1", 443, ClassPrivate},
		{strict, "fc00::1", 443, ClassPrivate},
		{strict, "100.64.0.1", 443, ClassPrivate},
		{strict, "100.100.100.200", 443, ClassPrivate},
		{strict, "172.32.0.1", 443, ""},
		{strict, "100.128.0.1", 443, ""},
		{strict, "8.8.8.8", 443, ""},
		{strict, "2001:4860:4860::8888", 443, ""},
		{strict, "::ffff:8.8.8.8", 443, ""},
		// --allow-private-networks admits private ranges only.
		{private, "10.1.2.3", 443, ""},
		{private, "172.16.0.1", 443, ""},
		{private, "192.168.1.1", 443, ""},
		{private, "fd00::1", 443, ""},
		{private, "100.64.0.1", 443, ""},
		{private, "127.0.0.1", 443, ClassLoopback},
		{private, "::1", 443, ClassLoopback},
		{private, "169.254.169.254", 443, ClassLinkLocal},
		{private, "0.0.0.0", 443, ClassUnspecified},
		{private, "224.0.0.1", 443, ClassMulticast},
		// An entry naming the IP literally admits it, on the entry's ports only.
		{named, "127.0.0.1", 8080, ""},
		{named, "::ffff:127.0.0.1", 8080, ""},
		{named, "127.0.0.1", 8081, ClassLoopback},
		{named, "127.0.0.2", 8080, ClassLoopback},
		{named, "fe80::1", 1234, ""},
		{named, "fe80::1%eth0", 1234, ""},
		{named, "10.1.2.3", 443, ""},
		{named, "10.1.2.3", 8443, ClassPrivate},
		{named, "10.1.2.4", 443, ClassPrivate},
	} {
		err := tc.p.CheckAddr("tenant.example", netip.MustParseAddr(tc.addr), tc.port)
		var ae *AddressError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s:%d: unexpected %v", tc.addr, tc.port, err)
		case tc.want != "" && (!errors.As(err, &ae) || ae.Class != tc.want):
			t.Errorf("%s:%d: err = %v, want class %s", tc.addr, tc.port, err, tc.want)
		}
	}
}

func TestAddressErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *AddressError
		want string
	}{
		{&AddressError{Host: "acme.example", Port: 443, Addr: netip.MustParseAddr("10.0.0.1"), Class: ClassPrivate},
			"refused to connect to acme.example:443: it resolved to 10.0.0.1, a private address"},
		{&AddressError{Host: "169.254.169.254", Port: 80, Addr: netip.MustParseAddr("169.254.169.254"), Class: ClassLinkLocal},
			"refused to connect to 169.254.169.254:80: link-local address"},
		{&AddressError{Host: "fd00::1", Port: 443, Class: ClassNotAllowed},
			"refused to connect to [fd00::1]:443: not in the host allowlist"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// tokenServer answers token and list requests, counting the connections it accepts and the requests.
type tokenServer struct {
	*httptest.Server
	conns, requests atomic.Int32
}

func newTokenServer(t *testing.T) *tokenServer {
	t.Helper()
	s := &tokenServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/oauth/token" {
			_, _ = w.Write([]byte(`{"access_token":"tok","token_type":"bearer","expires_in":3600}`))
			return
		}
		_, _ = w.Write([]byte(`[]`))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func guardedClient(t *testing.T, baseURL string, entries ...string) *Client {
	t.Helper()
	c, err := New(Config{
		BaseURL: baseURL, ClientID: testClientID, ClientSecret: testSecret, AllowInsecureHTTP: true,
		Timeout: 5 * time.Second, Budget: NewBudget(0, 0, nil),
		DialGuard: &AddressPolicy{Hosts: rules(t, entries...)},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// An allowlisted name that resolves to loopback is refused at dial time: the server never sees a
// connection, so the client secret is never sent.
func TestDialGuardRefusesAllowlistedNameResolvingToLoopback(t *testing.T) {
	s := newTokenServer(t)
	port := s.Listener.Addr().(*net.TCPAddr).Port
	u, _ := url.Parse(s.URL)
	u.Host = net.JoinHostPort("localhost", u.Port())
	c := guardedClient(t, u.String(), "localhost:*")
	err := c.CheckToken(context.Background())
	var ae *AddressError
	if !errors.As(err, &ae) {
		t.Fatalf("CheckToken = %v, want an *AddressError", err)
	}
	if ae.Class != ClassLoopback || ae.Host != "localhost" || int(ae.Port) != port {
		t.Errorf("AddressError = %+v, want loopback for localhost:%d", ae, port)
	}
	if KindOf(err) != KindTransport {
		t.Errorf("kind = %q, want %q", KindOf(err), KindTransport)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error text holds the secret: %v", err)
	}
	if n := s.conns.Load(); n != 0 {
		t.Errorf("the server accepted %d connections, want none", n)
	}
}

func TestDialGuardAdmitsLiterallyNamedAddress(t *testing.T) {
	s := newTokenServer(t)
	port := s.Listener.Addr().(*net.TCPAddr).Port
	u, _ := url.Parse(s.URL)
	u.Host = net.JoinHostPort("localhost", u.Port())
	for _, base := range []string{s.URL, u.String()} {
		c := guardedClient(t, base, "localhost:*", "127.0.0.1:"+u.Port())
		if _, err := c.List(context.Background()); err != nil {
			t.Fatalf("%s: List: %v", base, err)
		}
	}
	if s.requests.Load() == 0 {
		t.Fatal("the server saw no request")
	}
	// The entry names the address on another port only: the name's port is admitted, the address not.
	c := guardedClient(t, u.String(), "localhost:*", "127.0.0.1:1")
	var ae *AddressError
	if err := c.CheckToken(context.Background()); !errors.As(err, &ae) || ae.Class != ClassLoopback {
		t.Errorf("port %d outside the entry: err = %v, want a loopback *AddressError", port, err)
	}
}

func TestDialGuardRefusesHostOutsideRules(t *testing.T) {
	s := newTokenServer(t)
	c := guardedClient(t, s.URL, "*.identitynow.com")
	err := c.CheckToken(context.Background())
	var ae *AddressError
	if !errors.As(err, &ae) || ae.Class != ClassNotAllowed {
		t.Fatalf("CheckToken = %v, want a not-allowlisted *AddressError", err)
	}
	if n := s.conns.Load(); n != 0 {
		t.Errorf("the server accepted %d connections, want none", n)
	}
}

func TestDialGuardDisablesEnvironmentProxy(t *testing.T) {
	tr, err := newTransport(nil, &AddressPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Proxy != nil {
		t.Error("a guarded transport uses a proxy, which would resolve names past the guard")
	}
	if tr, _ := newTransport(nil, nil); tr.Proxy == nil {
		t.Error("an unguarded transport lost the environment proxy")
	}
}
