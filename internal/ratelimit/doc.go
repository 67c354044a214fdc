// Package ratelimit paces Gusto API requests per rate budget (per OAuth
// grant, i.e. per company, or per resource owner where Options.Keys says so:
// GUSTO_RATE_LIMIT_KEY) across every worker process, from Gusto's own count
// of the budget: the X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset headers of each response
// (https://docs.gusto.com/embedded-payroll/v2024-04-01/docs/rate-limits).
// So requests that another consumer of the same grant spends are accounted
// for, and the fleet uses the whole budget (less Options.Reserve) without a
// 429.
//
// The state of each budget is one Redis hash, read and changed only by two
// Lua scripts (atomic, on Redis's clock, so the processes' clocks need not
// agree): acquire (script.go, acquireScript) spreads what remains of the
// window evenly over the time left; observe (observeScript) lowers the
// remaining count to what Gusto says, less the permits granted after the
// observed request. Without sane headers it paces Options.Limit per
// Options.Window, and says so in the log.
//
// It owns the pacing only: it never sees a token or a request, and it does
// not retry anything. A *Limiter implements gusto.Limiter.
package ratelimit
