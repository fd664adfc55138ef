package fake

import (
	"crypto/subtle"
	"math"
	"net/http"
	"strings"
	"time"
)

type tokenInfo struct {
	clientID string
	expiry   time.Time
}

// RevokeTokens invalidates every issued token; later SIM requests with them get 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]tokenInfo{}
}

// serveToken implements POST /oauth/token for the client_credentials grant,
// with parameters in the form body or the query string.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, e *LoggedRequest) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "method_not_allowed"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	if !strings.EqualFold(r.Form.Get("grant_type"), "client_credentials") {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error": "unsupported_grant_type", "error_description": "Unsupported grant type"})
		return
	}
	id, secret := r.Form.Get("client_id"), r.Form.Get("client_secret")
	tok, ttl, ok := s.issue(id, secret)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"error": "invalid_client", "error_description": "Bad client credentials"})
		return
	}
	s.annotate(e, func(e *LoggedRequest) { e.ClientID = id })
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "bearer",
		"expires_in": int64(math.Ceil(ttl.Seconds())), "scope": "sp:scopes:all",
		"accessType": "OFFLINE", "tenant_id": "00000000-0000-0000-0000-000000000000",
		"internal": false, "pod": "fake01", "strong_auth_supported": false,
		"org": "fake", "claims_supported": false, "identity_id": nil, "user_id": nil,
		"strong_auth": false, "enabled": true, "jti": newID(),
	})
}

// issue checks client credentials and records a new token.
func (s *Server) issue(id, secret string) (tok string, ttl time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want, known := s.opts.Clients[id]
	if !known || id == "" || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return "", 0, false
	}
	tok = "fake." + newID() + newID()
	ttl = s.opts.TokenTTL
	s.tokens[tok] = tokenInfo{clientID: id, expiry: s.clock().Add(ttl)}
	return tok, ttl, true
}

// authenticate resolves the bearer token to a client id, or returns the
// message of the 401 to send.
func (s *Server) authenticate(r *http.Request) (clientID, problem string) {
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", "JWT validation failed: no bearer token"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.tokens[strings.TrimSpace(tok)]
	switch {
	case !ok:
		return "", "JWT validation failed: JWT is invalid"
	case !s.clock().Before(info.expiry):
		return info.clientID, "JWT validation failed: JWT is expired"
	}
	return info.clientID, ""
}
