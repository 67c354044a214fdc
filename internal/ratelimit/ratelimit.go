package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/gusto"
)

// Defaults applied by New to zero Options fields.
const (
	// DefaultPrefix is Options.Prefix's default.
	DefaultPrefix = "gustosync:ratelimit:"
	// DefaultLimit is Options.Limit's default: Gusto's documented 200
	// requests per 60 s (https://docs.gusto.com/app-integrations/docs/rate-limits).
	DefaultLimit = 200
	// DefaultWindow is Options.Window's default: Gusto's 60 s window.
	DefaultWindow = 60 * time.Second
	// DefaultReserve is Options.Reserve's default.
	DefaultReserve = 2
	// DefaultMargin is Options.Margin's default.
	DefaultMargin = time.Second
)

// maxSleep bounds one wait between two looks at the budget, so that a
// budget that Redis lost or another process reset is seen within it.
const maxSleep = time.Second

// logEvery bounds how often one kind of header trouble is logged.
const logEvery = time.Minute

// Options configures a Limiter.
type Options struct {
	// Limit is the budget assumed per Window until Gusto's headers say
	// otherwise, and whenever they are missing or absurd (GUSTO_RATE_LIMIT).
	// Default DefaultLimit. A sane X-RateLimit-Limit replaces it for its
	// budget.
	Limit int
	// Window is the length of Gusto's rate-limit window, used to predict
	// the next window before Gusto's X-RateLimit-Reset says when it ends.
	// Default DefaultWindow.
	Window time.Duration
	// Reserve is how many requests of each window are never spent: they
	// absorb requests that Gusto counted out of order. Default
	// DefaultReserve; negative means none.
	Reserve int
	// Margin is added to a predicted window's end (Gusto opens the window
	// when the request arrives, after the permit). Default DefaultMargin.
	Margin time.Duration
	// Prefix is prepended to the budget's key to form the Redis key.
	// Default DefaultPrefix.
	Prefix string
	// Keys maps a company to the budget its requests spend from. Nil: each
	// company has its own budget (Gusto's limit per OAuth grant; since
	// strict access a company token is one grant for one company). See
	// KeyResolver for the other reading of Gusto's docs.
	Keys KeyResolver
	// Logger receives a warning, at most once a minute per kind, when
	// Gusto's headers are absurd or missing (pacing then falls back to
	// Limit per Window). Default: discard.
	Logger *slog.Logger
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

// Limiter is a per-budget rate limiter shared through Redis. It is safe for
// concurrent use, and processes sharing the Redis share each budget.
type Limiter struct {
	rdb  redis.UniversalClient
	o    Options
	log  *slog.Logger
	mu   sync.Mutex
	told map[string]time.Time // kind of header trouble → last logged
}

// New returns a Limiter over rdb.
func New(rdb redis.UniversalClient, o Options) (*Limiter, error) {
	if o.Limit == 0 {
		o.Limit = DefaultLimit
	}
	if o.Limit < 1 {
		return nil, errors.New("ratelimit: Limit must be at least 1")
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Window < 10*time.Millisecond {
		return nil, errors.New("ratelimit: Window must be at least 10ms")
	}
	switch {
	case o.Reserve == 0:
		o.Reserve = DefaultReserve
	case o.Reserve < 0:
		o.Reserve = 0
	}
	if o.Margin == 0 {
		o.Margin = DefaultMargin
	}
	if o.Margin < 0 {
		return nil, errors.New("ratelimit: Margin must not be negative")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{rdb: rdb, o: o, log: log, told: map[string]time.Time{}}, nil
}

// Wait blocks until companyUUID may send one request, takes that request
// from the company's budget (or the budget Options.Keys maps it to), and
// returns its Permit, whose Done folds the response's rate-limit headers
// back into the budget. It returns ctx's error when ctx ends first (at once
// when ctx's deadline comes before the permit would), and a wrapped Redis
// error when Redis cannot be reached (the request must not be sent: the
// caller retries later).
func (l *Limiter) Wait(ctx context.Context, companyUUID string) (gusto.Permit, error) {
	budget := companyUUID
	if l.o.Keys != nil {
		k, err := l.o.Keys.RateKey(ctx, companyUUID)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: company %s: rate key: %w", companyUUID, err)
		}
		budget = k
	}
	key := l.o.Prefix + budget
	for {
		res, err := acquireScript.Run(ctx, l.rdb, []string{key},
			l.o.Limit, l.o.Window.Milliseconds(), l.o.Margin.Milliseconds(), l.o.Reserve).Int64Slice()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("ratelimit: company %s: %w", companyUUID, err)
		}
		if len(res) != 3 {
			return nil, fmt.Errorf("ratelimit: company %s: acquire answered %d values", companyUUID, len(res))
		}
		if res[0] == 1 {
			return &permit{l: l, key: key, company: companyUUID, seq: res[1], gen: res[2]}, nil
		}
		wait := max(time.Duration(res[1])*time.Millisecond, time.Millisecond)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, fmt.Errorf("ratelimit: company %s: next request allowed in %s, after the deadline: %w", companyUUID, wait.Round(time.Millisecond), context.DeadlineExceeded)
		}
		t := time.NewTimer(min(wait, maxSleep))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// permit is one granted request: its budget, and its place (gen, seq) in
// the window it was granted in.
type permit struct {
	l        *Limiter
	key      string
	company  string
	seq, gen int64
}

// observeTimeout bounds the Redis call of Done, which runs even when the
// request's context has ended (the request may have been counted).
const observeTimeout = 2 * time.Second

// Done folds the response's rate-limit headers into the budget. Headers
// that are absurd, or missing from a 2xx (a gateway's 5xx has none), are
// logged (at most once a minute per kind)
// and leave the budget paced at Options.Limit per Options.Window; a 429
// always empties the window until its Retry-After.
func (p *permit) Done(ctx context.Context, h gusto.RateHeaders) {
	if h.Status == 0 {
		return // no answer: nothing learned, the permit stays spent
	}
	if h.Problem != "" {
		p.l.warn(ctx, "absurd", "gusto sent absurd rate-limit headers; ignoring them and pacing at the assumed limit",
			slog.String("company", p.company), slog.String("problem", h.Problem), slog.Int("assumed_limit", p.l.o.Limit), slog.Duration("window", p.l.o.Window))
	} else if !h.Complete() && h.Status >= 200 && h.Status <= 299 {
		p.l.warn(ctx, "missing", "gusto sent no complete rate-limit headers (X-RateLimit-Limit, -Remaining, -Reset); pacing at the assumed limit",
			slog.String("company", p.company), slog.Int("status", h.Status), slog.Int("assumed_limit", p.l.o.Limit), slog.Duration("window", p.l.o.Window))
	}
	lim, rem, resetIn := -1, -1, int64(-1)
	if h.Complete() {
		lim, rem, resetIn = h.Limit, h.Remaining, h.ResetIn.Milliseconds()
	} else if h.HasReset {
		resetIn = h.ResetIn.Milliseconds()
	}
	retryAfter := int64(-1)
	if h.RetryAfter > 0 {
		retryAfter = h.RetryAfter.Milliseconds()
	}
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), observeTimeout)
	defer cancel()
	err := observeScript.Run(octx, p.l.rdb, []string{p.key}, p.gen, p.seq, h.Status, lim, rem, resetIn, retryAfter,
		p.l.o.Window.Milliseconds(), 2*p.l.o.Margin.Milliseconds()).Err()
	if err != nil {
		p.l.warn(ctx, "redis", "recording gusto's rate-limit headers failed; the budget is paced without them",
			slog.String("company", p.company), slog.String("error", err.Error()))
	}
}

// warn logs msg at most once per logEvery for each kind.
func (l *Limiter) warn(ctx context.Context, kind, msg string, attrs ...slog.Attr) {
	now := time.Now()
	l.mu.Lock()
	last, seen := l.told[kind]
	if seen && now.Sub(last) < logEvery {
		l.mu.Unlock()
		return
	}
	l.told[kind] = now
	l.mu.Unlock()
	l.log.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}
