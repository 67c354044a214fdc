package tokens

import (
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gusto"
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

// TestIssuedAt: a token's issue time is Gusto's Date header when the
// response had one that agrees with the skew estimate, else the local
// arrival time corrected by the estimate: one bad Date header (an hour
// ahead) would otherwise make the token look fresh an hour past its expiry.
func TestIssuedAt(t *testing.T) {
	local := time.Date(2025, 6, 15, 12, 0, 0, 300_000_000, time.UTC)
	server := local.Add(90 * time.Second).Truncate(time.Second) // Date header resolution
	if got := issuedAt(time.Time{}, local, -90*time.Second); !got.Equal(local.Add(-90 * time.Second)) {
		t.Fatalf("issuedAt without Date = %s", got)
	}
	if got := issuedAt(server, local, 90*time.Second); !got.Equal(server) {
		t.Fatalf("issuedAt with an agreeing Date = %s, want the Date", got)
	}
	if got := issuedAt(server.Add(time.Hour), local, 90*time.Second); !got.Equal(local.Add(90 * time.Second)) {
		t.Fatalf("issuedAt with a Date an hour off = %s, want the skew-corrected arrival", got)
	}
}

// TestNextRecordTakesTheTokensSkew (invariant 9): the manager never measures
// the skew itself. A refreshed pair's row carries the skew the Gusto client
// measured on that response (gusto.Token.Skew), which the manager adopts and
// exports; a response without a Date keeps the skew already applied.
func TestNextRecordTakesTheTokensSkew(t *testing.T) {
	local := time.Date(2025, 6, 15, 12, 0, 0, 300_000_000, time.UTC)
	metrics, err := NewMetrics(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{now: func() time.Time { return local }, log: testLogger(), metrics: metrics}
	prev := &record{Company: "c", Lifetime: time.Hour}

	// The client measured 89.5 s on the response (say, over a 2 s round
	// trip): that, not Date minus arrival (90.2 s), is the skew.
	server := local.Add(90 * time.Second).Truncate(time.Second)
	next := m.nextRecord(prev, gusto.Token{AccessToken: "a", RefreshToken: "r", ExpiresIn: 300,
		ServerDate: server, ReceivedAt: local, Skew: 89500 * time.Millisecond})
	if next.Skew != 89500*time.Millisecond || m.Skew() != next.Skew || metricValue(t, metrics.skew) != 89.5 {
		t.Fatalf("row skew %s, manager %s, metric %v; want the token's 89.5s everywhere", next.Skew, m.Skew(), metricValue(t, metrics.skew))
	}
	if !next.IssuedAt.Equal(server) || !next.Expiration.Equal(server.Add(270*time.Second)) {
		t.Fatalf("issued %s expires %s; want Gusto's Date and Date + 300 s - 30 s", next.IssuedAt, next.Expiration)
	}

	// No Date header: the skew already applied corrects the arrival time.
	next = m.nextRecord(prev, gusto.Token{AccessToken: "a", RefreshToken: "r", ExpiresIn: 300, ReceivedAt: local})
	if next.Skew != 89500*time.Millisecond || !next.IssuedAt.Equal(local.Add(89500*time.Millisecond)) {
		t.Fatalf("without Date: skew %s issued %s; want 89.5s and arrival + 89.5s", next.Skew, next.IssuedAt)
	}
}
