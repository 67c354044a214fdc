package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/proof/devstack"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// Resume: one company whose sync takes a while (every answer delayed), a
// batch per page, two workers doing one task each.
const (
	resumeEmployees = 6000
	resumeBatch     = 100
	resumeLatency   = 100 * time.Millisecond
	resumeKillAfter = 1000 // records committed before the kill
	resumeDeadline  = 4 * time.Minute
	// asynqRecovery is asynq's bound for re-running a task whose worker died:
	// its lease (30 s) plus the recoverer's period (60 s).
	asynqRecovery = 90 * time.Second
)

type runRow struct {
	id, owner, status string
	attempts          int
	records           int64
}

// resume measures the time from kill -9 of the worker running a sync to the
// run resuming (claimed again, then committing again) on the other worker,
// and how much was fetched twice.
func resume(ctx context.Context, b *bencher) error {
	st, err := b.stack(ctx, "resume", gustosim.Config{TokenLifetime: time.Hour, RateLimit: -1, LatencyRate: 1, Latency: resumeLatency},
		map[string]string{"WORKER_CONCURRENCY": "1", "GUSTO_RATE_LIMIT": "1000000", "SYNC_BATCH_SIZE": fmt.Sprint(resumeBatch)})
	if err != nil {
		return err
	}
	defer st.Close()
	ids, err := st.Onboard(ctx, gustosim.CompanyOptions{Employees: resumeEmployees, Payrolls: 24})
	if err != nil {
		return err
	}
	company := ids[0]
	workers, err := st.StartWorkers(ctx, 2)
	if err != nil {
		return err
	}
	env, err := st.ClientEnv("enqueue", nil)
	if err != nil {
		return err
	}
	if err := st.Sup.Run(ctx, devstack.Spec{Name: "enqueue", Path: filepath.Join(b.binDir, "scheduler"), Args: []string{"enqueue", "--all"}, Env: env.List()}); err != nil {
		return err
	}
	read := func(ctx context.Context) (runRow, error) {
		var r runRow
		err := st.DB.SQL.QueryRowContext(ctx, `SELECT id::text, attempt_owner, status, attempts, records_synced FROM sync_runs
WHERE company_uuid = $1 ORDER BY created_at DESC LIMIT 1`, company).Scan(&r.id, &r.owner, &r.status, &r.attempts, &r.records)
		return r, err
	}
	var before runRow
	if err := st.WaitFor(ctx, time.Minute, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		r, err := read(ctx)
		before = r
		return err == nil && r.status == "running" && r.records >= resumeKillAfter, nil
	}); err != nil {
		return fmt.Errorf("waiting for the run to commit %d records: %w", resumeKillAfter, err)
	}
	var victim *devstack.Proc
	for _, w := range workers {
		if w.Name() == before.owner {
			victim = w
		}
	}
	if victim == nil {
		return fmt.Errorf("run owned by %q, not a worker of this stack", before.owner)
	}
	killedAt := time.Now()
	if err := st.KillWorker(victim); err != nil {
		return err
	}
	atKill, err := read(ctx)
	if err != nil {
		return err
	}
	var claimed, committed time.Time
	var last runRow
	err = st.WaitFor(ctx, resumeDeadline, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		r, err := read(ctx)
		if err != nil {
			return false, nil
		}
		last = r
		if claimed.IsZero() && r.attempts > atKill.attempts {
			claimed = time.Now()
		}
		if committed.IsZero() && r.attempts > atKill.attempts && r.records > atKill.records {
			committed = time.Now()
		}
		return r.status == "succeeded", nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the run to resume and finish (last seen %+v): %w", last, err)
	}
	mm, _, err := rowcheck.Compare(ctx, st.DB.SQL, st.Sim.Sim, []string{company})
	if err != nil {
		return err
	}
	served := st.Sim.Sim.Counters().RecordsServed[company]
	total := int64(0)
	for _, res := range []string{"employees", "payrolls"} {
		n, _, err := st.Sim.Sim.Checksum(company, res)
		if err != nil {
			return err
		}
		total += int64(n)
	}
	twice := served - total
	b.info("recovery", "kill -9 → run claimed by another worker", claimed.Sub(killedAt).Round(100*time.Millisecond).String(),
		fmt.Sprintf("asynq's bound: lease 30 s + recoverer every 60 s = %s", asynqRecovery))
	b.info("recovery", "kill -9 → first batch committed after resuming", committed.Sub(killedAt).Round(100*time.Millisecond).String(),
		fmt.Sprintf("resumed at record %d of %d (checkpoint), by %s", atKill.records, total+1, last.owner))
	b.check("recovery", "records fetched twice across the kill", twice <= resumeBatch && len(mm) == 0 && last.owner != before.owner,
		fmt.Sprint(twice), fmt.Sprintf("≤ one batch (%d records); rows equal the simulator's: %v", resumeBatch, len(mm) == 0))
	return nil
}
