package waitfor

import "time"

// T is the part of testing.TB that Condition uses (so *testing.T and
// *testing.B both fit).
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// The poll interval starts at firstDelay and doubles up to maxDelay.
const (
	firstDelay = 2 * time.Millisecond
	maxDelay   = 100 * time.Millisecond
)

// Condition polls cond until it returns true, failing t with "timed out
// after <within> waiting for <what>" once within has passed. It polls
// quickly at first (a few ms) and backs off to at most 100 ms.
//
// cond runs on the caller's goroutine, so it may itself call t.Fatalf (for
// example when the thing being waited for has died).
func Condition(t T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	delay := firstDelay
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("timed out after %s waiting for %s", within, what)
			return // Fatalf does not return on a real T; a fake one may.
		}
		time.Sleep(min(delay, left))
		delay = min(2*delay, maxDelay)
	}
}
