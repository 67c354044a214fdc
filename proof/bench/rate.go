package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/proof/devstack"
)

// Rate limit: rateCompanies companies, each large enough to keep its grant
// busy for longer than the measured minute.
const (
	rateCompanies = 3
	rateEmployees = 60_000
	rateWarmup    = 5 * time.Second
	rateWindow    = 60 * time.Second
	// rateOther is what another consumer of each grant spends per window
	// in the second measurement.
	rateOther = 50
)

// rateLimit measures the API request rate spent per grant against the
// simulator's per-grant limit (Gusto's: 200 per 60 s window), with the 429s
// it answered: first with the workers alone, then with another consumer of
// every grant spending rateOther of each window (the workers see it only in
// Gusto's X-RateLimit-Remaining).
func rateLimit(ctx context.Context, b *bencher) error {
	st, err := b.stack(ctx, "rate", gustosim.Config{TokenLifetime: time.Hour}, map[string]string{"WORKER_CONCURRENCY": "4"})
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := st.Sim.Sim.Config()
	opts := make([]gustosim.CompanyOptions, rateCompanies)
	for i := range opts {
		opts[i] = gustosim.CompanyOptions{Employees: rateEmployees, Payrolls: 12}
	}
	companies, err := st.Onboard(ctx, opts...)
	if err != nil {
		return err
	}
	if _, err := st.StartWorkers(ctx, 2); err != nil {
		return err
	}
	env, err := st.ClientEnv("enqueue", nil)
	if err != nil {
		return err
	}
	if err := st.Sup.Run(ctx, devstack.Spec{Name: "enqueue", Path: filepath.Join(b.binDir, "scheduler"), Args: []string{"enqueue", "--all"}, Env: env.List()}); err != nil {
		return err
	}
	started := time.Now()
	sample := func() map[string]devstack.CompanyTraffic { t, _ := st.Sim.Traffic(); return t }
	if err := st.WaitFor(ctx, 30*time.Second, 50*time.Millisecond, func(context.Context) (bool, error) {
		t := sample()
		for _, c := range companies {
			if t[c].Requests == 0 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return fmt.Errorf("waiting for the syncs to start: %w", err)
	}
	limit := float64(cfg.RateLimit) / cfg.RateWindow.Minutes()
	// measure samples one rateWindow after a warm-up: per grant, our
	// requests and the other consumer's per minute, and the 429s to either.
	measure := func(label string, other int) error {
		st.Sim.Sim.Update(func(c *gustosim.Config) { c.OtherConsumer = other })
		if !sleepCtx(ctx, rateWarmup) {
			return ctx.Err()
		}
		before, otherBefore, t1 := sample(), st.Sim.Sim.Counters(), time.Now()
		if !sleepCtx(ctx, rateWindow) {
			return ctx.Err()
		}
		after, otherAfter, t2 := sample(), st.Sim.Sim.Counters(), time.Now()
		mins := t2.Sub(t1).Minutes()
		ours := func(c string) float64 { return float64(after[c].Requests-before[c].Requests) / mins }
		theirs := func(c string) float64 {
			return float64(otherAfter.OtherConsumer[c]-otherBefore.OtherConsumer[c]) / mins
		}
		lo, hi := ours(companies[0])+theirs(companies[0]), 0.0
		var n429, their429 int64
		var ourSum, theirSum float64
		for _, c := range companies {
			total := ours(c) + theirs(c)
			lo, hi = min(lo, total), max(hi, total)
			ourSum, theirSum = ourSum+ours(c), theirSum+theirs(c)
			n429 += after[c].RateLimited
			their429 += otherAfter.OtherConsumerRefused[c]
		}
		n := float64(len(companies))
		b.check("rate limit", "API requests per grant per minute, "+label, lo >= 0.95*limit && n429 == 0 && their429 == 0,
			fmt.Sprintf("%.0f–%.0f (%.1f%%–%.1f%% of the limit; ours %.0f, the other consumer's %.0f on average), %d × 429 to us, %d to the other consumer",
				lo, hi, lo/limit*100, hi/limit*100, ourSum/n, theirSum/n, n429, their429),
			fmt.Sprintf("limit %.0f per %s per grant (the simulator, as Gusto); goal ≥ 95%% of it (%.0f) with 0 × 429 (the judge of the limit: a sample not aligned with Gusto's windows may hold a request or two more)", float64(cfg.RateLimit), cfg.RateWindow, 0.95*limit),
			fmt.Sprintf("%d companies synced at once by 2 workers pacing from Gusto's X-RateLimit-* headers (GUSTO_RATE_LIMIT %d, the default); another consumer of each grant spends %d per window; measured over %s after %s of warm-up; 429s counted from the start (%s)",
				len(companies), cfg.RateLimit, other, t2.Sub(t1).Round(time.Second), rateWarmup, time.Since(started).Round(time.Second)))
		return nil
	}
	if err := measure("alone", 0); err != nil {
		return err
	}
	return measure("with another consumer", rateOther)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
