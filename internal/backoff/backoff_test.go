package backoff_test

import (
	"math"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/backoff"
)

// TestSchedule pins the schedule documented on Policy: the ceilings double
// from Base up to Max, and each wait lies in [ceiling/2, ceiling).
func TestSchedule(t *testing.T) {
	p := backoff.Policy{Base: 2 * time.Second, Max: 30 * time.Second}
	const s = time.Second
	for _, c := range []struct {
		n        int
		ceiling  time.Duration
		min, max time.Duration // DelayAt with r = 0 and r → 1
	}{
		{0, 2 * s, 1 * s, 2 * s}, // below 1 counts as 1
		{1, 2 * s, 1 * s, 2 * s},
		{2, 4 * s, 2 * s, 4 * s},
		{3, 8 * s, 4 * s, 8 * s},
		{4, 16 * s, 8 * s, 16 * s},
		{5, 30 * s, 15 * s, 30 * s},
		{6, 30 * s, 15 * s, 30 * s},
		{math.MaxInt, 30 * s, 15 * s, 30 * s}, // no overflow
	} {
		if got := p.Ceiling(c.n); got != c.ceiling {
			t.Errorf("Ceiling(%d) = %s, want %s", c.n, got, c.ceiling)
		}
		if got := p.DelayAt(c.n, 0, 0); got != c.min {
			t.Errorf("DelayAt(%d, 0, 0) = %s, want %s", c.n, got, c.min)
		}
		if got := p.DelayAt(c.n, 0, math.Nextafter(1, 0)); got < c.max-time.Microsecond || got > c.max {
			t.Errorf("DelayAt(%d, 0, 1-ε) = %s, want just under %s", c.n, got, c.max)
		}
		if got := p.DelayAt(c.n, 0, 0.5); got != c.min+(c.max-c.min)/2 {
			t.Errorf("DelayAt(%d, 0, 0.5) = %s, want the middle of [%s, %s]", c.n, got, c.min, c.max)
		}
	}
}

// TestRetryAfterWins: a server's Retry-After replaces the schedule, is
// never shortened and is spread by at most a tenth.
func TestRetryAfterWins(t *testing.T) {
	p := backoff.Policy{Base: 2 * time.Second, Max: 30 * time.Second}
	for _, n := range []int{1, 4, 50} {
		if got := p.DelayAt(n, 7*time.Second, 0); got != 7*time.Second {
			t.Errorf("n=%d: DelayAt(Retry-After 7s, r=0) = %s, want 7s", n, got)
		}
		if got := p.DelayAt(n, 7*time.Second, 0.5); got != 7350*time.Millisecond {
			t.Errorf("n=%d: DelayAt(Retry-After 7s, r=0.5) = %s, want 7.35s", n, got)
		}
		// Longer than Max: the server's word still wins.
		if got := p.DelayAt(n, time.Hour, 0); got != time.Hour {
			t.Errorf("n=%d: DelayAt(Retry-After 1h) = %s, want 1h", n, got)
		}
	}
}

// TestDelayIsRandomWithinBounds: Delay draws its own jitter, always within
// the documented range, and does not always return the same wait.
func TestDelayIsRandomWithinBounds(t *testing.T) {
	p := backoff.Policy{Base: time.Second, Max: time.Minute}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := p.Delay(3, 0)
		if d < 2*time.Second || d >= 4*time.Second {
			t.Fatalf("Delay(3) = %s, want [2s, 4s)", d)
		}
		seen[d] = true
		if ra := p.Delay(3, 10*time.Second); ra < 10*time.Second || ra > 11*time.Second {
			t.Fatalf("Delay(3, Retry-After 10s) = %s, want [10s, 11s]", ra)
		}
	}
	if len(seen) < 2 {
		t.Fatalf("200 delays were all %v: no jitter", seen)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		p  backoff.Policy
		ok bool
	}{
		{backoff.Policy{Base: time.Second, Max: time.Second}, true},
		{backoff.Policy{Base: time.Second, Max: time.Hour}, true},
		{backoff.Policy{}, false},
		{backoff.Policy{Base: -time.Second, Max: time.Second}, false},
		{backoff.Policy{Base: time.Minute, Max: time.Second}, false},
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", c.p, err, c.ok)
		}
	}
}
