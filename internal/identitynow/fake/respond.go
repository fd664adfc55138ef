package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

const contentTypeJSON = "application/json;charset=UTF-8"

// writeJSON writes v with ISC's content type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Slpt-Request-Id", newID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var detailCodes = map[int]string{
	http.StatusBadRequest:           "400.1 Bad Request Content",
	http.StatusForbidden:            "403 Forbidden",
	http.StatusNotFound:             "404 Not found",
	http.StatusMethodNotAllowed:     "405 Method Not Allowed",
	http.StatusUnsupportedMediaType: "415 Unsupported Media Type",
	http.StatusInternalServerError:  "500.0 Internal Fault",
}

var defaultTexts = map[int]string{
	http.StatusForbidden:           "The server understood the request but refuses to authorize it.",
	http.StatusNotFound:            "The server did not find a current representation for the target resource.",
	http.StatusInternalServerError: "An internal fault occurred.",
}

// writeErrorDTO writes an ErrorResponseDto with one message per text.
func writeErrorDTO(w http.ResponseWriter, status int, texts ...string) {
	texts = slices.DeleteFunc(slices.Clone(texts), func(t string) bool { return t == "" })
	if len(texts) == 0 {
		texts = []string{cmpOr(defaultTexts[status], http.StatusText(status))}
	}
	msgs := make([]map[string]any, len(texts))
	for i, t := range texts {
		msgs[i] = map[string]any{"locale": "en-US", "localeOrigin": "DEFAULT", "text": t}
	}
	code := cmpOr(detailCodes[status], fmt.Sprintf("%d %s", status, http.StatusText(status)))
	writeJSON(w, status, map[string]any{"detailCode": code, "trackingId": newID(), "messages": msgs})
}
