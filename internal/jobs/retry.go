package jobs

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// RetryError hands a task back to asynq: the handler wraps every retryable
// failure in one, saying when to try again and whether the attempt counts
// against the task's MaxRetry. Configure the server with RetryDelay and
// IsFailure so that asynq honours both.
type RetryError struct {
	// Err is the cause.
	Err error
	// Delay is the wait before the next attempt; zero lets RetryDelay pick
	// the default backoff.
	Delay time.Duration
	// Failure counts the attempt against the task's retries. Attempts that
	// committed progress, waited for a 429, stood aside for another run of
	// the company or stopped for a shutdown do not count.
	Failure bool
}

func (e *RetryError) Error() string { return e.Err.Error() }

func (e *RetryError) Unwrap() error { return e.Err }

// Backoff bounds of the default retry delay (attempt n waits about
// BackoffBase·2^n, with equal jitter, at most BackoffMax).
const (
	BackoffBase = 2 * time.Second
	BackoffMax  = 10 * time.Minute
)

// RetryDelay is the server's asynq.RetryDelayFunc: a *RetryError's Delay
// when it has one; zero for asynq.ErrLeaseExpired (the worker died: resume at
// once, the checkpoint says where); otherwise exponential backoff with
// jitter over n, the retries counted so far: about 2 s, 4 s, 8 s … capped
// at 10 min.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var re *RetryError
	if errors.As(err, &re) && re.Delay > 0 {
		return re.Delay
	}
	if errors.Is(err, asynq.ErrLeaseExpired) {
		return 0
	}
	return backoff(n, BackoffBase, BackoffMax, rand.Float64())
}

// IsFailure is the server's IsFailure: a *RetryError counts only when its
// Failure is set; every other error counts.
func IsFailure(err error) bool {
	var re *RetryError
	if errors.As(err, &re) {
		return re.Failure
	}
	return true
}

// backoff returns base·2^n capped at max, with equal jitter (between half
// and all of it); r is a random number in [0, 1).
func backoff(n int, base, max time.Duration, r float64) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(r*float64(d/2))
}
