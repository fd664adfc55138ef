package options

import (
	"flag"
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
	insecure := parse(t, "--allow-insecure-http", "--tenant-host-allowlist=127.0.0.1,localhost")
	for _, tc := range []struct {
		o    *Options
		url  string
		want string // "" means allowed
	}{
		{o, "https://acme.api.identitynow.com", ""},
		{o, "https://acme.api.identitynow.com:443/oauth/token", ""},
		{o, "https://acme.identitynow-demo.com", ""},
		{o, "https://ACME.API.IDENTITYNOW.COM", ""},
		{o, "https://evil.example.com", "not in --tenant-host-allowlist"},
		{o, "https://identitynow.com.evil.example", "not in --tenant-host-allowlist"},
		{o, "https://169.254.169.254/latest", "not in --tenant-host-allowlist"},
		{o, "http://acme.api.identitynow.com", "--allow-insecure-http"},
		{o, "ftp://acme.api.identitynow.com", "must use https://"},
		{o, "acme.api.identitynow.com", "not an absolute URL"},
		{insecure, "http://127.0.0.1:8080", ""},
		{insecure, "http://localhost:1234/oauth/token", ""},
		{insecure, "http://10.0.0.1", "not in --tenant-host-allowlist"},
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
