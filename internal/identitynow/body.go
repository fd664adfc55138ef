package identitynow

import (
	"errors"
	"io"
)

const (
	// maxObjectBytes bounds a single-object response, an error body and each element of a list.
	maxObjectBytes = 1 << 20
	// maxListBytes bounds a whole list response. The list is decoded as it streams in and never
	// held whole, but callers keep a compact copy of every element (the tenant snapshot does), so
	// the cap stays in the order of the 16 MiB the client used to accept for any response, with
	// room for about ten thousand integrations. It also ends a body that never ends.
	maxListBytes = 32 << 20
)

var (
	errObjectTooLarge  = errors.New("response larger than 1 MiB")
	errElementTooLarge = errors.New("list element larger than 1 MiB")
	errListTooLarge    = errors.New("list response larger than 32 MiB")
)

// readError is a failure to read the response body (reset, timeout): a transport error, not a
// malformed response.
type readError struct{ err error }

func (e readError) Error() string { return "reading response: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// bodyReader reads a response body within limits: limit bytes in all, and none past end, which a
// list decoder moves forward element by element. It remembers its first failure, so that a
// decoding error caused by it can be reported as what it is.
type bodyReader struct {
	r     io.Reader
	n     int64 // bytes read so far
	limit int64 // at most this many bytes in all (errListTooLarge)
	end   int64 // no byte past this offset (errElementTooLarge)
	err   error
}

func newBodyReader(r io.Reader) *bodyReader {
	return &bodyReader{r: r, limit: maxListBytes, end: maxListBytes}
}

// allowElement lets the reader go maxObjectBytes past off, the offset where the next element
// starts (bytes the decoder has buffered beyond off count against that element).
func (b *bodyReader) allowElement(off int64) { b.end = off + maxObjectBytes }

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	room := min(b.limit, b.end) - b.n
	switch {
	case room <= 0 && b.n >= b.limit:
		b.err = errListTooLarge
		return 0, b.err
	case room <= 0:
		b.err = errElementTooLarge
		return 0, b.err
	case int64(len(p)) > room:
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = readError{err}
		err = b.err
	}
	return n, err
}

// readObject reads a single-object body, at most maxObjectBytes of it.
func readObject(b *bodyReader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(b, maxObjectBytes+1))
	switch {
	case err != nil:
		return nil, err
	case len(data) > maxObjectBytes:
		return nil, errObjectTooLarge
	}
	return data, nil
}
