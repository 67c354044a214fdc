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
	rateEmployees = 40_000
	rateWarmup    = 5 * time.Second
	rateWindow    = 60 * time.Second
)

// rateLimit measures the API request rate the workers achieve per grant
// against the simulator's per-grant limit (Gusto's: 200 per rolling 60 s),
// with the 429s it answered.
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
	if !sleepCtx(ctx, rateWarmup) {
		return ctx.Err()
	}
	before, t1 := sample(), time.Now()
	if !sleepCtx(ctx, rateWindow) {
		return ctx.Err()
	}
	after, t2 := sample(), time.Now()
	perMin := func(c string) float64 {
		return float64(after[c].Requests-before[c].Requests) / t2.Sub(t1).Minutes()
	}
	lo, hi := perMin(companies[0]), perMin(companies[0])
	var n429 int64
	for _, c := range companies {
		lo, hi = min(lo, perMin(c)), max(hi, perMin(c))
		n429 += after[c].RateLimited
	}
	limit := float64(cfg.RateLimit) / cfg.RateWindow.Minutes()
	b.check("rate limit", "API requests per grant per minute", hi <= limit && n429 == 0,
		fmt.Sprintf("%.0f–%.0f (%.0f%%–%.0f%% of the limit), %d × 429", lo, hi, lo/limit*100, hi/limit*100, n429),
		fmt.Sprintf("limit %.0f per %s per grant (the simulator, as Gusto), 0 × 429", float64(cfg.RateLimit), cfg.RateWindow),
		fmt.Sprintf("%d companies synced at once by 2 workers (GUSTO_RATE_LIMIT 180/min, the default), measured over %s after %s of warm-up; 429s counted from the start (%s)",
			len(companies), t2.Sub(t1).Round(time.Second), rateWarmup, time.Since(started).Round(time.Second)))
	return nil
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
