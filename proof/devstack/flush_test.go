package devstack

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// buildAll builds the binaries the stack runs into a temporary directory.
func buildAll(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	args := []string{"build", "-o", bin}
	for _, b := range Binaries {
		args = append(args, "github.com/gustosync/gustosync/cmd/"+b)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestRedisFlushedMidRun (issue #12, must show (c)): a real scheduler and a
// real worker process sync six companies one at a time (an hourly interval,
// a tick every second); Redis is flushed while the first sync runs and the
// others wait on the queue. The scheduler's next tick enqueues the lost
// windows again (the same runs: one run per company, no new window), and
// every company syncs, its rows equal to the simulator's. Without the
// restore the five lost companies would wait for their next window, an hour
// later.
func TestRedisFlushedMidRun(t *testing.T) {
	ctx := context.Background()
	name := randomName("devstack_flush_")
	dropAfter(t, name)
	st, err := Up(ctx, Options{
		RunDir: t.TempDir(), BinDir: buildAll(t), Database: name,
		Sim: gustosim.Config{TokenLifetime: time.Hour, RateLimit: -1},
		// One sync at a time, slow enough (small batches, a paced client)
		// that the flush lands while the first one runs.
		WorkerEnv:    map[string]string{"WORKER_CONCURRENCY": "1", "SYNC_BATCH_SIZE": "50", "GUSTO_RATE_LIMIT": "600"},
		SchedulerEnv: map[string]string{"SCHEDULER_TICK": "1s", "SYNC_INTERVAL": "1h", "SYNC_JITTER": "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	opts := make([]gustosim.CompanyOptions, 6)
	for i := range opts {
		opts[i] = gustosim.CompanyOptions{Employees: 300, Payrolls: 10}
	}
	companies, err := st.Onboard(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := st.StartScheduler(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every company's window is recorded (its task accepted by Redis)
	// before the worker starts: all six tasks are on the queue.
	err = st.WaitFor(ctx, time.Minute, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		var n int
		err := st.DB.SQL.QueryRowContext(ctx, `SELECT count(*) FROM company_schedules WHERE last_window IS NOT NULL`).Scan(&n)
		return n == len(companies), err
	})
	if err != nil {
		t.Fatalf("waiting for the scheduler to record every window: %v", err)
	}
	if _, err := st.StartWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	err = st.WaitFor(ctx, time.Minute, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		snap, err := st.DB.Snapshot(ctx)
		return snap.RunsRunning > 0 && snap.EmployeeRows > 0, err
	})
	if err != nil {
		t.Fatalf("waiting for the first sync to run: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: st.Redis.Addr})
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	snap, err := st.DB.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Synced >= len(companies)-1 {
		t.Fatalf("%d of %d companies had synced at the flush: it lost nothing worth restoring", snap.Synced, len(companies))
	}
	t.Logf("flushed Redis with %d of %d companies synced, %d running", snap.Synced, len(companies), snap.RunsRunning)

	err = st.WaitFor(ctx, 3*time.Minute, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		snap, err = st.DB.Snapshot(ctx)
		return snap.Synced == len(companies), err
	})
	if err != nil {
		t.Fatalf("after the flush, %d of %d companies synced: %v", snap.Synced, len(companies), err)
	}
	t.Logf("every company synced %s after the flush", time.Since(flushed).Round(100*time.Millisecond))
	// The same runs: one run per company (its recorded window's), none of
	// a later window.
	var runs, companiesWithRuns int
	if err := st.DB.SQL.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT company_uuid) FROM sync_runs`).Scan(&runs, &companiesWithRuns); err != nil {
		t.Fatal(err)
	}
	if runs != len(companies) || companiesWithRuns != len(companies) {
		t.Fatalf("%d runs over %d companies, want one run per company", runs, companiesWithRuns)
	}
	mm, _, err := rowcheck.Compare(ctx, st.DB.SQL, st.Sim.Sim, companies)
	if err != nil {
		t.Fatal(err)
	}
	if len(mm) > 0 {
		t.Fatalf("rows differ from the simulator's: %v", mm)
	}
	log, err := os.ReadFile(sched.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"restored":[1-9]`).Match(log) {
		t.Fatalf("the scheduler never logged a restore:\n%s", log)
	}
}
