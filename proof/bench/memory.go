package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/proof/devstack"
)

// Memory: memCompanies syncs of memEmployees records at once in one worker
// (WORKER_CONCURRENCY = memCompanies), no rate limit, the default page
// budget.
const (
	memCompanies = 8
	memEmployees = 200_000
	memBudget    = 64 << 20 // WORKER_PAGE_BYTES_BUDGET's default
)

// memory measures the worker's peak live heap (runtime/metrics
// /gc/heap/live:bytes, sampled every 50 ms in the worker and exported as
// gustosync_heap_live_peak_bytes) and its peak reserved page bytes while
// memCompanies syncs of memEmployees records run at once, against the page
// budget.
func memory(ctx context.Context, b *bencher) error {
	st, err := b.stack(ctx, "memory", gustosim.Config{RateLimit: -1, TokenLifetime: time.Hour},
		map[string]string{"WORKER_CONCURRENCY": strconv.Itoa(memCompanies), "GUSTO_RATE_LIMIT": "1000000", "WORKER_PAGE_BYTES_BUDGET": strconv.Itoa(memBudget)})
	if err != nil {
		return err
	}
	defer st.Close()
	opts := make([]gustosim.CompanyOptions, memCompanies)
	for i := range opts {
		opts[i] = gustosim.CompanyOptions{Employees: memEmployees, Payrolls: 12}
	}
	companies, err := st.Onboard(ctx, opts...)
	if err != nil {
		return err
	}
	workers, err := st.StartWorkers(ctx, 1)
	if err != nil {
		return err
	}
	metricsURL := "http://" + workers[0].Getenv("HTTP_ADDR") + "/metrics"
	env, err := st.ClientEnv("enqueue", nil)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := st.Sup.Run(ctx, devstack.Spec{Name: "enqueue", Path: filepath.Join(b.binDir, "scheduler"), Args: []string{"enqueue", "--all"}, Env: env.List()}); err != nil {
		return err
	}
	var snap devstack.Snapshot
	var maxRunning int
	err = st.WaitFor(ctx, 15*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		var running int
		if err := st.DB.SQL.QueryRowContext(ctx, `SELECT count(*) FROM sync_runs WHERE status = 'running'`).Scan(&running); err == nil {
			maxRunning = max(maxRunning, running)
		}
		var err error
		snap, err = st.DB.Snapshot(ctx)
		return err == nil && snap.Synced == len(companies), err
	})
	if err != nil {
		return fmt.Errorf("waiting for the syncs: %w", err)
	}
	took := time.Since(start)
	m, err := scrape(ctx, metricsURL)
	if err != nil {
		return err
	}
	heap, pages, budget := m["gustosync_heap_live_peak_bytes"], m["gustosync_page_budget_peak_bytes"], m["gustosync_page_budget_bytes"]
	mib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
	b.check("memory", fmt.Sprintf("peak live heap of a worker running %d syncs of %dk records at once", memCompanies, memEmployees/1000),
		heap > 0 && heap <= budget && pages <= budget && budget == memBudget,
		fmt.Sprintf("%s live heap (peak), %s of pages reserved (peak)", mib(heap), mib(pages)),
		fmt.Sprintf("budget %s (WORKER_PAGE_BYTES_BUDGET, the default)", mib(budget)),
		fmt.Sprintf("%d companies × %d employees, %d records in %s by 1 worker × %d (at most %d running at once seen), no rate limit; waits for the budget %.0f, early commits (budget full) %.0f; heap from runtime/metrics /gc/heap/live:bytes sampled every 50 ms in the worker",
			len(companies), memEmployees, snap.Records(), took.Round(time.Second), memCompanies, maxRunning, m["gustosync_page_budget_waits_total"], m["gustosync_page_budget_full_total"]))
	return nil
}

// scrape reads the plain gauges and counters of a Prometheus text page.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping the worker's metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}
