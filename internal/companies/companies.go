package companies

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/tokens"
)

// Company is one company as operators see it: its token status (never the
// token), its schedule and its last successful sync.
type Company struct {
	// UUID is the Gusto company uuid.
	UUID string `json:"company_uuid"`
	// Name is the company's name from the last sync, or empty.
	Name string `json:"name"`
	// Status is active, needs_reauth, missing_scope or paused.
	Status tokens.Status `json:"status"`
	// StatusReason says why the company needs re-authorization, lacks a
	// scope, or is paused.
	StatusReason string `json:"status_reason"`
	// StatusChangedAt is when the status last changed.
	StatusChangedAt time.Time `json:"status_changed_at"`
	// TokenExpiresAt is the stored access token's expiry (on Gusto's clock,
	// less the safety margin).
	TokenExpiresAt time.Time `json:"token_expires_at"`
	// LastRefreshedAt is when the token was last refreshed, if ever.
	LastRefreshedAt *time.Time `json:"last_refreshed_at,omitempty"`
	// ConsecutiveFailures counts token refresh failures since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// LastSyncAt is when the last successful sync run finished, if ever.
	LastSyncAt *time.Time `json:"last_sync_at,omitempty"`
	// LastSyncRows is how many records the last successful run synced.
	LastSyncRows int64 `json:"last_sync_rows"`
	// LastFullSyncAt is when the last full reconciliation (the sync that
	// marks rows Gusto no longer has as deleted) completed, if ever.
	LastFullSyncAt *time.Time `json:"last_full_sync_at,omitempty"`
	// LastRunStatus is the status of the most recent run (pending, running,
	// succeeded, failed, stopped), or empty.
	LastRunStatus string `json:"last_run_status"`
	// NextDueAt is when the scheduler next enqueues the company; nil means at
	// its next tick.
	NextDueAt *time.Time `json:"next_due_at,omitempty"`
	// Interval is the company's own sync interval
	// (company_schedules.interval_seconds); zero means the scheduler's
	// default. Not part of the JSON form.
	Interval time.Duration `json:"-"`
}

// Schedule is an active company as the scheduler needs it.
type Schedule struct {
	// UUID is the Gusto company uuid.
	UUID string
	// Interval is the company's own sync interval; zero means the
	// scheduler's default.
	Interval time.Duration
}

// NotFoundError means no company with that uuid is onboarded (no token row).
type NotFoundError struct {
	// Company is the uuid asked for.
	Company string
}

func (e *NotFoundError) Error() string {
	return "companies: no company " + e.Company + " is onboarded"
}

// Directory reads the companies. It is safe for concurrent use; it holds no
// state beyond the pool.
type Directory struct {
	db *gorm.DB
}

// New returns a Directory reading db (see postgres.Open).
func New(db *gorm.DB) *Directory { return &Directory{db: db} }

// overview selects the operator's view of companies; callers append a WHERE
// clause on t (gusto_auth_tokens) and an ORDER BY.
const overview = `
SELECT t.company_uuid::text AS uuid, COALESCE(g.name, '') AS name, t.status, t.status_reason,
       t.status_changed_at, t.access_token_expiration AS token_expires_at, t.last_refreshed_at,
       t.consecutive_failures, s.next_due_at, COALESCE(s.interval_seconds, 0) AS interval_seconds,
       ok.finished_at AS last_sync_at, COALESCE(ok.records_synced, 0) AS last_sync_rows,
       COALESCE(lr.status, '') AS last_run_status, fs.completed_at AS last_full_sync_at
FROM gusto_auth_tokens t
LEFT JOIN company_schedules s ON s.company_uuid = t.company_uuid
LEFT JOIN company_full_syncs fs ON fs.company_uuid = t.company_uuid
LEFT JOIN gusto_companies g ON g.uuid = t.company_uuid
LEFT JOIN LATERAL (
	SELECT r.finished_at, r.records_synced FROM sync_runs r
	WHERE r.company_uuid = t.company_uuid AND r.status = 'succeeded'
	ORDER BY r.finished_at DESC NULLS LAST LIMIT 1) ok ON true
LEFT JOIN LATERAL (
	SELECT r.status FROM sync_runs r
	WHERE r.company_uuid = t.company_uuid
	ORDER BY r.created_at DESC LIMIT 1) lr ON true
`

// overviewRow is one row of overview as scanned.
type overviewRow struct {
	UUID                string
	Name                string
	Status              string
	StatusReason        string
	StatusChangedAt     time.Time
	TokenExpiresAt      time.Time
	LastRefreshedAt     sql.NullTime
	ConsecutiveFailures int
	NextDueAt           sql.NullTime
	IntervalSeconds     int64
	LastSyncAt          sql.NullTime
	LastSyncRows        int64
	LastRunStatus       string
	LastFullSyncAt      sql.NullTime
}

func (r overviewRow) company() Company {
	return Company{
		UUID: r.UUID, Name: r.Name, Status: tokens.Status(r.Status), StatusReason: r.StatusReason,
		StatusChangedAt: r.StatusChangedAt, TokenExpiresAt: r.TokenExpiresAt,
		LastRefreshedAt: timePtr(r.LastRefreshedAt), ConsecutiveFailures: r.ConsecutiveFailures,
		LastSyncAt: timePtr(r.LastSyncAt), LastSyncRows: r.LastSyncRows, LastRunStatus: r.LastRunStatus,
		LastFullSyncAt: timePtr(r.LastFullSyncAt),
		NextDueAt:      timePtr(r.NextDueAt), Interval: time.Duration(r.IntervalSeconds) * time.Second,
	}
}

// List returns every onboarded company, ordered by uuid, in one query.
// status, when not empty, keeps only companies with that status.
func (d *Directory) List(ctx context.Context, status tokens.Status) ([]Company, error) {
	var rows []overviewRow
	err := d.db.WithContext(ctx).Raw(overview+`WHERE ? = '' OR t.status = ? ORDER BY t.company_uuid`,
		string(status), string(status)).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("companies: list: %w", err)
	}
	out := make([]Company, len(rows))
	for i, r := range rows {
		out[i] = r.company()
	}
	return out, nil
}

// Get returns one company (any uuid form; the result's is canonical). A
// company that is not onboarded, or a uuid that does not parse, is a
// *NotFoundError.
func (d *Directory) Get(ctx context.Context, company string) (Company, error) {
	id, err := uuid.Parse(company)
	if err != nil {
		return Company{}, &NotFoundError{Company: company}
	}
	var rows []overviewRow
	if err := d.db.WithContext(ctx).Raw(overview+`WHERE t.company_uuid = ?`, id.String()).Scan(&rows).Error; err != nil {
		return Company{}, fmt.Errorf("companies: read company %s: %w", id, err)
	}
	if len(rows) == 0 {
		return Company{}, &NotFoundError{Company: id.String()}
	}
	return rows[0].company(), nil
}

// Active returns every company whose status is active, in uuid order.
func (d *Directory) Active(ctx context.Context) ([]Schedule, error) {
	return d.schedules(ctx, "list active companies", `ORDER BY t.company_uuid`)
}

// Due returns every active company whose next window has opened at at
// (company_schedules.next_due_at), in one query. A company without a
// schedule row is due at once.
func (d *Directory) Due(ctx context.Context, at time.Time) ([]Schedule, error) {
	return d.schedules(ctx, "read due companies", `AND (s.next_due_at IS NULL OR s.next_due_at <= ?)`, at)
}

// schedules reads active companies with their own interval, the query
// completed by tail and args; op names it in errors.
func (d *Directory) schedules(ctx context.Context, op, tail string, args ...any) ([]Schedule, error) {
	var rows []struct {
		UUID            string
		IntervalSeconds int64
	}
	err := d.db.WithContext(ctx).Raw(`
		SELECT t.company_uuid::text AS uuid, COALESCE(s.interval_seconds, 0) AS interval_seconds
		FROM gusto_auth_tokens t
		LEFT JOIN company_schedules s ON s.company_uuid = t.company_uuid
		WHERE t.status = 'active' `+tail, args...).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("companies: %s: %w", op, err)
	}
	out := make([]Schedule, len(rows))
	for i, r := range rows {
		out[i] = Schedule{UUID: r.UUID, Interval: time.Duration(r.IntervalSeconds) * time.Second}
	}
	return out, nil
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}
