// Package ratelimit paces Gusto API requests per OAuth grant (per company),
// or per resource owner where Options.Keys says so (GUSTO_RATE_LIMIT_KEY),
// across every worker process, with a GCRA limiter held in Redis
// (github.com/go-redis/redis_rate), so that the sum of all workers stays
// under Gusto's limit of 200 requests per rolling 60 s per grant.
//
// It owns the pacing only: it never sees a token or a request, and it does
// not retry anything. A *Limiter implements gusto.Limiter.
package ratelimit
