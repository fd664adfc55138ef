package controller

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	simv1alpha1 "github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/identitynow"
	"github.com/sim-operator/sim-operator/internal/options"
)

// A dial the address check refuses (here an allowlisted name resolving to loopback) stalls the object
// with HostNotAllowed, a message naming the host and the address class, and no retry storm.
func TestClassifyRefusedAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the server got a request")
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	opts := &options.Options{TenantHostAllowlist: []string{"localhost:*"}, AllowInsecureHTTP: true}
	base := "http://" + net.JoinHostPort("localhost", u.Port())
	if err := opts.CheckURL(base); err != nil {
		t.Fatalf("CheckURL(%s): %v", base, err)
	}
	c, err := identitynow.New(identitynow.Config{
		BaseURL: base, ClientID: "id", ClientSecret: "s3cret-value", AllowInsecureHTTP: true,
		Timeout: 5 * time.Second, Budget: identitynow.NewBudget(0, 0, nil), DialGuard: opts.AddressPolicy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v := classify(c.CheckToken(context.Background()))
	if v.outcome.kind != outcomeStalled || v.outcome.reason != simv1alpha1.ReasonHostNotAllowed ||
		v.requeueAfter != stalledRetryInterval || v.err != nil {
		t.Fatalf("verdict = %+v, want Stalled HostNotAllowed without back-off", v)
	}
	for _, want := range []string{"localhost:" + u.Port(), "loopback", "--tenant-host-allowlist names the IP"} {
		if !strings.Contains(v.outcome.message, want) {
			t.Errorf("message %q does not contain %q", v.outcome.message, want)
		}
	}
	if strings.Contains(v.outcome.message, "s3cret") {
		t.Errorf("message holds the secret: %q", v.outcome.message)
	}
}

func TestAddressRefusalMessages(t *testing.T) {
	for _, tc := range []struct {
		class identitynow.AddressClass
		want  string
	}{
		{identitynow.ClassPrivate, "--allow-private-networks"},
		{identitynow.ClassLinkLocal, "link-local addresses are refused unless --tenant-host-allowlist names the IP, e.g. 10.0.0.1:443"},
		{identitynow.ClassNotAllowed, "not in the host allowlist (--tenant-host-allowlist)"},
	} {
		e := &identitynow.AddressError{Host: "acme.example", Port: 443, Class: tc.class}
		if tc.class != identitynow.ClassNotAllowed {
			e.Addr = netip.MustParseAddr("10.0.0.1")
		}
		if got := addressRefusal(e); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q does not contain %q", tc.class, got, tc.want)
		}
	}
}
