package ratelimit

import "github.com/redis/go-redis/v9"

// The state of one budget is a hash:
//
//	lim    the budget per window Gusto last said (X-RateLimit-Limit); absent
//	       until a response said it, then Options.Limit is assumed
//	rem    requests the window still has, as far as we know
//	reset  when the window resets, unix ms on Redis's clock
//	gen    the window's number: a new window (reset passed, or Gusto says
//	       a later one began) increments it
//	seq    permits granted in this window
//	next   earliest unix ms of the next permit (the even spacing)
//	obs    the gen whose reset came from Gusto's headers (not predicted)
//
// It expires one window after its reset, so an idle budget costs nothing.

// acquireScript grants one permit or says how long to wait.
// KEYS[1] the budget; ARGV: assumed limit, window ms, margin ms, reserve.
// Returns {1, seq, gen} or {0, wait ms, gen}.
//
// A window that has passed is replaced by a predicted one: the whole limit,
// resetting a window and a margin from now (Gusto's window opens with the
// first request after the last one closed). What remains above the reserve
// is spread evenly over the time left: the next permit is due
// (reset-now)/(rem-reserve) after this one.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lim = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local margin = tonumber(ARGV[3])
local reserve = tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'lim', 'rem', 'reset', 'gen', 'seq', 'next')
if h[1] then lim = tonumber(h[1]) end
local rem, reset, gen, seq, nxt = tonumber(h[2]), tonumber(h[3]), tonumber(h[4]) or 0, tonumber(h[5]), tonumber(h[6])
if not reset or not rem or now >= reset then
  gen = gen + 1
  rem = lim
  reset = now + window + margin
  seq = 0
  nxt = now
end
reserve = math.min(reserve, lim - 1)
local avail = rem - reserve
if avail < 1 then
  redis.call('HSET', KEYS[1], 'rem', rem, 'reset', reset, 'gen', gen, 'seq', seq or 0, 'next', nxt or now)
  redis.call('PEXPIRE', KEYS[1], reset - now + window)
  return {0, reset - now, gen}
end
if nxt and now < nxt then
  return {0, nxt - now, gen}
end
rem = rem - 1
seq = (seq or 0) + 1
local interval = math.floor((reset - now) / avail)
redis.call('HSET', KEYS[1], 'rem', rem, 'reset', reset, 'gen', gen, 'seq', seq, 'next', now + interval)
redis.call('PEXPIRE', KEYS[1], reset - now + window)
return {1, seq, gen}
`)

// observeScript folds one response's headers into the budget.
// KEYS[1] the budget; ARGV: the permit's gen and seq, status, limit,
// remaining, reset-in ms (-1 for each header absent or absurd), retry-after
// ms (-1 absent), window ms, tolerance ms.
// Returns 1 when the state changed, 0 otherwise.
//
//   - A 429 empties the window, whatever window the permit was from, until
//     Retry-After (or the reset Gusto said) has passed.
//   - Complete headers of the current window: Gusto had counted its budget
//     down to Remaining when it served this request; the permits granted
//     after this one may not be counted yet, so the window has at most
//     Remaining - (seq now - the permit's seq) left: rem only goes down.
//     The reset is Gusto's: each answer's X-RateLimit-Reset less its Date,
//     plus the second both are truncated to, is a bound the true reset is
//     before, so the first answer of a window replaces the predicted reset
//     and later ones can only bring it earlier. A reset more than the tolerance after ours means
//     Gusto began a new window (ours was predicted early): it starts a new
//     generation from Gusto's numbers.
//   - Headers of an earlier window are stale and ignored.
var observeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pgen, pseq = tonumber(ARGV[1]), tonumber(ARGV[2])
local status, lim, remaining, resetIn, retryAfter = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local window, tolerance = tonumber(ARGV[8]), tonumber(ARGV[9])
local h = redis.call('HMGET', KEYS[1], 'rem', 'reset', 'gen', 'seq', 'obs')
local rem, reset, gen, seq, obs = tonumber(h[1]), tonumber(h[2]), tonumber(h[3]), tonumber(h[4]), tonumber(h[5])
if not reset or not gen then return 0 end
if status == 429 then
  local until_ = reset
  if retryAfter >= 0 then until_ = now + retryAfter elseif resetIn >= 0 then until_ = now + resetIn end
  if until_ < now + 1000 then until_ = now + 1000 end
  redis.call('HSET', KEYS[1], 'rem', 0, 'reset', until_)
  if lim > 0 then redis.call('HSET', KEYS[1], 'lim', lim) end
  redis.call('PEXPIRE', KEYS[1], until_ - now + window)
  return 1
end
if pgen ~= gen or lim < 1 or remaining < 0 or resetIn < 0 then return 0 end
local obsReset = now + resetIn
local left = remaining - (seq - pseq)
if obsReset > reset + tolerance then
  redis.call('HSET', KEYS[1], 'lim', lim, 'rem', math.max(left, 0), 'reset', obsReset, 'gen', gen + 1, 'seq', 0, 'obs', gen + 1)
else
  if left < rem then rem = math.max(left, 0) end
  if obs == gen and reset < obsReset then obsReset = reset end
  redis.call('HSET', KEYS[1], 'lim', lim, 'rem', rem, 'reset', obsReset, 'obs', gen)
end
redis.call('PEXPIRE', KEYS[1], resetIn + window)
return 1
`)
