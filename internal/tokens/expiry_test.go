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

func TestBackoffSchedule(t *testing.T) {
	b := Backoff{Base: 2 * time.Second, Max: 30 * time.Second, Attempts: 4}
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 4: 16 * time.Second, 5: 30 * time.Second, 9: 30 * time.Second} {
		if got := b.Delay(n, 0, 0.999999); (got - want).Abs() > time.Millisecond {
			t.Errorf("attempt %d, r≈1: %s, want %s", n, got, want)
		}
		if got := b.Delay(n, 0, 0); got != want/2 {
			t.Errorf("attempt %d, r=0: %s, want %s (equal jitter)", n, got, want/2)
		}
	}
	// Retry-After is honoured: never less, at most 10% more.
	for _, r := range []float64{0, 0.5, 0.99} {
		got := b.Delay(1, 7*time.Second, r)
		if got < 7*time.Second || got > 7700*time.Millisecond {
			t.Errorf("Retry-After 7s, r=%v: %s", r, got)
		}
	}
}
