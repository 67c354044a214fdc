package scheduler_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/scheduler"
)

// BenchmarkTick10k measures one scheduler tick over 10,000 due companies
// (read them in one query, enqueue 10,000 tasks, record 10,000 windows) and,
// in the same run against the same Redis, asynq's raw enqueue rate for
// 10,000 tasks with task ids from the same number of goroutines. It reports
// companies/s, the ratio to the raw rate, the bytes allocated per tick and
// the live heap after a tick.
//
//	go test ./internal/scheduler -run '^$' -bench Tick10k -benchtime 3x
func BenchmarkTick10k(b *testing.B) {
	const n = 10_000
	db := pgtest.New(b)
	rs := redistest.Start(b)
	addCompanies(b, db.Gorm, n, "active")
	rdb := rs.Client()
	cli := asynq.NewClient(asynq.RedisClientOpt{Addr: rs.Addr, PoolSize: 64})
	b.Cleanup(func() { _ = cli.Close() })
	ctx := context.Background()

	reset := func(b *testing.B) {
		b.Helper()
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		if err := db.Gorm.Exec(`DELETE FROM company_schedules`).Error; err != nil {
			b.Fatal(err)
		}
	}

	for _, workers := range []int{1, 8, 16, 32} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
			s, err := scheduler.New(db.Gorm, cli, scheduler.Config{
				Interval: time.Hour, Jitter: 0.1, Now: c.Now, Workers: workers,
				Logger: discardLogger(),
			})
			if err != nil {
				b.Fatal(err)
			}
			var tickTime, rawTime, readTime, recordTime time.Duration
			var allocated, heap uint64
			for range b.N {
				reset(b)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				start := time.Now()
				res, err := s.Tick(ctx)
				tickTime += time.Since(start)
				runtime.ReadMemStats(&after)
				if err != nil || res.Enqueued != n {
					b.Fatalf("tick: %+v %v", res, err)
				}
				allocated += after.TotalAlloc - before.TotalAlloc
				readTime += res.Read
				recordTime += res.Record
				heap = max(heap, after.HeapInuse)

				// asynq alone: the same number of enqueues, same ids, same goroutines.
				if err := rdb.FlushAll(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				rawEnqueue(b, cli, n, workers)
				rawTime += time.Since(start)
			}
			tickRate := float64(n*b.N) / tickTime.Seconds()
			rawRate := float64(n*b.N) / rawTime.Seconds()
			b.ReportMetric(tickRate, "companies/s")
			b.ReportMetric(rawRate, "raw-enqueues/s")
			b.ReportMetric(tickRate/rawRate, "ratio-to-raw")
			b.ReportMetric(float64(readTime.Milliseconds())/float64(b.N), "read-ms/tick")
			b.ReportMetric(float64(recordTime.Milliseconds())/float64(b.N), "record-ms/tick")
			b.ReportMetric(float64(allocated)/float64(b.N)/(1<<20), "alloc-MiB/tick")
			b.ReportMetric(float64(heap)/(1<<20), "heap-inuse-MiB")
		})
	}
}

// rawEnqueue enqueues n tasks with task ids through asynq with the given
// number of goroutines, as a yardstick for the scheduler.
func rawEnqueue(b *testing.B, cli *asynq.Client, n, workers int) {
	b.Helper()
	work := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range work {
				t := asynq.NewTask("sync:company", []byte(`{"company_uuid":"00000000-0000-0000-0000-000000000000","run_id":"00000000-0000-0000-0000-000000000000"}`))
				if _, err := cli.Enqueue(t, asynq.TaskID(fmt.Sprintf("raw:%d", i)), asynq.Retention(time.Hour)); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// BenchmarkRestore10k measures what the lost-task check (restore.go) adds
// to a tick over 10,000 companies whose windows are recorded and still
// open, in three states: every run finished (the steady state: two
// PostgreSQL reads, no Redis lookup), every run still queued (one Redis
// lookup per company), and Redis flushed (a lookup and an enqueue per
// company). It reports milliseconds per tick; Workers is 16 (the default).
//
//	go test ./internal/scheduler -run '^$' -bench Restore10k -benchtime 3x
func BenchmarkRestore10k(b *testing.B) {
	const n = 10_000
	db := pgtest.New(b)
	rs := redistest.Start(b)
	cos := addCompanies(b, db.Gorm, n, "active")
	rdb := rs.Client()
	opt := asynq.RedisClientOpt{Addr: rs.Addr, PoolSize: 64}
	cli := asynq.NewClient(opt)
	insp := asynq.NewInspector(opt)
	b.Cleanup(func() { _ = cli.Close(); _ = insp.Close() })
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: start}
	s, err := scheduler.New(db.Gorm, cli, scheduler.Config{Interval: time.Hour, Now: c.Now, Lookup: insp, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if res, err := s.Tick(ctx); err != nil || res.Enqueued != n {
		b.Fatalf("first tick: %+v %v", res, err)
	}
	tick := func(b *testing.B, wantRestored int) time.Duration {
		b.Helper()
		res, err := s.Tick(ctx)
		if err != nil || res.Restored != wantRestored || res.Enqueued != 0 {
			b.Fatalf("tick: %+v %v, want %d restored", res, err, wantRestored)
		}
		return res.Restore
	}
	b.Run("queued", func(b *testing.B) {
		var took time.Duration
		for b.Loop() {
			took += tick(b, 0)
		}
		b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "restore-ms/tick")
	})
	b.Run("flushed", func(b *testing.B) {
		var took time.Duration
		for b.Loop() {
			b.StopTimer()
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			took += tick(b, n)
		}
		b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "restore-ms/tick")
	})
	b.Run("finished", func(b *testing.B) {
		if err := db.Gorm.Exec(`INSERT INTO sync_runs (id, company_uuid, status)
			SELECT r, c, 'succeeded' FROM unnest(?::uuid[], ?::uuid[]) AS u(r, c)`, postgres.Array(runIDs(cos, start)), postgres.Array(cos)).Error; err != nil {
			b.Fatal(err)
		}
		var took time.Duration
		for b.Loop() {
			took += tick(b, 0)
		}
		b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "restore-ms/tick")
	})
}

// runIDs are the run ids of the companies' windows at t (interval 1h, no jitter).
func runIDs(cos []string, t time.Time) []string {
	out := make([]string, len(cos))
	for i, c := range cos {
		out[i] = scheduler.RunID(scheduler.TaskID(c, scheduler.WindowAt(c, time.Hour, 0, t).Index)).String()
	}
	return out
}
