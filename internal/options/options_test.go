package options

import (
	"flag"
	"net/netip"
	"strings"
	"testing"
)

func parse(t *testing.T, args ...string) *Options {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o := BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return o
}

func TestDefaults(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	o := parse(t)
	if o.ClusterResourceNamespace != DefaultNamespace || o.MaxConcurrentReconciles != 4 || o.AllowInsecureHTTP {
		t.Fatalf("unexpected defaults: %+v", o)
	}
	if got := strings.Join(o.TenantHostAllowlist, ","); got != DefaultTenantHostAllowlist {
		t.Fatalf("allowlist default = %q", got)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestPodNamespaceDefault(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "ops")
	if o := parse(t); o.ClusterResourceNamespace != "ops" {
		t.Fatalf("got %q", o.ClusterResourceNamespace)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-concurrent-reconciles=0"}, "at least 1"},
		{[]string{"--tenant-host-allowlist= , "}, "at least one host glob"},
		{[]string{"--tenant-host-allowlist=[a"}, "not a valid glob"},
		{[]string{"--tenant-host-allowlist=acme.example.com:99999"}, `entry "acme.example.com:99999": port "99999" must be a number from 1 to 65535`},
		{[]string{"--tenant-host-allowlist=acme.example.com:"}, "port after : is empty"},
		{[]string{"--tenant-host-allowlist=fd00::1:443"}, "written in brackets"},
		{[]string{"--tenant-host-allowlist=127.1:*"}, "standard form"},
		{[]string{"--cluster-resource-namespace="}, "must not be empty"},
	} {
		err := parse(t, tc.args...).Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	o := parse(t)
	insecure := parse(t, "--allow-insecure-http", "--tenant-host-allowlist=127.0.0.1:*,localhost:8080")
	star := parse(t, "--allow-insecure-http", "--tenant-host-allowlist=*:*")
	glob := parse(t, "--tenant-host-allowlist=*")
	ports := parse(t, "--allow-insecure-http", "--tenant-host-allowlist=acme.example.com:8443,dev.example.com:*,web.example.com:80,plain.example.com")
	for _, tc := range []struct {
		o    *Options
		url  string
		want string // "" means allowed
	}{
		{o, "https://acme.api.identitynow.com", ""},
		{o, "https://acme.api.identitynow.com:443/oauth/token", ""},
		{o, "https://acme.identitynow-demo.com", ""},
		{o, "https://ACME.API.IDENTITYNOW.COM", ""},
		{o, "https://acme.api.identitynow.com:8443", "port 8443 of \"https://acme.api.identitynow.com:8443\" is not in --tenant-host-allowlist"},
		{o, "https://evil.example.com", "not in --tenant-host-allowlist"},
		{o, "https://identitynow.com.evil.example", "not in --tenant-host-allowlist"},
		{o, "https://169.254.169.254/latest", "not in --tenant-host-allowlist"},
		{o, "http://acme.api.identitynow.com", "--allow-insecure-http"},
		{o, "ftp://acme.api.identitynow.com", "must use https://"},
		{o, "acme.api.identitynow.com", "not an absolute URL"},
		{insecure, "http://127.0.0.1:8080", ""},
		{insecure, "http://127.0.0.1", ""},
		{insecure, "http://[::ffff:127.0.0.1]:9", ""},
		{insecure, "http://localhost:8080/oauth/token", ""},
		{insecure, "http://localhost:1234/oauth/token", "port 1234"},
		{insecure, "http://localhost/oauth/token", "port 80"},
		{insecure, "http://10.0.0.1", "not in --tenant-host-allowlist"},
		{insecure, "http://127.0.0.2:8080", "not in --tenant-host-allowlist"},
		// A glob never admits an IP literal, in any notation.
		{glob, "https://evil.example", ""},
		{glob, "https://127.0.0.1", "host globs never match IP addresses"},
		{glob, "https://10.0.0.1", "host globs never match IP addresses"},
		{glob, "https://[fd00::1]", "host globs never match IP addresses"},
		{star, "http://evil.example:1234", ""},
		{star, "https://127.0.0.1", "host globs never match IP addresses"},
		{star, "https://[::1]:443", "host globs never match IP addresses"},
		{star, "https://169.254.169.254", "not in --tenant-host-allowlist"},
		{star, "https://2130706433", "not in --tenant-host-allowlist"},
		{star, "https://0x7f.1", "not in --tenant-host-allowlist"},
		{star, "https://127.1", "not in --tenant-host-allowlist"},
		// Ports: none in the entry is 443 only; an https URL without a port is 443, http is 80.
		{ports, "https://acme.example.com:8443", ""},
		{ports, "https://acme.example.com", "port 443"},
		{ports, "https://dev.example.com:1", ""},
		{ports, "http://dev.example.com", ""},
		{ports, "http://web.example.com", ""},
		{ports, "http://web.example.com:80/x", ""},
		{ports, "https://web.example.com", "port 443"},
		{ports, "https://plain.example.com", ""},
		{ports, "https://plain.example.com:443", ""},
		{ports, "http://plain.example.com", "port 80"},
		{ports, "https://plain.example.com:0", "not a number from 1 to 65535"},
	} {
		err := tc.o.CheckURL(tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want it to contain %q", tc.url, err, tc.want)
		}
	}
}

// HostNotAllowed messages come from CheckURL: they must not show user info, not even redacted.
func TestCheckURLHidesUserinfo(t *testing.T) {
	o := parse(t)
	for _, raw := range []string{
		"https://admin:hunter2@evil.example.com/oauth/token?x=1#f",
		"https://admin:hunter2@acme.api.identitynow.com:8443/",
		"http://admin:hunter2@acme.api.identitynow.com",
		"ftp://admin:hunter2@acme.api.identitynow.com",
		"https://admin:hunter2@127.0.0.1",
		"admin:hunter2@acme.api.identitynow.com",
		"https://admin:hunter2@[::1",
		"//admin:hunter2@",
	} {
		err := o.CheckURL(raw)
		if err == nil {
			t.Errorf("%s: allowed", raw)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "admin") || strings.Contains(msg, "xxxxx") {
			t.Errorf("%s: message shows the user info: %s", raw, msg)
		}
	}
	err := o.CheckURL("https://admin:hunter2@evil.example.com/oauth/token?x=1")
	if want := `"https://evil.example.com/oauth/token"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to show %s", err, want)
	}
}

func TestAddressPolicy(t *testing.T) {
	o := parse(t, "--tenant-host-allowlist=127.0.0.1:*,*.example.com", "--allow-private-networks")
	p := o.AddressPolicy()
	if !p.AllowPrivate || len(p.Hosts) != 2 {
		t.Fatalf("policy = %+v", p)
	}
	if err := p.CheckAddr("x.example.com", netip.MustParseAddr("127.0.0.1"), 1234); err != nil {
		t.Errorf("named 127.0.0.1 refused: %v", err)
	}
	if err := p.CheckAddr("x.example.com", netip.MustParseAddr("169.254.169.254"), 443); err == nil {
		t.Error("link-local allowed")
	}
	if err := p.CheckAddr("x.example.com", netip.MustParseAddr("10.1.2.3"), 443); err != nil {
		t.Errorf("private refused with --allow-private-networks: %v", err)
	}
	if parse(t).AddressPolicy().AllowPrivate {
		t.Error("--allow-private-networks is on by default")
	}
}
