package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/waitfor"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// TestBare401FromTokenEndpointMarksNobody (issue 13, must show): while
// the token endpoint answers every request with a bare 401 (no OAuth
// body: a gateway or WAF, not Gusto refusing a grant), worker processes
// whose companies all need a refresh keep failing and retrying, and no
// company ends needs_reauth, no alert is written, no refused grant is
// recorded; each failure is counted on the company (consecutive_failures,
// token_refresh_events outcome transient). Once the fault clears, the
// refreshes go through, every sync completes exactly, and the failure
// count is back to zero.
func TestBare401FromTokenEndpointMarksNobody(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{RateLimit: 600})
	companies := []string{w.company(20, 5), w.company(20, 5), w.company(20, 5)}
	// Every stored access token is past its expiry: any sync refreshes first.
	if err := w.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET access_token_expiration = now() - interval '1 hour',
		issued_at = now() - interval '3 hours'`).Error; err != nil {
		t.Fatal(err)
	}
	w.sim.Update(func(c *gustosim.Config) { c.TokenBareUnauthorized = true })
	procs := []*proc{w.start("edge-1", "GUSTO_RATE_LIMIT=600"), w.start("edge-2", "GUSTO_RATE_LIMIT=600")}
	runs := make([]string, len(companies))
	for i, c := range companies {
		runs[i] = uuid.NewString()
		w.enqueue(c, runs[i])
	}

	failures := func(company string) int {
		var n int
		if err := w.db.Gorm.Raw(`SELECT consecutive_failures FROM gusto_auth_tokens WHERE company_uuid = ?`, company).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// "A while": every company has failed at least three times, over at
	// least one asynq retry of its sync, and the endpoint refused a dozen
	// requests.
	waitfor.Condition(t, 3*time.Minute, "every company to fail its refresh three times", func() bool {
		for _, c := range companies {
			if failures(c) < 3 {
				return false
			}
		}
		return w.sim.Counters().InjectedUnauthorized >= 12
	})
	check := func(q string, want int) {
		t.Helper()
		var n int
		if err := w.db.Gorm.Raw(q).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("%s = %d, want %d", q, n, want)
		}
	}
	check(`SELECT count(*) FROM gusto_auth_tokens WHERE status <> 'active'`, 0)
	check(`SELECT count(*) FROM alert_outbox`, 0)
	check(`SELECT count(*) FROM token_refresh_events WHERE outcome = 'revoked'`, 0)
	var transient int
	if err := w.db.Gorm.Raw(`SELECT count(*) FROM token_refresh_events WHERE outcome = 'transient'`).Row().Scan(&transient); err != nil || transient < 9 {
		t.Fatalf("%d transient refresh events (%v), want every failed attempt recorded (at least 9)", transient, err)
	}
	// The metric the GustosyncTokenRefreshTransientErrors alert reads.
	var counted float64
	for _, p := range procs {
		_, body := get(t, "http://"+p.addr(t)+"/metrics")
		counted += metricValue(body, `gustosync_token_refreshes_total{outcome="transient"}`)
	}
	if counted < 9 {
		t.Fatalf("gustosync_token_refreshes_total{outcome=\"transient\"} = %v over the workers, want every failed attempt (at least 9)", counted)
	}
	for _, r := range runs {
		if got, ok := w.run(r); ok && (got.Status == "succeeded" || got.Status == "failed") {
			t.Fatalf("run %s is %s while the token endpoint refused every request", r, got.Status)
		}
	}

	// The fault clears: refreshes resume, every sync completes.
	w.sim.Update(func(c *gustosim.Config) { c.TokenBareUnauthorized = false })
	for _, r := range runs {
		w.waitRun(r, "succeeded", 3*time.Minute)
	}
	for _, c := range companies {
		rowcheck.Require(t, w.pool(), w.sim, c)
		if n := failures(c); n != 0 {
			t.Fatalf("company %s: consecutive_failures %d after a refresh succeeded, want 0", c, n)
		}
	}
	check(`SELECT count(*) FROM gusto_auth_tokens WHERE status <> 'active'`, 0)
	check(`SELECT count(*) FROM alert_outbox`, 0)
	check(`SELECT count(*) FROM token_refresh_events WHERE outcome = 'refreshed'`, len(companies))
	t.Logf("bare 401s answered: %d; transient refresh events: %d", w.sim.Counters().InjectedUnauthorized, transient)
}

// metricValue is the value of the sample named series (name and labels as
// the text exposition writes them) in a /metrics body, or 0.
func metricValue(body, series string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}
