package checkpoint_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// BenchmarkCommit measures one checkpointed batch of 500 new employee rows
// (fence, upsert, checkpoint and run counters in one transaction), and the
// same batch again unchanged (the upsert rewrites nothing).
func BenchmarkCommit(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()
	a, err := s.Claim(ctx, uuid.NewString(), company, "bench", checkpoint.KindFull)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("new", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, i*500, 500, "v1")}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("unchanged", func(b *testing.B) {
		rows := employees(company, 0, 500, "v1")
		for b.Loop() {
			if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: rows}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "rows/s")
	})
}

// BenchmarkCommitVersusCopy commits 20,000 new employee records (~1 KB
// payloads) in checkpointed batches of 500, and reports the rate beside a
// pgx CopyFrom of the same rows into an empty copy of gusto_employees, in
// one transaction on the same database: the checkpoint-level ratio that
// `make bench` prints (issue #12 item 8).
func BenchmarkCommitVersusCopy(b *testing.B) {
	const records, batch = 20000, 500
	db := pgtest.New(b)
	ctx := context.Background()
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	pad := strings.Repeat("x", 900) // Gusto's employee objects are ~1.2 KB
	rows := func(company string) []checkpoint.Row {
		out := make([]checkpoint.Row, records)
		for i := range out {
			id := uuid.NewString()
			p, _ := json.Marshal(map[string]any{"uuid": id, "company_uuid": company, "first_name": "F" + strconv.Itoa(i), "last_name": "L", "email": "e" + strconv.Itoa(i) + "@example.com", "version": "v1", "pad": pad})
			out[i] = employeeRow(id, "F"+strconv.Itoa(i), "L", "e"+strconv.Itoa(i)+"@example.com", "v1", p)
		}
		return out
	}
	var commitTime, copyTime time.Duration
	var n int
	for b.Loop() {
		b.StopTimer()
		company := uuid.NewString()
		all := rows(company)
		a, err := s.Claim(ctx, uuid.NewString(), company, "bench", checkpoint.KindFull)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for off := 0; off < len(all); off += batch {
			if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: all[off : off+batch], Next: strconv.Itoa(off)}); err != nil {
				b.Fatal(err)
			}
		}
		commitTime += time.Since(start)
		b.StopTimer()
		copyTime += copyEmployees(b, db, company, all)
		n += records
		b.StartTimer()
	}
	commitRate := float64(n) / commitTime.Seconds()
	copyRate := float64(n) / copyTime.Seconds()
	b.ReportMetric(commitRate, "rows/s")
	b.ReportMetric(copyRate, "copyfrom-rows/s")
	b.ReportMetric(commitRate/copyRate, "commit/copyfrom")
}

// copyEmployees copies rows with pgx's CopyFrom into a fresh empty copy of
// gusto_employees, in one transaction, and returns how long that took.
func copyEmployees(b *testing.B, db *pgtest.DB, company string, rows []checkpoint.Row) time.Duration {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	table := "bench_copy_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := conn.Exec(ctx, `CREATE TABLE `+table+` (LIKE gusto_employees INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	src := make([][]any, len(rows))
	for i, r := range rows {
		src[i] = append([]any{r.UUID, company}, append(r.Values, string(r.Payload), time.Now())...)
	}
	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{table},
		[]string{"uuid", "company_uuid", "first_name", "last_name", "email", "terminated", "version", "payload", "synced_at"},
		pgx.CopyFromRows(src)); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
