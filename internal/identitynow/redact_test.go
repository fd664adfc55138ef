package identitynow

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// rawClient returns a Client against a test server whose token endpoint issues token and whose
// every other route is sim.
func rawClient(t *testing.T, secret, token string, sim http.HandlerFunc) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "bearer", "expires_in": 3600})
	})
	mux.HandleFunc("/", sim)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, url: srv.URL}
	return e.client(func(c *Config) { c.ClientSecret = secret })
}

// writeErrorBody writes a DTO error body with the given message texts.
func writeErrorBody(w http.ResponseWriter, status int, texts ...any) {
	var msgs []map[string]any
	for _, t := range texts {
		msgs = append(msgs, map[string]any{"locale": "en-US", "text": t})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"detailCode": "400.1 Bad Request Content", "messages": msgs})
}

// tokenLike returns n characters of a base64url alphabet, distinct for each seed.
func tokenLike(n int, seed uint64) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	rng := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func pemKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// assertHidden fails if a secret, or any runLen-byte run of it, is in err's text or messages, as
// sent, white-space collapsed, URL-encoded or JSON-escaped.
func assertHidden(t *testing.T, err error, secrets ...string) {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("want *Error, got %T %v", err, err)
	}
	texts := append([]string{err.Error()}, e.Messages...)
	for _, s := range secrets {
		escaped, _ := json.Marshal(s)
		var plain strings.Builder
		enc := json.NewEncoder(&plain)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		renderings := []string{s, strings.Join(strings.Fields(s), " "), url.QueryEscape(s), url.PathEscape(s),
			string(escaped[1 : len(escaped)-1]), strings.Trim(plain.String(), "\"\n")}
		for _, f := range renderings {
			for _, text := range texts {
				if len(f) < runLen && strings.Contains(text, f) {
					t.Fatalf("short secret %q in %q", f, text)
				}
				for i := 0; i+runLen <= len(f); i++ {
					if strings.Contains(text, f[i:i+runLen]) {
						t.Fatalf("run %q of a secret in %q", f[i:i+runLen], text)
					}
				}
			}
		}
	}
}

const unrelated = "Attribute  uid is required."

// TestRedactionCannotBeDodged: servers that echo secret values in every shape: none of them, nor
// any 8-byte run of them, reaches the error, and a message without secrets is kept as it was.
func TestRedactionCannotBeDodged(t *testing.T) {
	key := pemKey(t)
	longToken := "eyJ" + tokenLike(317, 1)
	secret40 := tokenLike(40, 2)
	const (
		spaced = "correct  horse battery staple"
		quoted = `Zq"7<x>&'y!Pw`
		short  = "Qx7"
		urlish = "p@ss w/rd+Zq7&x=y"
		stored = "Stored-Secret-Value-9kQ"
	)
	create := func(attrs map[string]any) func(*Client) error {
		return func(c *Client) error {
			_, err := c.Create(context.Background(), Details{Name: "n", Attributes: attrs})
			return err
		}
	}
	tests := []struct {
		name    string
		secret  string // the tenant's client secret; testSecret if empty
		token   string // the access token; "tok-0123456789" if empty
		respond func(w http.ResponseWriter, r *http.Request)
		call    func(*Client) error
		hidden  []string
		status  int
	}{
		{"PEM key, multi-line",
			"", "", func(w http.ResponseWriter, _ *http.Request) {
				writeErrorBody(w, 400, "Invalid value for privateKey: "+key, unrelated)
			}, create(map[string]any{"privateKey": key}), []string{key}, 400},
		{"password with two spaces",
			"", "", func(w http.ResponseWriter, _ *http.Request) {
				writeErrorBody(w, 400, "Password '"+spaced+"' is too weak.", unrelated)
			}, create(map[string]any{"password": spaced}), []string{spaced}, 400},
		{"320-character token echoed from the request",
			"", longToken, func(w http.ResponseWriter, r *http.Request) {
				writeErrorBody(w, 400, "Header "+r.Header.Get("Authorization")+" not accepted here.", unrelated)
			}, create(nil), []string{longToken}, 400},
		{"quotes and angle brackets in a JSON-valued message",
			"", "", func(w http.ResponseWriter, _ *http.Request) {
				writeErrorBody(w, 400, map[string]any{"rejected": map[string]any{"password": quoted}}, unrelated)
			}, create(map[string]any{"password": quoted}), []string{quoted}, 400},
		{"quotes and angle brackets as text",
			"", "", func(w http.ResponseWriter, _ *http.Request) {
				writeErrorBody(w, 400, "bad password "+quoted, unrelated)
			}, create(map[string]any{"password": quoted}), []string{quoted}, 400},
		{"3-character value",
			"", "", func(w http.ResponseWriter, _ *http.Request) {
				writeErrorBody(w, 400, "PIN "+short+" rejected.", unrelated)
			}, func(c *Client) error {
				// As the reconciler does: a secret attribute value is sent and declared.
				ctx := WithSensitive(context.Background(), short)
				_, err := c.Create(ctx, Details{Name: "n", Attributes: map[string]any{"pin": short}})
				return err
			}, []string{short}, 400},
		{"URL-encoded value",
			"", "", func(w http.ResponseWriter, _ *http.Request) {
				writeErrorBody(w, 400, "Callback ?pw="+url.QueryEscape(urlish)+" and /"+url.PathEscape(urlish)+" failed.", unrelated)
			}, create(map[string]any{"password": urlish}), []string{urlish}, 400},
		{"10-character slice of a 40-character secret",
			"", "", func(w http.ResponseWriter, _ *http.Request) {
				writeErrorBody(w, 400, "Value ending in "+secret40[25:35]+" is invalid.", unrelated)
			}, create(map[string]any{"apiKey": secret40}), []string{secret40}, 400},
		{"5xx echoes part of the client secret",
			secret40, "", func(w http.ResponseWriter, _ *http.Request) {
				writeErrorBody(w, 500, "upstream refused client secret "+secret40[3:30], unrelated)
			}, create(nil), []string{secret40}, 500},
		{"PATCH error echoes the stored object with a declared secret",
			"", "", func(w http.ResponseWriter, _ *http.Request) {
				obj, _ := json.Marshal(map[string]any{"name": "n", "attributes": map[string]any{"password": stored, "uid": "svc"}})
				writeErrorBody(w, 400, "Patch cannot be applied to "+string(obj), unrelated)
			}, func(c *Client) error {
				ctx := WithSensitive(context.Background(), stored)
				_, err := c.Patch(ctx, "abc", []Operation{{Operation: "replace", Path: "/description", Value: "d"}})
				return err
			}, []string{stored}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, token := tt.secret, tt.token
			if secret == "" {
				secret = testSecret
			}
			if token == "" {
				token = "tok-0123456789"
			}
			c := rawClient(t, secret, token, tt.respond)
			err := tt.call(c)
			if err == nil {
				t.Fatal("want an error")
			}
			assertHidden(t, err, append(tt.hidden, secret, token)...)
			e, _ := errors.AsType[*Error](err)
			if e.StatusCode != tt.status || len(e.Messages) != 2 || e.Messages[1] != "Attribute uid is required." {
				t.Fatalf("status %d, messages %q: want %d and the unrelated message kept", e.StatusCode, e.Messages, tt.status)
			}
			if !strings.Contains(err.Error(), "Attribute uid is required.") {
				t.Fatalf("Error() lost the unrelated message: %s", err)
			}
		})
	}
}

// TestRedactionOfTransportAndTokenTexts: texts that do not come from an error body (a transport
// error quoting a malformed response, the token endpoint's error code) are cleaned the same way.
func TestRedactionOfTransportAndTokenTexts(t *testing.T) {
	secret := tokenLike(40, 3)
	token := "tok-" + tokenLike(60, 4)
	t.Run("malformed status line echoes the token", func(t *testing.T) {
		c := rawClient(t, secret, token, func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer func() { _ = conn.Close() }()
			tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			_, _ = buf.WriteString("HTTP/1.1 " + tok + " OK\r\n\r\n")
			_ = buf.Flush()
		})
		_, err := c.Get(context.Background(), "abc")
		if KindOf(err) != KindTransport {
			t.Fatalf("want a transport error, got %v", err)
		}
		assertHidden(t, err, token, secret)
	})
	t.Run("token endpoint echoes part of the secret", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"invalid_client: no client with secret ` + secret[4:20] + `"}`))
		})
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		c := (&env{t: t, url: srv.URL}).client(func(c *Config) { c.ClientSecret = secret })
		err := c.CheckToken(context.Background())
		if KindOf(err) != KindUnauthorized {
			t.Fatalf("want a refusal, got %v", err)
		}
		assertHidden(t, err, secret)
	})
}

func TestRedactorClean(t *testing.T) {
	r := newRedactor([]string{"Zq7-long-secret", "", "ab"}, []string{"svc", "user1", "Carried-Value-1"})
	tests := []struct{ in, want string }{
		{"plain  text\n", "plain text"},
		{"got Zq7-long-secret", "got [redacted]"},
		{"got Zq7-long-secreT", withheldText}, // a run of 8 is left
		{"short ab here", withheldText},
		{withheldText, withheldText},
		{"", ""},
		{"svc and user1", "svc and [redacted]"},   // carried: short ones only cut, from 4 bytes
		{"Carried-Value-2 differs", withheldText}, // carried long values: runs count too
		{"Carried-Value-1 differs", "[redacted] differs"},
	}
	for _, tt := range tests {
		if got := r.clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// A long value costs one pass, not one pass per window.
	big := newRedactor([]string{strings.Repeat("x", 1<<20) + "y"}, nil)
	if got := big.clean("nothing here"); got != "nothing here" {
		t.Fatalf("got %q", got)
	}
}

func TestWithSensitiveAccumulates(t *testing.T) {
	ctx := WithSensitive(WithSensitive(context.Background(), "a"), "b", "c")
	if got := strings.Join(sensitiveFrom(ctx), ","); got != "a,b,c" {
		t.Fatalf("got %q", got)
	}
	if got := sensitiveFrom(context.Background()); got != nil {
		t.Fatalf("got %q", got)
	}
}
