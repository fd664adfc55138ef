package identitynow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"
)

// requestKeys are the SimIntegrationDetails keys kept in Integration.Fields.
var requestKeys = []string{
	"name", "description", "type", "attributes", "sources",
	"cluster", "statusMap", "request", "beforeProvisioningRule",
}

// objectKeys may arrive as JSON-encoded strings (seen in spec examples); they are decoded.
var objectKeys = map[string]bool{"attributes": true, "statusMap": true, "request": true}

var errMalformed = errors.New("response is not a JSON object")

// decodeIntegration decodes one integration in either response shape.
func decodeIntegration(data []byte) (*Integration, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return nil, errMalformed
	}
	return normalise(raw), nil
}

// decodeIntegrations decodes a list response (a JSON array; null is empty).
func decodeIntegrations(data []byte) ([]Integration, error) {
	var out []Integration
	err := decodeEach(newBodyReader(bytes.NewReader(data)), func(in Integration) { out = append(out, in) })
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Integration{}
	}
	return out, nil
}

var errNotArray = errors.New("response is not a JSON array")

// decodeEach decodes a list response as it streams in, one element at a time, so that neither the
// body nor the decoded list is ever held whole; each element may take up to maxObjectBytes. On an
// error, elements already passed to each are to be discarded. A failure of the body (too large,
// not readable) is returned as such rather than as a malformed list.
func decodeEach(b *bodyReader, each func(Integration)) error {
	return decodeRawEach(b, func(raw map[string]any) error {
		each(*normalise(raw))
		return nil
	})
}

// decodeRawEach is decodeEach for any list of objects: each receives every element as decoded JSON,
// and an error it returns ends the list with that error.
func decodeRawEach(b *bodyReader, each func(map[string]any) error) error {
	err := decodeArray(b, each)
	if err != nil && b.err != nil {
		return b.err
	}
	return err
}

func decodeArray(b *bodyReader, each func(map[string]any) error) error {
	d := json.NewDecoder(b)
	b.allowElement(0)
	tok, err := d.Token()
	if err != nil {
		return errNotArray
	}
	if tok == nil { // null
		return endOfInput(d)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '[' {
		return errNotArray
	}
	for {
		// The next element (or the closing bracket) may take maxObjectBytes from where the
		// previous one ended.
		b.allowElement(d.InputOffset())
		if !d.More() {
			break
		}
		var raw map[string]any
		if err := d.Decode(&raw); err != nil || raw == nil {
			return errMalformed
		}
		if err := each(raw); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil { // the closing bracket
		return errNotArray
	}
	return endOfInput(d)
}

// endOfInput rejects anything but white space after the document, as json.Unmarshal does.
func endOfInput(d *json.Decoder) error {
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errNotArray
	}
	return nil
}

// normalise maps a decoded response object onto an Integration.
func normalise(raw map[string]any) *Integration {
	in := &Integration{Fields: map[string]any{}}
	in.ID, _ = raw["id"].(string)
	in.Name, _ = raw["name"].(string)
	in.Created = parseTime(raw["created"])
	in.Modified = parseTime(raw["modified"])
	for _, k := range requestKeys {
		v, ok := raw[k]
		if !ok || v == nil {
			continue
		}
		if s, isStr := v.(string); isStr && objectKeys[k] {
			v = decodeEmbeddedObject(s)
		}
		in.Fields[k] = v
	}
	if _, ok := in.Fields["sources"]; !ok {
		if ms, ok := raw["managedSources"]; ok && ms != nil {
			in.Fields["sources"] = ms
		}
	}
	if _, ok := in.Fields["cluster"]; !ok {
		if ref, ok := raw["clusterRef"].(map[string]any); ok {
			if id, ok := ref["id"].(string); ok && id != "" {
				in.Fields["cluster"] = id
			}
		}
	}
	return in
}

// decodeEmbeddedObject decodes a JSON object carried as a string, else returns the string.
func decodeEmbeddedObject(s string) any {
	if !strings.HasPrefix(strings.TrimSpace(s), "{") {
		return s
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := d.Decode(&m); err != nil || m == nil || d.More() {
		return s
	}
	return m
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05.999999999"}

// parseTime accepts RFC 3339 (with or without fraction) and the zone-less forms
// the SDK tolerates; anything else yields the zero time.
func parseTime(v any) time.Time {
	s, ok := v.(string)
	if !ok {
		return time.Time{}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
