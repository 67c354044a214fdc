package postgres_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
)

type tokenRow struct {
	CompanyUUID string `gorm:"column:company_uuid"`
	Version     int64
}

func (tokenRow) TableName() string { return "gusto_auth_tokens" }

func seed(b *testing.B, db *pgtest.DB) string {
	const id = "2b7e1c7a-8f1e-4a51-9a0c-6f1d3c2b9e10"
	err := db.Gorm.Exec(`INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration)
		VALUES (?, 'a', 'r', 'k1', now())`, id).Error
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkPrepareStmt compares gorm's PrepareStmt with Open's default (off:
// pgx already caches prepared statements per connection) on a one-row
// primary-key read, the shape of the token manager's hot path.
func BenchmarkPrepareStmt(b *testing.B) {
	db := pgtest.New(b)
	id := seed(b, db)
	for _, prepare := range []bool{false, true} {
		name := "default"
		if prepare {
			name = "PrepareStmt"
		}
		b.Run(name, func(b *testing.B) {
			g := db.Gorm.Session(&gorm.Session{PrepareStmt: prepare})
			for b.Loop() {
				var row tokenRow
				if err := g.Where("company_uuid = ?", id).Take(&row).Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIdlePool runs the same read from 8 goroutines with Open's pool
// (idle = open = 8) and with Go's default of 2 idle connections, and reports
// how many connections the pool closed for want of idle room (each one is a
// new PostgreSQL backend to fork later).
func BenchmarkIdlePool(b *testing.B) {
	db := pgtest.New(b)
	id := seed(b, db)
	for _, idle := range []int{8, 2} {
		b.Run(map[int]string{8: "idle=max", 2: "idle=2"}[idle], func(b *testing.B) {
			g, err := postgres.Open(context.Background(), db.URL, 8)
			if err != nil {
				b.Fatal(err)
			}
			defer postgres.Close(g)
			sqlDB, _ := g.DB()
			sqlDB.SetMaxIdleConns(idle)
			b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 goroutines
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var row tokenRow
					if err := g.Where("company_uuid = ?", id).Take(&row).Error; err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(sqlDB.Stats().MaxIdleClosed)/float64(b.N), "idle-closed/op")
		})
	}
}
