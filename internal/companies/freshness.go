package companies

import (
	"context"
	"fmt"
	"time"
)

// Freshness is how up to date the active companies' data is: the service
// level the scheduler exists for.
type Freshness struct {
	// Active is the number of active companies.
	Active int64
	// OldestSuccessAge is the age, at the time asked, of the oldest "last
	// successful sync" among active companies; a company never synced
	// counts from when it was onboarded. Zero with no active company.
	OldestSuccessAge time.Duration
	// Overdue is the number of active companies whose last successful sync
	// (or onboarding, if never synced) is older than twice their interval.
	Overdue int64
}

// freshnessQuery reads Freshness in one statement: one index probe of
// sync_runs (company_uuid, created_at DESC) per active company, walking
// back from its newest run to its newest succeeded one. The arguments are
// now, now again, and the default interval in seconds.
const freshnessQuery = `
	SELECT count(*) AS active,
	       COALESCE(EXTRACT(EPOCH FROM (CAST(? AS timestamptz) - min(f.at))), 0)::float8 AS oldest_seconds,
	       count(*) FILTER (WHERE f.at < CAST(? AS timestamptz) - make_interval(secs => 2 * f.interval_seconds)) AS overdue
	FROM (
		SELECT COALESCE(ls.finished_at, t.created_at) AS at,
		       COALESCE(s.interval_seconds, CAST(? AS integer)) AS interval_seconds
		FROM gusto_auth_tokens t
		LEFT JOIN company_schedules s ON s.company_uuid = t.company_uuid
		LEFT JOIN LATERAL (
			SELECT COALESCE(r.finished_at, r.created_at) AS finished_at FROM sync_runs r
			WHERE r.company_uuid = t.company_uuid AND r.status = 'succeeded'
			ORDER BY r.created_at DESC LIMIT 1) ls ON true
		WHERE t.status = 'active'
	) f`

// Freshness returns the active companies' freshness at now, with
// defaultInterval (SYNC_INTERVAL) for companies without their own, in one
// query. Safe for concurrent use.
func (d *Directory) Freshness(ctx context.Context, now time.Time, defaultInterval time.Duration) (Freshness, error) {
	var row struct {
		Active        int64
		OldestSeconds float64
		Overdue       int64
	}
	err := d.db.WithContext(ctx).Raw(freshnessQuery,
		now, now, int64(defaultInterval/time.Second)).Scan(&row).Error
	if err != nil {
		return Freshness{}, fmt.Errorf("companies: read freshness: %w", err)
	}
	return Freshness{Active: row.Active, OldestSuccessAge: time.Duration(row.OldestSeconds * float64(time.Second)), Overdue: row.Overdue}, nil
}
