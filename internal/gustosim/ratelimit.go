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
}

// take records one request at now. It reports whether the request is
// allowed, how many remain in the window, and when the window closes.
func (w *window) take(now time.Time, limit int, length time.Duration) (ok bool, remaining int, reset time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
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
