package retention

import (
	"context"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/pgtest"
)

// BenchmarkPrune deletes 100,000 expired refresh events in batches of
// DefaultBatch and reports rows/s and the time of one batch statement.
func BenchmarkPrune(b *testing.B) {
	db := pgtest.New(b)
	now := time.Now()
	p, err := New(Config{DB: db.Gorm, Days: 30, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	const rows = 100_000
	var total time.Duration
	var statements int
	for b.Loop() {
		b.StopTimer()
		if err := db.Gorm.Exec(`INSERT INTO token_refresh_events (company_uuid, worker, trigger, outcome, started_at, finished_at)
			SELECT gen_random_uuid(), 'w', 'expiry', 'refreshed', ?, ? FROM generate_series(1, ?)`, now.AddDate(0, 0, -40), now.AddDate(0, 0, -40), rows).Error; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		res, err := p.Prune(context.Background())
		total += time.Since(start)
		if err != nil || res.RefreshEvents != rows {
			b.Fatalf("%+v %v", res, err)
		}
		statements += res.Statements
	}
	b.ReportMetric(float64(rows*b.N)/total.Seconds(), "rows/s")
	b.ReportMetric(float64(total.Milliseconds())/float64(statements), "ms/statement")
}
