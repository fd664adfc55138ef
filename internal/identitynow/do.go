package identitynow

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// call describes one SIM request.
type call struct {
	op     string // metric/log operation name
	method string
	item   bool // an /{id} route
	id     string
	sub    string // "" or "/beforeProvisioningRule"
	body   []byte
	ctype  string
	// sensitive are values the request carried (attribute values, patch
	// values) that are cut out of server messages should the server echo them.
	sensitive []string
}

func (cl call) path(base string) string {
	if !cl.item {
		return base
	}
	return base + "/" + url.PathEscape(cl.id) + cl.sub
}

func (cl call) template(prefix string) string {
	if !cl.item {
		return prefix
	}
	return prefix + "/{id}" + cl.sub
}

// do sends a SIM request and returns the body of a 2xx response. A 401 drops
// the token and the request is sent once more with a fresh one.
func (c *Client) do(ctx context.Context, cl call) ([]byte, error) {
	if cl.item && cl.id == "" {
		return nil, &Error{Kind: KindInvalid, Op: cl.op, detail: "an id is required"}
	}
	for attempt := 1; ; attempt++ {
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return nil, err
		}
		status, h, body, err := c.send(ctx, cl, tok, attempt)
		if err != nil {
			return nil, err
		}
		switch {
		case status >= 200 && status < 300:
			return body, nil
		case status == http.StatusUnauthorized && attempt == 1:
			c.tokens.invalidate(tok)
			continue
		}
		e := decodeError(cl.op, status, h, body, c.clock())
		e.redact(append(cl.sensitive, tok, c.tokens.cfg.ClientSecret))
		if status == http.StatusTooManyRequests {
			c.budget.Block(e.RetryAfter)
			rateLimitedTotal.WithLabelValues(string(c.release)).Inc()
		}
		return nil, e
	}
}

// send waits for a budget slot, performs one HTTP exchange and records it.
func (c *Client) send(ctx context.Context, cl call, tok string, attempt int) (int, http.Header, []byte, error) {
	if err := c.acquire(ctx, cl.op); err != nil {
		return 0, nil, nil, err
	}
	req, err := c.newRequest(ctx, cl, tok)
	if err != nil {
		return 0, nil, nil, err
	}
	start := time.Now()
	status, h, body, err := c.exchange(req)
	d := time.Since(start)
	requestsTotal.WithLabelValues(cl.op, codeLabel(status)).Inc()
	requestDuration.WithLabelValues(cl.op).Observe(d.Seconds())
	c.log.V(1).Info("identitynow request", "op", cl.op, "method", cl.method,
		"path", cl.template(c.tmpl), "status", status, "duration", d, "attempt", attempt)
	if err != nil {
		if te := transportError(cl.op, err); te != nil {
			return 0, nil, nil, te
		}
		return 0, nil, nil, &Error{Kind: KindTransport, Op: cl.op, detail: "request failed", cause: err}
	}
	return status, h, body, nil
}

// acquire takes a budget slot, waiting at most MaxWait for one. A budget blocked by a 429, or with no
// slot free soon enough, fails at once with the time until it has room: the reconcile ends and is
// requeued for then instead of holding a worker.
func (c *Client) acquire(ctx context.Context, op string) error {
	start := time.Now()
	ahead, err := c.budget.Take(ctx, MaxWait)
	budgetWait.Observe(time.Since(start).Seconds())
	switch {
	case err != nil:
		return &Error{Kind: KindRateLimited, Op: op, RetryAfter: ahead, cause: err,
			detail: "no slot in the shared rate budget before the context ended (" + err.Error() + "), request not sent"}
	case ahead > 0 && !c.budget.BlockedUntil().Before(c.clock()):
		return &Error{Kind: KindRateLimited, Op: op, RetryAfter: ahead,
			detail: "shared rate budget is blocked after a 429, request not sent"}
	case ahead > 0:
		return &Error{Kind: KindRateLimited, Op: op, RetryAfter: ahead,
			detail: "the tenant's rate budget has no free slot yet, request not sent"}
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, cl call, tok string) (*http.Request, error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.path(c.base), body)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Op: cl.op, detail: "cannot build request"}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-SailPoint-Experimental", "true")
	req.Header.Set("Accept", mediaJSON)
	req.Header.Set("User-Agent", c.userAgent)
	if cl.ctype != "" {
		req.Header.Set("Content-Type", cl.ctype)
	}
	return req, nil
}

// exchange performs the HTTP round trip and reads a bounded body.
func (c *Client) exchange(req *http.Request) (int, http.Header, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return 0, nil, nil, &url.Error{Op: req.Method, URL: "", Err: fmt.Errorf("reading response: %w", err)}
	}
	if len(body) > maxBodyBytes {
		return 0, nil, nil, &url.Error{Op: req.Method, URL: "", Err: fmt.Errorf("response larger than %d bytes", maxBodyBytes)}
	}
	return resp.StatusCode, resp.Header, body, nil
}
