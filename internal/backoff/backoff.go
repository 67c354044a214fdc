package backoff

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy is exponential backoff with equal jitter. The ceiling of the n-th
// wait (n ≥ 1: the wait after the n-th failure in a row) is
//
//	ceiling(n) = min(Base·2^(n-1), Max)
//
// and the wait itself is drawn uniformly from [ceiling/2, ceiling): never
// less than half the ceiling (so the schedule still grows), spread over the
// other half (so that many workers failing together do not come back
// together). With Base 2 s and Max 30 s (the token manager's default):
//
//	n        1       2       3       4        5 and on
//	ceiling  2 s     4 s     8 s     16 s     30 s
//	wait     1–2 s   2–4 s   4–8 s   8–16 s   15–30 s
//
// When the server said when to come back (Retry-After), that wins over the
// schedule: see Delay. The zero Policy waits nothing; use Validate to refuse
// it in a configuration.
type Policy struct {
	// Base is the ceiling of the first wait.
	Base time.Duration
	// Max caps every ceiling.
	Max time.Duration
}

// Validate reports a policy whose schedule makes no sense: Base must be
// positive and Max at least Base.
func (p Policy) Validate() error {
	if p.Base <= 0 {
		return errors.New("backoff: Base must be positive")
	}
	if p.Max < p.Base {
		return fmt.Errorf("backoff: Max (%s) must not be below Base (%s)", p.Max, p.Base)
	}
	return nil
}

// Ceiling is min(Base·2^(n-1), Max), the longest n-th wait; n below 1
// counts as 1. It never overflows, whatever n.
func (p Policy) Ceiling(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Delay is the wait after the n-th failure in a row (n ≥ 1). retryAfter is
// what the server asked for (Retry-After; zero when it said nothing): when
// positive it is honoured, never shortened, and spread by up to a tenth
// more, so that a fleet told the same instant does not return at once;
// otherwise the wait follows the schedule. It is safe for concurrent use.
func (p Policy) Delay(n int, retryAfter time.Duration) time.Duration {
	return p.DelayAt(n, retryAfter, rand.Float64())
}

// DelayAt is Delay with its random number r (in [0, 1)) given: r = 0 gives
// the shortest wait, r near 1 the longest. For tests and for callers with
// their own source of randomness.
func (p Policy) DelayAt(n int, retryAfter time.Duration, r float64) time.Duration {
	if retryAfter > 0 {
		return retryAfter + time.Duration(r*float64(retryAfter/10))
	}
	c := p.Ceiling(n)
	return c/2 + time.Duration(r*float64(c-c/2))
}
