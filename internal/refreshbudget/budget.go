// Package refreshbudget provides the fleet-wide budget of token refreshes
// (TOKEN_REFRESH_RATE): a GCRA rate limit in Redis shared by every worker,
// whose slots go to the refresh whose token expires first.
//
// It owns two Redis keys per budget name and nothing else; it never calls
// Gusto and knows nothing of tokens beyond an expiry. It must never block:
// a refresh it defers is told how long to wait, and the caller keeps using
// its still-valid token meanwhile.
//
// # Design
//
// GCRA (the generic cell rate algorithm): one Redis value, the theoretical
// arrival time (TAT) of the next refresh. A refresh is admitted when TAT is
// not in the future; admitting one moves TAT one interval (1/rate) later.
// No burst tolerance: admissions are at least one interval apart, so no
// second of any clock sees more than rate refreshes.
//
// Priority: every refresh that asks joins a waiting room (a Redis sorted
// set scored by its token's expiry), and a free slot goes to the head of
// the room only, the token closest to expiry. The others are told to come
// back when slots for their rank will be free (rank × interval, at most
// MaxWait), and are served in expiry order as they come back. A waiter that
// stops asking (its worker died, its company went idle) is dropped from the
// room after StaleAfter, so it cannot hold the head. A token that is
// already expired scores lowest and so goes first: with the budget sized to
// the fleet (rate × refresh-ahead window ≥ companies), no token expires
// waiting.
//
// The whole decision is one Lua script (EVALSHA), atomic in Redis. Times
// come from the caller's clock (Budget.Now), so simulated time can drive it
// in benchmarks; workers' clocks agree to NTP's milliseconds, well below an
// interval at any sensible rate.
//
// Why a script and not a library: go-redis/redis_rate (removed from go.mod)
// is a plain GCRA with no notion of priority, and the waiting room must be
// decided in the same atomic step as the rate; the script is 30 lines.
package refreshbudget

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults applied by New when the corresponding Config field is zero.
const (
	// DefaultMaxWait is Config.MaxWait's default.
	DefaultMaxWait = 5 * time.Second
	// keyPrefix prefixes the budget's Redis keys.
	keyPrefix = "gustosync:refresh-budget:"
)

// Config configures a Budget.
type Config struct {
	// Redis holds the budget's state. Required.
	Redis redis.UniversalClient
	// Rate is the number of refreshes per second the whole fleet may send
	// (TOKEN_REFRESH_RATE). Required, positive.
	Rate float64
	// Name separates budgets sharing a Redis (tests). Default "tokens".
	Name string
	// MaxWait caps the wait told to a deferred refresh: it asks again at
	// least this often, keeping its place. Default DefaultMaxWait.
	MaxWait time.Duration
	// StaleAfter drops from the waiting room a refresh that has not asked
	// again for this long. Default 3×MaxWait.
	StaleAfter time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Budget is a fleet-wide refresh budget. It is safe for concurrent use, by
// any number of processes sharing the Redis.
type Budget struct {
	cfg      Config
	interval float64 // milliseconds between two admissions
	keys     []string
}

// New validates cfg and returns a Budget.
func New(cfg Config) (*Budget, error) {
	switch {
	case cfg.Redis == nil:
		return nil, errors.New("refreshbudget: Redis is required")
	case !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0):
		return nil, fmt.Errorf("refreshbudget: rate %v: must be a positive number of refreshes per second", cfg.Rate)
	case cfg.MaxWait < 0 || cfg.StaleAfter < 0:
		return nil, errors.New("refreshbudget: durations must not be negative")
	}
	if cfg.Name == "" {
		cfg.Name = "tokens"
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = 3 * cfg.MaxWait
	}
	if cfg.StaleAfter <= cfg.MaxWait {
		return nil, fmt.Errorf("refreshbudget: StaleAfter (%s) must be longer than MaxWait (%s)", cfg.StaleAfter, cfg.MaxWait)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := keyPrefix + cfg.Name
	return &Budget{cfg: cfg, interval: 1000 / cfg.Rate, keys: []string{p + ":tat", p + ":waiting", p + ":seen"}}, nil
}

// Rate is the budget's refreshes per second.
func (b *Budget) Rate() float64 { return b.cfg.Rate }

// admit is the decision, atomic in Redis. KEYS: tat, waiting, seen. ARGV:
// now (ms), interval (ms), member, expiry score (ms), stale (ms), max wait
// (ms). Returns 0 when admitted, else the wait in ms (≥ 1).
var admit = redis.NewScript(`
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local member, score = ARGV[3], tonumber(ARGV[4])
local stale, maxwait = tonumber(ARGV[5]), tonumber(ARGV[6])
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - stale)
for _, m in ipairs(gone) do redis.call('ZREM', KEYS[2], m) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - stale)
redis.call('ZADD', KEYS[2], score, member)
redis.call('ZADD', KEYS[3], now, member)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local rank = redis.call('ZRANK', KEYS[2], member)
if tat <= now and rank == 0 then
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZREM', KEYS[3], member)
  redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil(interval) + 60000)
  return 0
end
local wait = math.ceil((tat - now) + rank * interval)
if wait < 1 then wait = 1 end
if wait > maxwait then wait = maxwait end
return wait
`)

// Admit asks for one refresh of company, whose token expires at expires.
// It returns 0 when the refresh may be sent now (the slot is taken), else
// how long to wait before asking again (the place in the waiting room is
// kept while the caller asks at least every StaleAfter). An error means
// Redis could not decide; the caller chooses (the token manager refreshes
// anyway rather than let a token expire).
func (b *Budget) Admit(ctx context.Context, company string, expires time.Time) (time.Duration, error) {
	now := b.cfg.Now()
	ms, err := admit.Run(ctx, b.cfg.Redis, b.keys,
		now.UnixMilli(), b.interval, company, expires.UnixMilli(),
		b.cfg.StaleAfter.Milliseconds(), b.cfg.MaxWait.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("refreshbudget: admit a refresh of %s: %w", company, err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Forget removes company from the waiting room (its refresh was done by a
// sibling, or is no longer needed).
func (b *Budget) Forget(ctx context.Context, company string) error {
	pipe := b.cfg.Redis.TxPipeline()
	pipe.ZRem(ctx, b.keys[1], company)
	pipe.ZRem(ctx, b.keys[2], company)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("refreshbudget: forget %s: %w", company, err)
	}
	return nil
}
