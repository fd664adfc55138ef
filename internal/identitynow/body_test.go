package identitynow

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/sim-operator/sim-operator/internal/identitynow/fake"
)

// serveBody answers every SIM route with status and body.
func serveBody(status int, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// object returns a JSON integration of about size bytes.
func object(id string, size int) []byte {
	return fmt.Appendf(nil, `{"id":%q,"name":"n-%s","description":%q}`, id, id, strings.Repeat("d", max(size-40, 0)))
}

// list returns a JSON array of the objects.
func list(objects ...[]byte) []byte {
	return append(append([]byte("["), bytes.Join(objects, []byte(","))...), ']')
}

func wantBodyError(t *testing.T, err error, kind ErrorKind, text string) {
	t.Helper()
	if KindOf(err) != kind || err == nil || !strings.Contains(err.Error(), text) {
		t.Fatalf("got %v (kind %q); want kind %s with %q", err, KindOf(err), kind, text)
	}
}

func TestSingleObjectCappedAt1MiB(t *testing.T) {
	c := rawClient(t, testSecret, "tok", serveBody(200, object("big", 2<<20)))
	_, err := c.Get(context.Background(), "big")
	wantBodyError(t, err, KindServer, "get: 200 OK: response larger than 1 MiB")

	c = rawClient(t, testSecret, "tok", serveBody(200, object("fits", 1<<20-64)))
	if in, err := c.Get(context.Background(), "fits"); err != nil || in.ID != "fits" {
		t.Fatalf("an object just under 1 MiB: %v", err)
	}
}

func TestErrorBodyCappedAt1MiB(t *testing.T) {
	body := fmt.Appendf(nil, `{"messages":[{"text":%q}]}`, strings.Repeat("x", 2<<20))
	c := rawClient(t, testSecret, "tok", serveBody(400, body))
	_, err := c.Create(context.Background(), Details{Name: "n"})
	wantBodyError(t, err, KindInvalid, "create: 400 Bad Request: error response larger than 1 MiB, its messages are not shown")
}

func TestListOfManySmallObjectsStreams(t *testing.T) {
	const n = 8000 // about 2.4 MiB in all
	objects := make([][]byte, n)
	for i := range objects {
		objects[i] = object(strconv.Itoa(i), 300)
	}
	c := rawClient(t, testSecret, "tok", serveBody(200, list(objects...)))
	got, err := c.List(context.Background())
	if err != nil || len(got) != n || got[n-1].ID != strconv.Itoa(n-1) {
		t.Fatalf("list: %v, %d objects", err, len(got))
	}
}

func TestListElementCappedAt1MiB(t *testing.T) {
	body := list(object("a", 100), object("huge", 3<<19), object("b", 100))
	c := rawClient(t, testSecret, "tok", serveBody(200, body))
	var seen []string
	err := c.ListEach(context.Background(), func(in Integration) { seen = append(seen, in.ID) })
	wantBodyError(t, err, KindServer, "list: 200 OK: list element larger than 1 MiB")
	if len(seen) > 1 {
		t.Fatalf("decoded past the huge element: %v", seen)
	}
}

// TestListWithoutEndCapped: a list that never ends (small elements, each followed by white space)
// stops at the overall cap.
func TestListWithoutEndCapped(t *testing.T) {
	pad := bytes.Repeat([]byte(" "), 512<<10)
	c := rawClient(t, testSecret, "tok", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`[{"id":"0"}`))
		for i := 1; r.Context().Err() == nil; i++ {
			if _, err := fmt.Fprintf(w, `%s,{"id":"%d"}`, pad, i); err != nil {
				return
			}
		}
	})
	n := 0
	err := c.ListEach(context.Background(), func(Integration) { n++ })
	wantBodyError(t, err, KindServer, "list response larger than 32 MiB")
	if n < 60 {
		t.Fatalf("stopped after %d elements", n)
	}
}

// TestListReadFailure: a body cut short is a transport error, not a malformed list.
func TestListReadFailure(t *testing.T) {
	c := rawClient(t, testSecret, "tok", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`[{"id":"a"},{"id":`))
	})
	err := c.ListEach(context.Background(), func(Integration) {})
	wantBodyError(t, err, KindTransport, "list: transport error: reading response: unexpected EOF")
}

func TestListRetriesOnceAfter401(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.fk.Insert(map[string]any{"name": "one"})
	c := e.client(nil)
	if err := c.CheckToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.fk.RevokeTokens()
	got, err := c.List(context.Background())
	if err != nil || len(got) != 1 {
		t.Fatalf("list after revocation: %v %v", err, got)
	}
	gets := e.fk.Requests(fake.SIMOnly(), fake.ByMethod(http.MethodGet))
	if len(gets) != 2 || gets[0].Status != 401 || gets[1].Status != 200 {
		t.Fatalf("want one 401 then one 200, got %d requests", len(gets))
	}
}

// TestLargeResponsesDoNotGrowTheHeap: a 16 MiB response costs the client a few MiB at most,
// whatever its shape; reading it whole (as the client once did) allocates more than twice that.
func TestLargeResponsesDoNotGrowTheHeap(t *testing.T) {
	const size = 16<<20 - 64 // within the 16 MiB the client once read whole
	fours := make([][]byte, 4)
	for i := range fours {
		fours[i] = object(strconv.Itoa(i), size/4)
	}
	tests := []struct {
		name string
		body []byte
		call func(*Client) error
	}{
		{"single object", object("x", size), func(c *Client) error { _, err := c.Get(context.Background(), "x"); return err }},
		{"list of one huge element", list(object("x", size)), func(c *Client) error { _, err := c.List(context.Background()); return err }},
		{"list of four big elements", list(fours...), func(c *Client) error { _, err := c.List(context.Background()); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawClient(t, testSecret, "tok", serveBody(200, tt.body))
			if err := c.CheckToken(context.Background()); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := tt.call(c)
			runtime.ReadMemStats(&after)
			grew := float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20)
			t.Logf("a %.1f MiB response: %.1f MiB allocated", float64(len(tt.body))/(1<<20), grew)
			if grew > 8 {
				t.Errorf("allocated %.1f MiB, want at most 8", grew)
			}
			if KindOf(err) != KindServer || !strings.Contains(err.Error(), "larger than 1 MiB") {
				t.Fatalf("want a size error, got %v", err)
			}
		})
	}
}
