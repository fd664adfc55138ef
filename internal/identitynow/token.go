package identitynow

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	// maxRefreshMargin is how long before expiry a token is replaced at most:
	// a 749 s token is used for 689 s, about 5.2 token requests an hour.
	maxRefreshMargin = 60 * time.Second
	// assumedLifetime is used when the token response has no expires_in.
	assumedLifetime = 5 * time.Minute
)

// tokenCache obtains client-credentials tokens and reuses them until shortly
// before they expire. At most one token request is in flight at a time.
type tokenCache struct {
	cfg    clientcredentials.Config
	client *http.Client
	clock  func() time.Time
	log    logr.Logger
	sem    chan struct{} // size 1: guards tok and serialises fetches

	tok    string
	expiry time.Time // already reduced by the refresh margin

	// read without sem by TokenStats, so a scrape never waits for a token request in flight
	failures    atomic.Uint64
	lastSuccess atomic.Int64 // clock time of the last token obtained, Unix nanoseconds; 0 if none
}

func newTokenCache(tokenURL, id, secret string, client *http.Client, clock func() time.Time, log logr.Logger) *tokenCache {
	return &tokenCache{
		cfg: clientcredentials.Config{
			ClientID: id, ClientSecret: secret, TokenURL: tokenURL,
			AuthStyle: oauth2.AuthStyleInParams,
		},
		client: client,
		clock:  clock,
		log:    log,
		sem:    make(chan struct{}, 1),
	}
}

// token returns a valid access token, fetching a new one when needed.
func (t *tokenCache) token(ctx context.Context) (string, error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return "", &Error{Kind: KindTransport, Op: "token", detail: ctx.Err().Error(), cause: ctx.Err()}
	}
	defer func() { <-t.sem }()
	if t.tok != "" && t.clock().Before(t.expiry) {
		return t.tok, nil
	}
	return t.fetchLocked(ctx)
}

func (t *tokenCache) fetchLocked(ctx context.Context) (string, error) {
	start, began := t.clock(), time.Now()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.client)
	tok, err := t.cfg.Token(ctx)
	if err != nil {
		e := t.tokenError(err, start)
		t.failures.Add(1)
		tokenRequestsTotal.WithLabelValues(tokenResult(e)).Inc()
		t.log.V(1).Info("identitynow token request", "result", tokenResult(e),
			"status", e.StatusCode, "duration", time.Since(began))
		return "", e
	}
	tokenRequestsTotal.WithLabelValues("success").Inc()
	t.lastSuccess.Store(t.clock().UnixNano())
	t.log.V(1).Info("identitynow token request", "result", "success", "duration", time.Since(began))
	life := lifetime(tok)
	t.tok = tok.AccessToken
	t.expiry = start.Add(life - min(maxRefreshMargin, life/10))
	return t.tok, nil
}

// lifetime reads expires_in from the token response (the clientcredentials
// package only keeps an absolute Expiry based on the wall clock).
func lifetime(tok *oauth2.Token) time.Duration {
	var secs float64
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		secs = v
	case string:
		secs, _ = strconv.ParseFloat(v, 64)
	}
	switch {
	case secs > 0 && secs < 1e9:
		return time.Duration(secs * float64(time.Second))
	case !tok.Expiry.IsZero():
		return max(time.Until(tok.Expiry), 0)
	}
	return assumedLifetime
}

// invalidate drops the cached token if it is still tok (a 401 was seen with it).
func (t *tokenCache) invalidate(tok string) {
	t.sem <- struct{}{}
	defer func() { <-t.sem }()
	if t.tok == tok {
		t.tok = ""
	}
}

// redactor covers the client secret and the token being replaced; the Client adds the values of
// the call. It is called with sem held.
func (t *tokenCache) redactor() *redactor {
	return newRedactor([]string{t.cfg.ClientSecret, t.tok}, nil)
}

func tokenResult(e *Error) string {
	if e.Kind == KindUnauthorized {
		return "refused"
	}
	return "error"
}

// tokenError converts an oauth2 error without copying the response body,
// which could echo what was sent: only the OAuth2 "error" code is kept.
func (t *tokenCache) tokenError(err error, now time.Time) *Error {
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		code := 0
		var h http.Header
		if re.Response != nil {
			code, h = re.Response.StatusCode, re.Response.Header
		}
		e := &Error{Op: "token", StatusCode: code, Kind: tokenKind(code)}
		if re.ErrorCode != "" {
			e.Messages = []string{re.ErrorCode}
		}
		e.redact(t.redactor())
		if code == http.StatusTooManyRequests {
			e.RetryAfter = retryAfterFor(h, now)
		}
		return e
	}
	if e := transportError("token", err); e != nil {
		e.redact(t.redactor())
		return e
	}
	return &Error{Kind: KindServer, Op: "token", detail: "invalid token response"}
}

func tokenKind(code int) ErrorKind {
	switch {
	case code == http.StatusBadRequest || code == http.StatusUnauthorized || code == http.StatusForbidden:
		return KindUnauthorized
	case code == http.StatusTooManyRequests:
		return KindRateLimited
	case code >= 400 && code < 500:
		return KindInvalid
	default:
		return KindServer
	}
}
