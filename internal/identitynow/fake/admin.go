package fake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("10s"); a JSON number is read as seconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case float64:
		*d = Duration(x * float64(time.Second))
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return err
		}
		*d = Duration(p)
	default:
		return errors.New("duration must be a string like \"10s\" or a number of seconds")
	}
	return nil
}

// adminMux serves the JSON admin API used by the standalone command:
//
//	GET    /_admin/objects             all objects
//	POST   /_admin/objects             insert a request-shape document ("id" optional) → {"id":…}
//	GET    /_admin/objects/{id}        one object
//	PATCH  /_admin/objects/{id}        out-of-band JSON merge patch (RFC 7386) of the document
//	DELETE /_admin/objects/{id}        out-of-band delete
//	POST   /_admin/faults              queue a Fault (count, status, match, retryAfter…)
//	DELETE /_admin/faults              clear faults, failure rate and rejections
//	POST   /_admin/reject-field        {"pointer","value","message","status","echo","echoForm"}, see Rejection
//	GET    /_admin/requests            request log; ?method=&path= (path prefix)
//	DELETE /_admin/requests            clear the log
//	POST   /_admin/revoke-tokens       invalidate all tokens
//	GET    /_admin/config              current Config
//	POST   /_admin/config              merge the given fields into Config
//	...    /_admin/sources, /_admin/managed-clusters, /_admin/scopes: see adminReferences
func (s *Server) adminMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /_admin/objects", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Objects())
	})
	m.HandleFunc("POST /_admin/objects", s.adminInsert)
	m.HandleFunc("GET /_admin/objects/{id}", func(w http.ResponseWriter, r *http.Request) {
		o, ok := s.Get(r.PathValue("id"))
		if !ok {
			writeErrorDTO(w, http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
	m.HandleFunc("PATCH /_admin/objects/{id}", s.adminEdit)
	m.HandleFunc("DELETE /_admin/objects/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.Remove(r.PathValue("id")) {
			writeErrorDTO(w, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_admin/faults", s.adminFault)
	m.HandleFunc("DELETE /_admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_admin/reject-field", s.adminReject)
	m.HandleFunc("GET /_admin/requests", s.adminRequests)
	m.HandleFunc("DELETE /_admin/requests", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetLog()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_admin/revoke-tokens", func(w http.ResponseWriter, _ *http.Request) {
		s.RevokeTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_admin/config", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Config())
	})
	m.HandleFunc("POST /_admin/config", s.adminConfig)
	s.adminReferences(m)
	return m
}

// readJSON decodes a bounded request body into v, answering 400 on failure.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeErrorDTO(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) adminInsert(w http.ResponseWriter, r *http.Request) {
	var doc map[string]any
	if !readJSON(w, r, &doc) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": s.Insert(doc)})
}

func (s *Server) adminEdit(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	var patch map[string]any
	if json.Unmarshal(body, &patch) != nil || patch == nil {
		writeErrorDTO(w, http.StatusBadRequest, "the body must be a JSON merge patch object")
		return
	}
	var bad error
	ok := s.Edit(r.PathValue("id"), func(doc map[string]any) {
		cur, _ := json.Marshal(doc)
		merged, err := jsonpatch.MergePatch(cur, body)
		if err == nil {
			clear(doc)
			err = json.Unmarshal(merged, &doc)
		}
		bad = err
	})
	switch {
	case !ok:
		writeErrorDTO(w, http.StatusNotFound)
	case bad != nil:
		writeErrorDTO(w, http.StatusBadRequest, "invalid merge patch: "+bad.Error())
	default:
		o, _ := s.Get(r.PathValue("id"))
		writeJSON(w, http.StatusOK, o)
	}
}

func (s *Server) adminFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if !readJSON(w, r, &f) {
		return
	}
	if f.Count <= 0 || (f.Status != StatusReset && (f.Status < 100 || f.Status > 599)) {
		writeErrorDTO(w, http.StatusBadRequest, "count must be > 0 and status an HTTP status or -1")
		return
	}
	s.InjectFault(f)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminReject(w http.ResponseWriter, r *http.Request) {
	var rj Rejection
	if !readJSON(w, r, &rj) {
		return
	}
	switch {
	case rj.Status != 0 && (rj.Status < 400 || rj.Status > 599):
		writeErrorDTO(w, http.StatusBadRequest, "status must be a 4xx or 5xx HTTP status")
		return
	case rj.EchoForm != EchoRaw && rj.EchoForm != EchoJSON && rj.EchoForm != EchoURL:
		writeErrorDTO(w, http.StatusBadRequest, `echoForm must be "", "json" or "url"`)
		return
	}
	rj.Message = cmpOr(rj.Message, "The value is not accepted.")
	s.Reject(rj)
	w.WriteHeader(http.StatusNoContent)
}

// adminRequest is LoggedRequest with the body as text for readability.
type adminRequest struct {
	LoggedRequest
	Body string `json:"body,omitempty"`
}

func (s *Server) adminRequests(w http.ResponseWriter, r *http.Request) {
	var fs []Filter
	if m := r.URL.Query().Get("method"); m != "" {
		fs = append(fs, ByMethod(m))
	}
	if p := r.URL.Query().Get("path"); p != "" {
		fs = append(fs, ByPathPrefix(p))
	}
	reqs := s.Requests(fs...)
	out := make([]adminRequest, len(reqs))
	for i, q := range reqs {
		out[i] = adminRequest{LoggedRequest: q, Body: string(q.Body)}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) adminConfig(w http.ResponseWriter, r *http.Request) {
	c := s.Config()
	if !readJSON(w, r, &c) {
		return
	}
	if err := checkConfig(c); err != nil {
		writeErrorDTO(w, http.StatusBadRequest, err.Error())
		return
	}
	s.applyConfig(c)
	writeJSON(w, http.StatusOK, s.Config())
}

func checkConfig(c Config) error {
	switch {
	case c.Shape != ShapeEcho && c.Shape != ShapeDTO:
		return fmt.Errorf("shape must be %q or %q", ShapeEcho, ShapeDTO)
	case !strings.Contains("|both|operations|array|", "|"+string(c.PatchForms)+"|"):
		return errors.New("patchForms must be both, operations or array")
	case c.RateLimit.Requests < 0 || c.RateLimit.Period < 0 || c.RateLimit.IntervalThreshold < 0 ||
		c.RateLimit.ViolationWindow < 0 || c.RateLimit.TierMemory < 0 || slices.ContainsFunc(c.RateLimit.Tiers, negative):
		return errors.New("rateLimit must not be negative")
	case !c.RateLimit.Escalation.Valid():
		return fmt.Errorf("rateLimit.escalation must be %q, %q or %q", EscalationDocumented, EscalationPerRequest, EscalationNone)
	case c.FailureRate.Fraction < 0 || c.FailureRate.Fraction > 1:
		return errors.New("failureRate.fraction must be within 0..1")
	}
	return nil
}

func negative(d Duration) bool { return d < 0 }
