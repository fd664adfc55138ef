package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Fake is a running cmd/fake-identitynow process and a client for its admin API (/_admin/).
type Fake struct {
	*Process
	// URL is where it listens, e.g. http://127.0.0.1:40123: the tenants' baseURL.
	URL string

	http *http.Client
}

var listeningRE = regexp.MustCompile(`(?m)^listening on (http://\S+)$`)

// StartFake starts the fake on a free port of 127.0.0.1, seeded with the sources and managed clusters
// config/samples name (SampleReferenceArgs), appending its output to logPath, and waits for the
// "listening on http://HOST:PORT" line it prints first.
func StartFake(ctx context.Context, bin, logPath string, args ...string) (*Fake, error) {
	var offset int64
	if fi, err := os.Stat(logPath); err == nil {
		offset = fi.Size()
	}
	p, err := StartProcess("fake-identitynow", logPath, os.Environ(), bin,
		slices.Concat([]string{"--listen", "127.0.0.1:0"}, SampleReferenceArgs(), args)...)
	if err != nil {
		return nil, err
	}
	deadline := time.After(30 * time.Second)
	for {
		if b, err := os.ReadFile(logPath); err == nil && int64(len(b)) >= offset {
			if m := listeningRE.FindSubmatch(b[offset:]); m != nil {
				return &Fake{Process: p, URL: string(m[1]), http: &http.Client{Timeout: 10 * time.Second}}, nil
			}
		}
		select {
		case <-p.Done():
			_, err := p.Exited()
			return nil, fmt.Errorf("fake-identitynow exited at start: %w\n%s", err, TailFile(logPath, 20))
		case <-ctx.Done():
			_ = p.Kill()
			return nil, ctx.Err()
		case <-deadline:
			_ = p.Kill()
			return nil, fmt.Errorf("fake-identitynow printed no \"listening on\" line\n%s", TailFile(logPath, 20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RemoteObject is one stored integration as GET /_admin/objects returns it.
type RemoteObject struct {
	ID       string         `json:"id"`
	Doc      map[string]any `json:"doc"`
	Created  time.Time      `json:"created"`
	Modified time.Time      `json:"modified"`
}

// Name is the remote name.
func (o RemoteObject) Name() string { s, _ := o.Doc["name"].(string); return s }

// Description is the remote description.
func (o RemoteObject) Description() string { s, _ := o.Doc["description"].(string); return s }

// Request is one request the fake received (GET /_admin/requests). The fake redacts the
// Authorization header, a client_secret query parameter and token request bodies.
type Request struct {
	Seq      int64       `json:"seq"`
	Time     time.Time   `json:"time"`
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	Query    string      `json:"query,omitempty"`
	Status   int         `json:"status"`
	Header   http.Header `json:"header"`
	Body     string      `json:"body,omitempty"`
	ClientID string      `json:"clientID,omitempty"`
	Release  string      `json:"release,omitempty"`
	// API is sim-integrations, sources or managed-clusters ("" for the token endpoint).
	API string `json:"api,omitempty"`
}

// Objects returns every remote object, oldest first.
func (f *Fake) Objects(ctx context.Context) ([]RemoteObject, error) {
	var out []RemoteObject
	return out, f.admin(ctx, http.MethodGet, "/_admin/objects", nil, &out)
}

// ObjectsNamed returns the remote objects with the given name.
func (f *Fake) ObjectsNamed(ctx context.Context, name string) ([]RemoteObject, error) {
	all, err := f.Objects(ctx)
	var out []RemoteObject
	for _, o := range all {
		if o.Name() == name {
			out = append(out, o)
		}
	}
	return out, err
}

// Object returns one remote object; ok is false when it does not exist.
func (f *Fake) Object(ctx context.Context, id string) (o RemoteObject, ok bool, err error) {
	err = f.admin(ctx, http.MethodGet, "/_admin/objects/"+url.PathEscape(id), nil, &o)
	if he, isHTTP := errors.AsType[*httpError](err); isHTTP && he.status == http.StatusNotFound {
		return o, false, nil
	}
	return o, err == nil, err
}

// EditObject changes a remote object out of band, as someone in the IdentityNow UI would, with a
// JSON merge patch of its document.
func (f *Fake) EditObject(ctx context.Context, id string, mergePatch map[string]any) error {
	return f.admin(ctx, http.MethodPatch, "/_admin/objects/"+url.PathEscape(id), mergePatch, nil)
}

// Requests returns the logged requests with method (any if "") whose path contains pathPart (any if "").
func (f *Fake) Requests(ctx context.Context, method, pathPart string) ([]Request, error) {
	var all []Request
	if err := f.admin(ctx, http.MethodGet, "/_admin/requests", nil, &all); err != nil {
		return nil, err
	}
	out := all[:0]
	for _, r := range all {
		if (method == "" || strings.EqualFold(r.Method, method)) && strings.Contains(r.Path, pathPart) {
			out = append(out, r)
		}
	}
	return out, nil
}

// RawRequests returns the request log exactly as the admin API serves it.
func (f *Fake) RawRequests(ctx context.Context) ([]byte, error) {
	var raw json.RawMessage
	err := f.admin(ctx, http.MethodGet, "/_admin/requests", nil, &raw)
	return raw, err
}

// SetReferences replaces the fake's sources and managed clusters with these (name → id), as another
// tenant would name the same objects with ids of its own.
func (f *Fake) SetReferences(ctx context.Context, sources, clusters map[string]string) error {
	for _, api := range []struct {
		path  string
		items map[string]string
	}{{"/_admin/sources", sources}, {"/_admin/managed-clusters", clusters}} {
		var held []struct{ ID string }
		if err := f.admin(ctx, http.MethodGet, api.path, nil, &held); err != nil {
			return err
		}
		for _, h := range held {
			if err := f.admin(ctx, http.MethodDelete, api.path+"/"+url.PathEscape(h.ID), nil, nil); err != nil {
				return err
			}
		}
		for name, id := range api.items {
			if err := f.admin(ctx, http.MethodPost, api.path, map[string]any{"name": name, "id": id}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetConfig merges fields into the fake's configuration (POST /_admin/config), e.g.
// {"createResponseDelay": "3s"}.
func (f *Fake) SetConfig(ctx context.Context, fields map[string]any) error {
	return f.admin(ctx, http.MethodPost, "/_admin/config", fields, nil)
}

type httpError struct {
	method, path string
	status       int
	body         string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("fake-identitynow %s %s: %d %s", e.method, e.path, e.status, e.body)
}

func (f *Fake) admin(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &httpError{method: method, path: path, status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

// FollowRequests writes each request the fake receives to w, one line each, in arrival order, until
// ctx ends: time, method, path, status and body (the fake leaves token request bodies out). A request
// is written once answered, or after 5 seconds without an answer (status 0).
func (f *Fake) FollowRequests(ctx context.Context, w io.Writer, every time.Duration) {
	var last int64
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		reqs, _ := f.Requests(ctx, "", "")
		for _, r := range reqs {
			if r.Seq <= last {
				continue
			}
			if r.Status == 0 && time.Since(r.Time) < 5*time.Second {
				break // in flight: keep the order
			}
			last = r.Seq
			_, _ = fmt.Fprintln(w, FormatRequest(r))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// FormatRequest renders one logged request on one line.
func FormatRequest(r Request) string {
	line := fmt.Sprintf("%s  %-6s %-62s %d", r.Time.Local().Format("15:04:05.000"), r.Method, r.Path, r.Status)
	if r.Query != "" {
		line += "  ?" + r.Query
	}
	if r.Body != "" {
		line += "  " + strings.TrimSpace(r.Body)
	}
	return line
}
