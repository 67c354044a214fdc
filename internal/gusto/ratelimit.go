package gusto

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Limiter paces API requests per company (Gusto limits each grant to 200
// requests per rolling 60 s). Wait blocks until a request may be sent or ctx
// ends, and returns the Permit of that request. It must be safe for
// concurrent use.
type Limiter interface {
	Wait(ctx context.Context, companyUUID string) (Permit, error)
}

// Permit is one request's place in its rate budget. The client calls Done
// exactly once per Permit: with the response's rate-limit headers, or with
// NoResponse when no answer came (transport error, cancelled request). A nil
// Permit is allowed and never called.
type Permit interface {
	Done(ctx context.Context, h RateHeaders)
}

// Sanity bounds of the rate-limit headers: a value outside them is absurd,
// reported in RateHeaders.Problem and not used.
const (
	// MaxRateLimitHeader is the largest X-RateLimit-Limit believed (Gusto
	// documents 200).
	MaxRateLimitHeader = 100_000
	// MaxRateResetAhead is the furthest ahead of the response's Date an
	// X-RateLimit-Reset is believed (Gusto's window is 60 s).
	MaxRateResetAhead = 10 * time.Minute
)

// rateResetLayout is X-RateLimit-Reset's format in Gusto's changelog
// (https://docs.gusto.com/embedded-payroll/changelog/added-rate-limit-headers:
// "X-RateLimit-Reset: 2025-07-08 15:35:40 -0700").
const rateResetLayout = "2006-01-02 15:04:05 -0700"

// RateHeaders are Gusto's rate-limit headers of one API response, read and
// checked (https://docs.gusto.com/embedded-payroll/v2024-04-01/docs/rate-limits,
// "API response headers"): X-RateLimit-Limit, X-RateLimit-Remaining,
// X-RateLimit-Reset, and Retry-After on a 429. They come from outside: each
// value is checked, and an absurd one is dropped (as if absent) and named in
// Problem.
type RateHeaders struct {
	// Status is the response's HTTP status; 0 when no response came.
	Status int
	// Limit is X-RateLimit-Limit, the requests allowed in the window: 1 to
	// MaxRateLimitHeader, or -1 when absent or absurd.
	Limit int
	// Remaining is X-RateLimit-Remaining: 0 to Limit, or -1 when absent or
	// absurd (or Limit is).
	Remaining int
	// ResetIn is how long after the response the window resets: the
	// X-RateLimit-Reset datetime minus the response's Date (both Gusto's
	// clock, so the clocks' skew does not matter), plus one second because
	// both headers are truncated to the second. Zero when HasReset is false.
	ResetIn time.Duration
	// HasReset reports that X-RateLimit-Reset came, parsed, and lies
	// between the response's Date (less a second) and MaxRateResetAhead.
	HasReset bool
	// RetryAfter is the Retry-After of a 429, zero when absent.
	RetryAfter time.Duration
	// Problem names each header that came with an absurd value, and why;
	// "" when every header was absent or sane. It holds no secret (the
	// values are numbers and dates, quoted and cut short).
	Problem string
}

// NoResponse is the RateHeaders of a request that got no answer.
var NoResponse = RateHeaders{Limit: -1, Remaining: -1}

// Complete reports whether Limit, Remaining and the reset all came sane:
// only then can a limiter pace from them.
func (h RateHeaders) Complete() bool { return h.Limit > 0 && h.Remaining >= 0 && h.HasReset }

// readRateHeaders reads the rate-limit headers of a response received at
// receivedAt (local clock) whose Date header said serverDate (zero when
// absent); skew corrects the local clock when Date is absent.
func readRateHeaders(status int, h http.Header, serverDate, receivedAt time.Time, skew time.Duration) RateHeaders {
	out := RateHeaders{Status: status, Limit: -1, Remaining: -1}
	var problems []string
	bad := func(name, v, why string) {
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		problems = append(problems, name+" "+strconv.Quote(v)+" "+why)
	}
	intHeader := func(name string) (int, string, bool) {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			return 0, "", false
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			bad(name, v, "is not an integer")
			return 0, v, false
		}
		return n, v, true
	}
	if n, v, ok := intHeader("X-RateLimit-Limit"); ok {
		if n < 1 || n > MaxRateLimitHeader {
			bad("X-RateLimit-Limit", v, "is outside 1.."+strconv.Itoa(MaxRateLimitHeader))
		} else {
			out.Limit = n
		}
	}
	if n, v, ok := intHeader("X-RateLimit-Remaining"); ok {
		switch {
		case n < 0:
			bad("X-RateLimit-Remaining", v, "is negative")
		case out.Limit > 0 && n > out.Limit:
			bad("X-RateLimit-Remaining", v, "is above X-RateLimit-Limit")
		case out.Limit > 0:
			out.Remaining = n
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		ref := serverDate
		if ref.IsZero() {
			ref = receivedAt.Add(skew)
		}
		reset, ok := parseRateReset(v)
		switch d := reset.Sub(ref); {
		case !ok:
			bad("X-RateLimit-Reset", v, "is not a datetime")
		case d < -time.Second:
			bad("X-RateLimit-Reset", v, "is before the response's Date")
		case d > MaxRateResetAhead:
			bad("X-RateLimit-Reset", v, "is more than "+MaxRateResetAhead.String()+" ahead")
		default:
			out.ResetIn, out.HasReset = max(d, 0)+time.Second, true
		}
	}
	if status == http.StatusTooManyRequests {
		out.RetryAfter = retryAfter(h, serverDate, receivedAt, skew)
	}
	out.Problem = strings.Join(problems, "; ")
	return out
}

// parseRateReset reads X-RateLimit-Reset: Gusto's documented layout, or
// tolerantly RFC 3339, an HTTP date, or unix seconds.
func parseRateReset(v string) (time.Time, bool) {
	if t, err := time.Parse(rateResetLayout, v); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 1_000_000_000 && n < 100_000_000_000 {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}
