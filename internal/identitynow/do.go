package identitynow

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// call describes one request: to a SIM route, or to a lookup API (ep).
type call struct {
	op     string // metric/log operation name
	method string
	// ep is the lookup API the call goes to; nil for the SIM routes.
	ep *endpoint
	// query is the encoded query string; never logged.
	query string
	item  bool // an /{id} route
	id    string
	sub   string // "" or "/beforeProvisioningRule"
	body  []byte
	ctype string
	// sensitive are values the request carried (attribute values, patch
	// values) that are cut out of server messages should the server echo them
	// (see newRedactor; the secrets of the object come through WithSensitive).
	sensitive []string
}

func (cl call) path(base string) string {
	switch {
	case cl.query != "":
		return base + "?" + cl.query
	case !cl.item:
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

// endpoint returns where the call goes: its lookup API, or the client's SIM routes.
func (c *Client) endpoint(cl call) *endpoint {
	if cl.ep != nil {
		return cl.ep
	}
	return c.sim
}

// do sends a SIM request. The body of a 2xx response goes to read, while it streams in (nil: the
// body is drained); any other response becomes an *Error. A 401 drops the token and the request is
// sent once more with a fresh one. The server's texts in every error are cleaned of the call's
// sensitive values (see redactor).
func (c *Client) do(ctx context.Context, cl call, read func(*bodyReader) error) error {
	if cl.item && cl.id == "" {
		return &Error{Kind: KindInvalid, Op: cl.op, detail: "an id is required"}
	}
	var sent []string // the tokens sent by this call
	for attempt := 1; ; attempt++ {
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return c.scrub(ctx, cl, sent, err)
		}
		sent = append(sent, tok)
		resp, err := c.send(ctx, cl, tok, attempt, read)
		switch {
		case err != nil:
			return c.scrub(ctx, cl, sent, err)
		case resp == nil:
			return nil
		case resp.status == http.StatusUnauthorized && attempt == 1:
			c.tokens.invalidate(tok)
			continue
		}
		return c.responseError(ctx, cl, sent, resp)
	}
}

// errorResponse is a non-2xx response.
type errorResponse struct {
	status   int
	header   http.Header
	body     []byte // at most maxObjectBytes; nil when tooLarge or unreadable
	tooLarge bool
}

// responseError turns a non-2xx response into an *Error; a 429 also blocks the shared budget.
func (c *Client) responseError(ctx context.Context, cl call, sent []string, resp *errorResponse) *Error {
	e := decodeError(cl.op, resp.status, resp.header, resp.body, c.clock(), c.redactor(ctx, cl, sent))
	if resp.tooLarge {
		e.detail = "error response larger than 1 MiB, its messages are not shown"
	}
	if resp.status == http.StatusTooManyRequests {
		ep := c.endpoint(cl)
		ep.budget.Block(e.RetryAfter)
		rateLimitedTotal.WithLabelValues(string(ep.version)).Inc()
	}
	return e
}

// redactor covers every sensitive value of a call, whatever the request sent: the values it
// carried, those declared with WithSensitive, the client secret and the tokens sent.
func (c *Client) redactor(ctx context.Context, cl call, sent []string) *redactor {
	secrets := slices.Concat(sensitiveFrom(ctx), sent, []string{c.tokens.cfg.ClientSecret})
	return newRedactor(secrets, cl.sensitive)
}

// scrub cleans the server texts of err, when it is an *Error.
func (c *Client) scrub(ctx context.Context, cl call, sent []string, err error) error {
	if e, ok := errors.AsType[*Error](err); ok {
		e.redact(c.redactor(ctx, cl, sent))
	}
	return err
}

// send waits for a budget slot, performs one HTTP exchange and records it. It returns the
// response when its status is not 2xx, and nil when it is and read accepted the body.
func (c *Client) send(ctx context.Context, cl call, tok string, attempt int, read func(*bodyReader) error) (*errorResponse, error) {
	ep := c.endpoint(cl)
	if err := c.acquire(ctx, ep.budget, cl.op); err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, ep, cl, tok)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	status, resp, err := c.exchange(req, cl.op, read)
	d := time.Since(start)
	requestsTotal.WithLabelValues(cl.op, codeLabel(status)).Inc()
	requestDuration.WithLabelValues(cl.op).Observe(d.Seconds())
	c.log.V(1).Info("identitynow request", "op", cl.op, "method", cl.method,
		"path", cl.template(ep.tmpl), "status", status, "duration", d, "attempt", attempt)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok {
			return nil, e
		}
		if te := transportError(cl.op, err); te != nil {
			return nil, te
		}
		return nil, &Error{Kind: KindTransport, Op: cl.op, detail: "request failed", cause: err}
	}
	return resp, nil
}

// acquire takes a budget slot, waiting at most MaxWait for one. A budget blocked by a 429, or with no
// slot free soon enough, fails at once with the time until it has room: the reconcile ends and is
// requeued for then instead of holding a worker.
func (c *Client) acquire(ctx context.Context, budget *Budget, op string) error {
	start := time.Now()
	ahead, err := budget.Take(ctx, MaxWait)
	budgetWait.Observe(time.Since(start).Seconds())
	switch {
	case err != nil:
		return &Error{Kind: KindRateLimited, Op: op, RetryAfter: ahead, cause: err,
			detail: "no slot in the shared rate budget before the context ended (" + err.Error() + "), request not sent"}
	case ahead > 0 && !budget.BlockedUntil().Before(c.clock()):
		return &Error{Kind: KindRateLimited, Op: op, RetryAfter: ahead,
			detail: "shared rate budget is blocked after a 429, request not sent"}
	case ahead > 0:
		return &Error{Kind: KindRateLimited, Op: op, RetryAfter: ahead,
			detail: "the tenant's rate budget has no free slot yet, request not sent"}
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, ep *endpoint, cl call, tok string) (*http.Request, error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.path(ep.base), body)
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

// exchange performs the HTTP round trip. A 2xx body goes to read (its failure is an *Error); the
// body of any other status is read, up to maxObjectBytes, into the errorResponse.
func (c *Client) exchange(req *http.Request, op string, read func(*bodyReader) error) (int, *errorResponse, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b := newBodyReader(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		body, err := readObject(b)
		return resp.StatusCode, &errorResponse{status: resp.StatusCode, header: resp.Header, body: body,
			tooLarge: errors.Is(err, errObjectTooLarge)}, nil
	}
	if read == nil {
		read = drain
	}
	if err := read(b); err != nil {
		return resp.StatusCode, nil, bodyError(op, err)
	}
	return resp.StatusCode, nil, nil
}

// drain reads what is left of a body the caller does not need, so the connection can be reused.
// The status already said the request succeeded: a failure here changes nothing.
func drain(b *bodyReader) error {
	_, _ = io.Copy(io.Discard, io.LimitReader(b, maxObjectBytes))
	return nil
}

// bodyError converts a failure to read or decode a 2xx body.
func bodyError(op string, err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if re, ok := errors.AsType[readError](err); ok {
		return &Error{Kind: KindTransport, Op: op, detail: re.Error(), cause: re.err}
	}
	return malformed(op, err)
}
