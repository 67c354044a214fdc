// Package backoff is gustosync's one schedule of exponential backoff with
// jitter. The token manager (retries of the token endpoint), the sync jobs
// (asynq's retry delay and retries of one Gusto request inside an attempt)
// and the alert dispatcher (webhook deliveries) all wait by a Policy.
//
// It owns the arithmetic only: it never sleeps, never retries, never counts
// attempts and holds no state, so a caller's clock (real or simulated)
// decides when the wait is over.
package backoff
