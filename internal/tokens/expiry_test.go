package tokens

import (
	"testing"
	"time"
)

func TestExpiryPolicy(t *testing.T) {
	issued := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		lifetime, window        time.Duration
		wantExpiry, wantRefresh time.Duration // after issued
	}{
		{7200 * time.Second, 5 * time.Minute, 7140 * time.Second, 6840 * time.Second},
		{300 * time.Second, 5 * time.Minute, 270 * time.Second, 210 * time.Second},
		{5 * time.Second, 5 * time.Minute, 4500 * time.Millisecond, 3500 * time.Millisecond},
		{7200 * time.Second, 0, 7140 * time.Second, 7140 * time.Second},
	} {
		exp := expiration(issued, tc.lifetime)
		if got := exp.Sub(issued); got != tc.wantExpiry {
			t.Errorf("lifetime %s: expiry after %s, want %s", tc.lifetime, got, tc.wantExpiry)
		}
		if got := refreshAt(issued, tc.lifetime, tc.window).Sub(issued); got != tc.wantRefresh {
			t.Errorf("lifetime %s window %s: refresh after %s, want %s", tc.lifetime, tc.window, got, tc.wantRefresh)
		}
	}
	// Never stored as already expired, never refreshed on every call: for
	// every lifetime from 1 s up, the refresh point is well inside the lifetime.
	for l := time.Second; l <= 3*time.Hour; l += 7 * time.Second {
		r := refreshAt(issued, l, 5*time.Minute).Sub(issued)
		if r < l/2 || r >= l {
			t.Fatalf("lifetime %s: refresh after %s, want within [%s, %s)", l, r, l/2, l)
		}
	}
}

func TestMeasureSkew(t *testing.T) {
	local := time.Date(2025, 6, 15, 12, 0, 0, 300_000_000, time.UTC)
	server := local.Add(90 * time.Second).Truncate(time.Second) // Date header resolution
	skew, ok := measureSkew(server, local)
	if !ok || (skew-90*time.Second).Abs() > 500*time.Millisecond {
		t.Fatalf("skew = %s, %v; want 90s ± 0.5s", skew, ok)
	}
	if _, ok := measureSkew(time.Time{}, local); ok {
		t.Fatal("skew measured without a Date header")
	}
	if got := issuedAt(time.Time{}, local, -90*time.Second); !got.Equal(local.Add(-90 * time.Second)) {
		t.Fatalf("issuedAt without Date = %s", got)
	}
	if got := issuedAt(server, local, 0); !got.Equal(server) {
		t.Fatalf("issuedAt with Date = %s, want the Date", got)
	}
}
