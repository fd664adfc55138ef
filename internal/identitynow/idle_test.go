package identitynow

import (
	"testing"
	"time"
)

// A tenant's connection does not outlive a short idle time: between two lists of a tenant it would
// hold two goroutines and their buffers.
func TestTransportClosesIdleConnections(t *testing.T) {
	tr, err := newTransport(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr.IdleConnTimeout != idleConnTimeout || idleConnTimeout > 30*time.Second {
		t.Fatalf("IdleConnTimeout = %s, want %s (at most 30s)", tr.IdleConnTimeout, idleConnTimeout)
	}
}
