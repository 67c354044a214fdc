package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/proof/devstack"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// goBenches runs the benchmarks the packages carry and reads their figures.
func goBenches(ctx context.Context, b *bencher) error {
	tok, err := runGoBench(ctx, b.modDir, "./internal/tokens", "^BenchmarkAccessToken$/^(fast|fast-parallel|slow-read|slow-refresh)$", "1s", &b.log)
	if err != nil {
		return err
	}
	fast, ok1 := find(tok, "BenchmarkAccessToken/fast")
	par, ok2 := find(tok, "BenchmarkAccessToken/fast-parallel")
	read, ok3 := find(tok, "BenchmarkAccessToken/slow-read")
	refresh, ok4 := find(tok, "BenchmarkAccessToken/slow-refresh")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return fmt.Errorf("tokens benchmarks: missing results in %+v", tok)
	}
	b.check("tokens", "AccessToken fast path", fast.Metrics["ns/op"] < read.Metrics["ns/op"] && fast.Metrics["refreshes/op"] == 0,
		fmt.Sprintf("%.0f ns/op, %.0f allocs/op (all cores: %.0f ns/op)", fast.Metrics["ns/op"], fast.Metrics["allocs/op"], par.Metrics["ns/op"]),
		fmt.Sprintf("vs one PostgreSQL read + decrypt: %.0f ns/op (%.0f× slower); a refresh: %.2f ms/op",
			read.Metrics["ns/op"], read.Metrics["ns/op"]/fast.Metrics["ns/op"], refresh.Metrics["ns/op"]/1e6))

	sch, err := runGoBench(ctx, b.modDir, "./internal/scheduler", "^BenchmarkTick10k$/^workers=(1|8)$", "1x", &b.log)
	if err != nil {
		return err
	}
	for _, w := range []string{"1", "8"} {
		r, ok := find(sch, "BenchmarkTick10k/workers="+w)
		if !ok {
			return fmt.Errorf("scheduler benchmark workers=%s: no result", w)
		}
		label := map[string]string{"1": "1 goroutine", "8": "8 goroutines"}[w]
		b.info("scheduler", "enqueue rate, 10k due companies, "+label,
			fmt.Sprintf("%.0f companies/s", r.Metrics["companies/s"]),
			fmt.Sprintf("vs asynq's raw enqueue rate: %.0f tasks/s (ratio %.2f)", r.Metrics["raw-enqueues/s"], r.Metrics["ratio-to-raw"]))
	}

	jobs, err := runGoBench(ctx, b.modDir, "./internal/jobs", "^BenchmarkSync(VersusCopy|PeakHeap)$", "1x", &b.log)
	if err != nil {
		return err
	}
	if r, ok := find(jobs, "BenchmarkSyncVersusCopy"); ok {
		b.info("throughput", "one sync in process (internal/jobs, 20k records)", fmt.Sprintf("%.0f records/s", r.Metrics["records/s"]),
			fmt.Sprintf("vs pgx CopyFrom of the same rows: %.0f rows/s (ratio %.2f)", r.Metrics["copyfrom-rows/s"], r.Metrics["sync/copyfrom"]))
	}
	small, ok1 := find(jobs, "BenchmarkSyncPeakHeap/records=20000")
	large, ok2 := find(jobs, "BenchmarkSyncPeakHeap/records=200000")
	if ok1 && ok2 {
		b.info("throughput", "peak heap of one sync, 200k records", fmt.Sprintf("%.1f MiB", large.Metrics["peak-heap-MiB"]),
			fmt.Sprintf("vs 20k records: %.1f MiB (streaming: memory does not grow with the company)", small.Metrics["peak-heap-MiB"]))
	}

	cp, err := runGoBench(ctx, b.modDir, "./internal/checkpoint", "^BenchmarkCommitVersusCopy$", "1x", &b.log)
	if err != nil {
		return err
	}
	if r, ok := find(cp, "BenchmarkCommitVersusCopy"); ok {
		b.info("throughput", "checkpoint commit, 20k new records in batches of 500",
			fmt.Sprintf("%.0f records/s", r.Metrics["rows/s"]),
			fmt.Sprintf("vs pgx CopyFrom of the same rows: %.0f rows/s (ratio %.2f, goal ≥ 0.70)", r.Metrics["copyfrom-rows/s"], r.Metrics["commit/copyfrom"]))
	}

	sim, err := runGoBench(ctx, b.modDir, "./internal/gustosim", "^BenchmarkEmployeesRawHTTP$", "2s", &b.log)
	if err != nil {
		return err
	}
	if r, ok := find(sim, "BenchmarkEmployeesRawHTTP"); ok {
		b.mu.Lock()
		b.simRecords = r.Metrics["records/s"]
		b.mu.Unlock()
	}
	return nil
}

// End-to-end: e2eCompanies companies of e2eEmployees employees and
// e2ePayrolls payrolls, synced by e2eWorkers workers with no rate limit.
const (
	e2eCompanies = 12
	e2eEmployees = 5000
	e2ePayrolls  = 60
	e2eWorkers   = 2
)

// endToEnd measures records/s from enqueue to every run succeeded, and a
// pgx CopyFrom of the same rows into the same tables' shape.
func endToEnd(ctx context.Context, b *bencher) error {
	st, err := b.stack(ctx, "e2e", gustosim.Config{RateLimit: -1, TokenLifetime: time.Hour},
		map[string]string{"WORKER_CONCURRENCY": "4", "GUSTO_RATE_LIMIT": "1000000", "SYNC_BATCH_SIZE": "500"})
	if err != nil {
		return err
	}
	defer st.Close()
	opts := make([]gustosim.CompanyOptions, e2eCompanies)
	for i := range opts {
		opts[i] = gustosim.CompanyOptions{Employees: e2eEmployees, Payrolls: e2ePayrolls}
	}
	companies, err := st.Onboard(ctx, opts...)
	if err != nil {
		return err
	}
	if _, err := st.StartWorkers(ctx, e2eWorkers); err != nil {
		return err
	}
	env, err := st.ClientEnv("enqueue", nil)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := st.Sup.Run(ctx, devstack.Spec{Name: "enqueue", Path: filepath.Join(b.binDir, "scheduler"), Args: []string{"enqueue", "--all"}, Env: env.List()}); err != nil {
		return err
	}
	var snap devstack.Snapshot
	err = st.WaitFor(ctx, 3*time.Minute, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		snap, err = st.DB.Snapshot(ctx)
		return err == nil && snap.Synced == len(companies), err
	})
	if err != nil {
		return fmt.Errorf("waiting for the syncs: %w", err)
	}
	var last time.Time
	if err := st.DB.SQL.QueryRowContext(ctx, `SELECT max(finished_at) FROM sync_runs WHERE status = 'succeeded'`).Scan(&last); err != nil {
		return err
	}
	took := last.Sub(start)
	e2e := float64(snap.Records()) / took.Seconds()

	mm, _, err := rowcheck.Compare(ctx, st.DB.SQL, st.Sim.Sim, companies)
	if err != nil {
		return err
	}
	rows, copyTook, err := copyFrom(ctx, st, companies)
	if err != nil {
		return err
	}
	copyRate := float64(rows) / copyTook.Seconds()
	b.check("throughput", "end-to-end sync", len(mm) == 0 && snap.Records() == int64(rows) && e2e/copyRate >= 0.7,
		fmt.Sprintf("%.0f records/s", e2e),
		fmt.Sprintf("vs pgx CopyFrom of the same rows: %.0f rows/s (ratio %.2f, goal ≥ 0.70)", copyRate, e2e/copyRate),
		fmt.Sprintf("%d companies × (%d employees + %d payrolls + 1), %d records in %s by %d workers × 4, no rate limit; rows equal the simulator's: %v",
			len(companies), e2eEmployees, e2ePayrolls, snap.Records(), took.Round(10*time.Millisecond), e2eWorkers, len(mm) == 0))
	b.mu.Lock()
	simRate := b.simRecords
	b.mu.Unlock()
	if simRate > 0 {
		b.info("throughput", "simulator ceiling (raw HTTP, bodies discarded)", fmt.Sprintf("%.0f records/s", simRate), "the source cannot serve faster than this")
	}
	return nil
}

// copyFrom copies the companies' rows, as the simulator serves them, into
// empty copies of the three data tables with pgx's CopyFrom, in one
// transaction, and returns the row count and the time it took.
func copyFrom(ctx context.Context, st *devstack.Stack, companies []string) (int, time.Duration, error) {
	type table struct {
		name, resource string
		rows           [][]any
	}
	tables := []*table{{name: "gusto_companies", resource: "company"}, {name: "gusto_employees", resource: "employees"}, {name: "gusto_payrolls", resource: "payrolls"}}
	n := 0
	for _, t := range tables {
		for _, c := range companies {
			recs, err := st.Sim.Sim.Records(c, t.resource)
			if err != nil {
				return 0, 0, err
			}
			for _, r := range recs {
				id, err := uuidOf(r)
				if err != nil {
					return 0, 0, err
				}
				if t.resource == "company" {
					t.rows = append(t.rows, []any{id, string(r)})
				} else {
					t.rows = append(t.rows, []any{id, c, string(r)})
				}
				n++
			}
		}
	}
	conn, err := pgx.Connect(ctx, st.DB.URL)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	for _, t := range tables {
		if _, err := conn.Exec(ctx, `CREATE TABLE bench_copy_`+t.name+` (LIKE `+t.name+` INCLUDING ALL)`); err != nil {
			return 0, 0, err
		}
	}
	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, t := range tables {
		cols := []string{"uuid", "company_uuid", "payload"}
		if t.resource == "company" {
			cols = []string{"uuid", "payload"}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_copy_" + t.name}, cols, pgx.CopyFromRows(t.rows)); err != nil {
			return 0, 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, err
	}
	return n, time.Since(start), nil
}

// refreshBudget runs internal/tokens BenchmarkRefreshBudget10k: 10,000
// companies onboarded in the same second with 2-hour tokens, refreshed
// through the token manager with the fleet-wide budget, in simulated time on
// real PostgreSQL and Redis. Peak refreshes per second against the budget,
// tokens used after their expiry (0).
func refreshBudget(ctx context.Context, b *bencher) error {
	bud, err := runGoBench(ctx, b.modDir, "./internal/tokens", "^BenchmarkRefreshBudget10k$", "1x", &b.log)
	if err != nil {
		return err
	}
	r, ok := find(bud, "BenchmarkRefreshBudget10k")
	if !ok {
		return fmt.Errorf("tokens refresh budget benchmark: no result in %+v", bud)
	}
	b.check("budget", "refresh budget, 10k companies onboarded in one second, 2-hour tokens (simulated time)",
		r.Metrics["peak-refreshes/s"] <= r.Metrics["budget/s"] && r.Metrics["expired-uses"] == 0 && r.Metrics["refreshes"] == 10000,
		fmt.Sprintf("peak %.0f refreshes/s, %.0f tokens used after expiry, %.0f refreshes over %.0f s",
			r.Metrics["peak-refreshes/s"], r.Metrics["expired-uses"], r.Metrics["refreshes"], r.Metrics["seconds-refreshing"]),
		fmt.Sprintf("vs the budget TOKEN_REFRESH_RATE=%.0f/s (limit: peak ≤ budget, 0 expired, one refresh per company)", r.Metrics["budget/s"]))
	return nil
}
