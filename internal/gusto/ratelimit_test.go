package gusto

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReadRateHeaders: Gusto's documented headers are read against the
// response's Date; absent ones are -1 without a problem; absurd ones are
// dropped and named in Problem.
func TestReadRateHeaders(t *testing.T) {
	date := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	received := date.Add(-3 * time.Hour) // the local clock is far off: Date rules
	reset := func(d time.Duration) string {
		return date.Add(d).In(time.FixedZone("", -7*3600)).Format(rateResetLayout)
	}
	for _, tc := range []struct {
		name               string
		status             int
		headers            map[string]string
		noDate             bool
		limit, remaining   int
		resetIn            time.Duration
		hasReset, complete bool
		retryAfter         time.Duration
		problem            string // a substring; "" means none
	}{
		{name: "documented 200", status: 200, headers: map[string]string{"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "198", "X-RateLimit-Reset": reset(40 * time.Second)},
			limit: 200, remaining: 198, resetIn: 41 * time.Second, hasReset: true, complete: true},
		{name: "documented 429", status: 429, headers: map[string]string{"Retry-After": "30"},
			limit: -1, remaining: -1, retryAfter: 30 * time.Second},
		{name: "absent", status: 200, limit: -1, remaining: -1},
		{name: "reset as RFC 3339", status: 200, headers: map[string]string{"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": date.Add(5 * time.Second).Format(time.RFC3339)},
			limit: 200, remaining: 0, resetIn: 6 * time.Second, hasReset: true, complete: true},
		{name: "no Date: local clock and skew", status: 200, noDate: true, headers: map[string]string{"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": reset(10 * time.Second)},
			limit: 200, remaining: 5, resetIn: 11 * time.Second, hasReset: true, complete: true},
		{name: "limit not a number", status: 200, headers: map[string]string{"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": reset(10 * time.Second)},
			limit: -1, remaining: -1, resetIn: 11 * time.Second, hasReset: true, problem: "X-RateLimit-Limit \"lots\" is not an integer"},
		{name: "limit zero", status: 200, headers: map[string]string{"X-RateLimit-Limit": "0", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset(10 * time.Second)},
			limit: -1, remaining: -1, resetIn: 11 * time.Second, hasReset: true, problem: "X-RateLimit-Limit \"0\" is outside"},
		{name: "limit huge", status: 200, headers: map[string]string{"X-RateLimit-Limit": "99999999999", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": reset(10 * time.Second)},
			limit: -1, remaining: -1, resetIn: 11 * time.Second, hasReset: true, problem: "is outside"},
		{name: "remaining above limit", status: 200, headers: map[string]string{"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "201", "X-RateLimit-Reset": reset(10 * time.Second)},
			limit: 200, remaining: -1, resetIn: 11 * time.Second, hasReset: true, problem: "above X-RateLimit-Limit"},
		{name: "remaining negative", status: 200, headers: map[string]string{"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "-3", "X-RateLimit-Reset": reset(10 * time.Second)},
			limit: 200, remaining: -1, resetIn: 11 * time.Second, hasReset: true, problem: "is negative"},
		{name: "reset garbage", status: 200, headers: map[string]string{"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": strings.Repeat("x", 100)},
			limit: 200, remaining: 5, problem: "is not a datetime"},
		{name: "reset in the past", status: 200, headers: map[string]string{"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": reset(-time.Hour)},
			limit: 200, remaining: 5, problem: "before the response's Date"},
		{name: "reset far ahead", status: 200, headers: map[string]string{"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": reset(24 * time.Hour)},
			limit: 200, remaining: 5, problem: "ahead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			serverDate := date
			if tc.noDate {
				serverDate = time.Time{}
			}
			got := readRateHeaders(tc.status, h, serverDate, received, 3*time.Hour)
			if got.Status != tc.status || got.Limit != tc.limit || got.Remaining != tc.remaining || got.ResetIn != tc.resetIn ||
				got.HasReset != tc.hasReset || got.Complete() != tc.complete || got.RetryAfter != tc.retryAfter {
				t.Errorf("got %+v (complete %v)", got, got.Complete())
			}
			if (tc.problem == "") != (got.Problem == "") || !strings.Contains(got.Problem, tc.problem) {
				t.Errorf("problem %q, want one containing %q", got.Problem, tc.problem)
			}
			if len(got.Problem) > 200 {
				t.Errorf("problem not cut short: %d bytes", len(got.Problem))
			}
		})
	}
}
