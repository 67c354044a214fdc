package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is Options.Prefix's default.
const DefaultPrefix = "gustosync:ratelimit:"

// Options configures a Limiter.
type Options struct {
	// PerMinute is the most requests one company may send in any rolling
	// 60 s, summed over every process sharing the Redis. Required (> 0).
	PerMinute int
	// Burst is how many requests may go at once after a quiet spell. The
	// steady rate is PerMinute-Burst per minute, so that a burst followed by
	// a minute at the steady rate still fits in PerMinute. Zero means
	// PerMinute/20 (at least 1); it must be below PerMinute.
	Burst int
	// Prefix is prepended to the budget's key to form the Redis key.
	// Default DefaultPrefix.
	Prefix string
	// Keys maps a company to the budget its requests spend from. Nil: each
	// company has its own budget (Gusto's limit per OAuth grant; since
	// strict access a company token is one grant for one company). See
	// KeyResolver for the other reading of Gusto's docs.
	Keys KeyResolver
}

// KeyResolver maps a company to the key of the rate budget its requests
// spend from. Gusto's rate-limit docs say "per OAuth grant" on one page and
// "per user-application pair" on an older one (GUSTO.md, "Limits"): under
// the second, every company an accountant reaches shares one budget, keyed
// by the grant's resource owner (tokens.Manager.ResourceOwner). It must be
// safe for concurrent use; an error stops the request (the caller retries
// later), so an implementation that cannot tell should fall back to the
// company rather than fail.
type KeyResolver interface {
	RateKey(ctx context.Context, companyUUID string) (string, error)
}

// KeyFunc adapts a function to a KeyResolver.
type KeyFunc func(ctx context.Context, companyUUID string) (string, error)

// RateKey calls f.
func (f KeyFunc) RateKey(ctx context.Context, companyUUID string) (string, error) {
	return f(ctx, companyUUID)
}

// Limiter is a per-company rate limiter shared through Redis. It is safe for
// concurrent use, and processes sharing the Redis share each company's
// budget. The GCRA runs in Redis on Redis's clock, so the processes' clocks
// need not agree.
type Limiter struct {
	rl     *redis_rate.Limiter
	limit  redis_rate.Limit
	prefix string
	keys   KeyResolver // nil: the company
}

// New returns a Limiter over rdb.
func New(rdb redis.UniversalClient, o Options) (*Limiter, error) {
	if o.PerMinute < 1 {
		return nil, errors.New("ratelimit: PerMinute must be at least 1")
	}
	if o.Burst == 0 {
		o.Burst = max(1, o.PerMinute/20)
	}
	if o.Burst < 1 || (o.PerMinute > 1 && o.Burst >= o.PerMinute) {
		return nil, fmt.Errorf("ratelimit: Burst must be between 1 and PerMinute-1 (%d)", o.PerMinute-1)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	rate := o.PerMinute - o.Burst
	if rate < 1 { // PerMinute == 1: one request a minute, no burst beyond it
		rate, o.Burst = 1, 1
	}
	return &Limiter{
		rl:     redis_rate.NewLimiter(rdb),
		limit:  redis_rate.Limit{Rate: rate, Period: time.Minute, Burst: o.Burst},
		prefix: o.Prefix,
		keys:   o.Keys,
	}, nil
}

// Limit returns the GCRA limit in force (rate per minute and burst).
func (l *Limiter) Limit() (ratePerMinute, burst int) { return l.limit.Rate, l.limit.Burst }

// Wait blocks until companyUUID may send one request, and takes that
// request from the company's budget (or the budget Options.Keys maps it
// to). It returns ctx's error when ctx ends first, and a wrapped Redis error
// when Redis cannot be reached (the request must not be sent: the caller
// retries later).
func (l *Limiter) Wait(ctx context.Context, companyUUID string) error {
	budget := companyUUID
	if l.keys != nil {
		k, err := l.keys.RateKey(ctx, companyUUID)
		if err != nil {
			return fmt.Errorf("ratelimit: company %s: rate key: %w", companyUUID, err)
		}
		budget = k
	}
	key := l.prefix + budget
	for {
		res, err := l.rl.Allow(ctx, key, l.limit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("ratelimit: company %s: %w", companyUUID, err)
		}
		if res.Allowed > 0 {
			return nil
		}
		wait := res.RetryAfter
		if wait <= 0 {
			wait = time.Millisecond
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("ratelimit: company %s: next request allowed in %s, after the deadline: %w", companyUUID, wait.Round(time.Millisecond), context.DeadlineExceeded)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
