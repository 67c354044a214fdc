package gustosim

import (
	"sync"
	"time"
)

// window is Gusto's per-grant rate limit window as its documentation
// describes it: the window opens at the first request, closes `length`
// later, and a new one opens with the next request after that. At most
// `limit` requests are accepted per window.
type window struct {
	mu    sync.Mutex
	start time.Time
	count int
	last  time.Time // the latest request counted

	// The other consumer of the budget (Config.OtherConsumer): its next
	// request's time, and what it sent and had refused so far.
	otherNext             time.Time
	otherSent, otherLimit int64
}

// other plays the other consumer's requests due up to now, in time order,
// before the request at now is counted: every RateWindow/perWindow one
// request, each opening or counted in the window as any request is. It is
// played lazily, so an idle budget costs nothing; at most one window of
// them is played after a long quiet spell (earlier ones could not matter).
func (w *window) other(now time.Time, perWindow, limit int, length time.Duration) {
	if perWindow <= 0 {
		return
	}
	every := length / time.Duration(perWindow)
	if every <= 0 {
		every = time.Nanosecond
	}
	if w.otherNext.IsZero() || now.Sub(w.otherNext) > length {
		w.otherNext = now.Add(-length)
	}
	for !w.otherNext.After(now) {
		if ok, _, _ := w.admit(w.otherNext, limit, length); ok {
			w.otherSent++
		} else {
			w.otherLimit++
		}
		w.otherNext = w.otherNext.Add(every)
	}
}

// take records one request at now. It reports whether the request is
// allowed, how many remain in the window, and when the window closes.
func (w *window) take(now time.Time, limit int, length time.Duration) (ok bool, remaining int, reset time.Time) {
	return w.takeShared(now, limit, length, 0)
}

// takeShared is take after the other consumer's requests due by now
// (otherPerWindow per window; see other).
func (w *window) takeShared(now time.Time, limit int, length time.Duration, otherPerWindow int) (ok bool, remaining int, reset time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Before(w.last) && w.last.Sub(now) < time.Second {
		// Requests read the clock before taking the lock: one that lost
		// the race by a little is counted as at the latest time, so that
		// it cannot reopen a window the later one opened.
		now = w.last
	}
	w.other(now, otherPerWindow, limit, length)
	w.last = now
	return w.admit(now, limit, length)
}

// admit counts one request at now; w.mu is held.
func (w *window) admit(now time.Time, limit int, length time.Duration) (ok bool, remaining int, reset time.Time) {
	if w.count == 0 || !now.Before(w.start.Add(length)) || now.Before(w.start) {
		w.start, w.count = now, 0
	}
	reset = w.start.Add(length)
	if w.count >= limit {
		return false, 0, reset
	}
	w.count++
	return true, limit - w.count, reset
}

// retryAfterSeconds is the whole seconds until reset, at least 1.
func retryAfterSeconds(now, reset time.Time) int64 {
	d := reset.Sub(now)
	secs := int64((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}
