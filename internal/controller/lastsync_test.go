package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLastSyncDue(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(-d)} }
	for _, c := range []struct {
		name string
		last *metav1.Time
		poll time.Duration
		want bool
	}{
		{"never synced", nil, time.Minute, true},
		{"a short poll interval does not move it every interval", ago(2 * time.Minute), time.Minute, false},
		{"it moves after lastSyncRefresh", ago(lastSyncRefresh), time.Minute, true},
		{"a long poll interval: once per interval", ago(lastSyncRefresh), 30 * time.Minute, false},
		{"a long poll interval, after it", ago(30 * time.Minute), 30 * time.Minute, true},
	} {
		if got := lastSyncDue(c.last, now, c.poll); got != c.want {
			t.Errorf("%s: lastSyncDue = %v, want %v", c.name, got, c.want)
		}
	}
}

// The remote's millisecond times are kept as the apiserver stores them, so an unchanged object's
// status equals its cached copy and is not written again.
func TestMetaTimeMatchesTheStoredStatus(t *testing.T) {
	remote := time.Date(2026, 12, 2, 12, 0, 5, 432_000_000, time.UTC)
	got := metaTime(remote)
	raw, err := got.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var stored metav1.Time
	if err := stored.UnmarshalJSON(raw); err != nil {
		t.Fatal(err)
	}
	if !stored.Equal(got) || !got.Equal(&metav1.Time{Time: remote.Truncate(time.Second)}) {
		t.Fatalf("metaTime(%s) = %s, stored as %s", remote, got, stored)
	}
	if metaTime(time.Time{}) != nil {
		t.Fatal("a zero time must stay unset")
	}
}
