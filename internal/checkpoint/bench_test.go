package checkpoint_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

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
	a, err := s.Claim(ctx, uuid.NewString(), company, "bench")
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
