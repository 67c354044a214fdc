package companies_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/tokens"
)

// seedFleet stores n companies (one in ten needs_reauth), each with a name
// and five runs, for the page benchmarks.
func seedFleet(b testing.TB, db *gorm.DB, n int) []string {
	b.Helper()
	ids := addCompanies(b, db, n*9/10, tokens.StatusActive)
	ids = append(ids, addCompanies(b, db, n-len(ids), tokens.StatusNeedsReauth)...)
	for _, q := range []string{
		`INSERT INTO gusto_companies (uuid, name, payload) SELECT company_uuid, 'Company ' || md5(company_uuid::text), '{}' FROM gusto_auth_tokens`,
		`INSERT INTO sync_runs (id, company_uuid, status, records_synced, created_at, finished_at)
		 SELECT gen_random_uuid(), company_uuid, 'succeeded', 100, now() - i * interval '1 hour', now() - i * interval '1 hour'
		 FROM gusto_auth_tokens, generate_series(1, 5) AS i`,
		`ANALYZE`,
	} {
		if err := db.Exec(q).Error; err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// BenchmarkPage reads a page of 50 from the middle of 10,000 companies: the
// keyset keeps its cost independent of the position.
func BenchmarkPage(b *testing.B) {
	db := pgtest.New(b)
	ids := seedFleet(b, db.Gorm, 10_000)
	d := companies.New(db.Gorm)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		q    companies.PageQuery
	}{
		{"middle", companies.PageQuery{After: ids[5000]}},
		{"needs_reauth", companies.PageQuery{Status: tokens.StatusNeedsReauth, After: ids[9500]}},
		{"search-name", companies.PageQuery{Search: "company 0a"}},
		{"search-uuid", companies.PageQuery{Search: ids[1234][:6]}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := d.Page(ctx, bc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
