package gusto

import (
	"slices"
	"sync"
	"time"
)

// skewSamples is how many recent measurements the skew estimate is the
// median of.
const skewSamples = 15

// skewEstimator turns per-response measurements (measureSkew) into the one
// estimate the client applies: the median of the last skewSamples
// measurements. A single bad Date header (a proxy's cached answer, a
// misconfigured edge) is an outlier the median ignores, so it cannot make
// expired tokens look fresh, nor fresh ones expired. With fewer than three
// measurements there is no majority yet: the one closest to zero is taken
// (the least correction). The zero value is ready to use.
type skewEstimator struct {
	mu      sync.Mutex
	samples [skewSamples]time.Duration
	n, next int
}

// add records one measurement and returns the estimate.
func (e *skewEstimator) add(d time.Duration) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.samples[e.next] = d
	e.next = (e.next + 1) % skewSamples
	e.n = min(e.n+1, skewSamples)
	if e.n < 3 {
		best := e.samples[0]
		for _, s := range e.samples[1:e.n] {
			if s.Abs() < best.Abs() {
				best = s
			}
		}
		return best
	}
	sorted := make([]time.Duration, e.n)
	copy(sorted, e.samples[:e.n])
	slices.Sort(sorted)
	if e.n%2 == 1 {
		return sorted[e.n/2]
	}
	return (sorted[e.n/2-1] + sorted[e.n/2]) / 2
}
