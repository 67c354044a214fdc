package jobs

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/backoff"
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

// retryBackoff is the default retry delay of a sync task (see
// backoff.Policy): the n-th retry waits about 2 s·2^(n-1), capped at 10 min.
var retryBackoff = backoff.Policy{Base: 2 * time.Second, Max: 10 * time.Minute}

// RetryDelay is the server's asynq.RetryDelayFunc: a *RetryError's Delay
// when it has one; zero for asynq.ErrLeaseExpired (the worker died: resume at
// once, the checkpoint says where); otherwise retryBackoff over n, the
// retries counted so far (0 before the first retry): about 2 s, 4 s, 8 s …
// capped at 10 min.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var re *RetryError
	if errors.As(err, &re) && re.Delay > 0 {
		return re.Delay
	}
	if errors.Is(err, asynq.ErrLeaseExpired) {
		return 0
	}
	return retryBackoff.Delay(n+1, 0)
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
