package jobs_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// BenchmarkSyncVersusCopy measures end-to-end sync throughput (simulator
// over loopback HTTP → decode → checkpointed upserts in PostgreSQL) and, in
// the same run, a pgx CopyFrom of the same rows into a scratch table with
// the same columns: the limit of what PostgreSQL ingests on this machine.
// It reports both rates and their ratio.
func BenchmarkSyncVersusCopy(b *testing.B) {
	const employees = 20000
	e := newEnv(b, envOptions{sim: gustosim.Config{RateLimit: -1}, logLevel: slog.LevelInfo})
	h := e.handler(nil)
	ctx := context.Background()
	var synced int64
	var syncTime time.Duration
	var last string
	for b.Loop() {
		b.StopTimer()
		company := e.company(employees, 0, nil)
		b.StartTimer()
		start := time.Now()
		if err := h.ProcessTask(ctx, task(b, company, uuid.NewString())); err != nil {
			b.Fatal(err)
		}
		syncTime += time.Since(start)
		synced += employees + 1
		last = company
	}
	b.StopTimer()

	records, err := e.sim.Records(last, "employees")
	if err != nil {
		b.Fatal(err)
	}
	copyTime := copyRows(b, e.pool(), records)
	syncRate := float64(synced) / syncTime.Seconds()
	copyRate := float64(len(records)) / copyTime.Seconds()
	b.ReportMetric(syncRate, "records/s")
	b.ReportMetric(copyRate, "copyfrom-rows/s")
	b.ReportMetric(syncRate/copyRate, "sync/copyfrom")
}

// copyRows copies the employee records, with the columns gusto_employees
// keeps, into a fresh scratch table and returns how long the copy took.
func copyRows(b *testing.B, db *sql.DB, records []json.RawMessage) time.Duration {
	b.Helper()
	ctx := context.Background()
	table := "scratch_" + uuid.NewString()[:8]
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (LIKE gusto_employees INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	rows := make([][]any, len(records))
	for i, r := range records {
		var e struct {
			UUID, CompanyUUID, FirstName, LastName, Email, Version string
			Terminated                                             bool
		}
		var m map[string]any
		if err := json.Unmarshal(r, &m); err != nil {
			b.Fatal(err)
		}
		e.UUID, _ = m["uuid"].(string)
		e.CompanyUUID, _ = m["company_uuid"].(string)
		e.FirstName, _ = m["first_name"].(string)
		e.LastName, _ = m["last_name"].(string)
		e.Email, _ = m["email"].(string)
		e.Version, _ = m["version"].(string)
		e.Terminated, _ = m["terminated"].(bool)
		rows[i] = []any{e.UUID, e.CompanyUUID, e.FirstName, e.LastName, e.Email, e.Terminated, e.Version, string(r), time.Now()}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var took time.Duration
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		start := time.Now()
		_, err := pc.CopyFrom(ctx, pgx.Identifier{table},
			[]string{"uuid", "company_uuid", "first_name", "last_name", "email", "terminated", "version", "payload", "synced_at"},
			pgx.CopyFromRows(rows))
		took = time.Since(start)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return took
}

// BenchmarkSyncPeakHeap syncs one company of 20k and one of 200k records
// and reports the peak live heap (as marked by each GC cycle) above the
// idle baseline during each, sampled every 5 ms; the simulator is in the
// same process and streams too. Streaming shows as a peak that does not
// grow with the company.
func BenchmarkSyncPeakHeap(b *testing.B) {
	for _, n := range []int{20000, 200000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			e := newEnv(b, envOptions{sim: gustosim.Config{RateLimit: -1}, logLevel: slog.LevelInfo})
			h := e.handler(nil)
			ctx := context.Background()
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				company := e.company(n-100, 100, nil)
				runtime.GC()
				base := heapLive()
				stop := make(chan struct{})
				var wg sync.WaitGroup
				var max uint64
				wg.Go(func() {
					t := time.NewTicker(5 * time.Millisecond)
					defer t.Stop()
					for {
						if v := heapLive(); v > max {
							max = v
						}
						select {
						case <-stop:
							return
						case <-t.C:
						}
					}
				})
				b.StartTimer()
				err := h.ProcessTask(ctx, task(b, company, uuid.NewString()))
				b.StopTimer()
				close(stop)
				wg.Wait()
				if err != nil {
					b.Fatal(err)
				}
				if max > base && max-base > peak {
					peak = max - base
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// heapLive is the live heap as marked by the last GC cycle (garbage not
// counted, so the peak does not depend on when the collector ran).
func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
