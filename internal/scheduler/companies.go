package scheduler

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Company is one company as operators see it: its token status (never the
// token), its schedule and its last successful sync.
type Company struct {
	// UUID is the Gusto company uuid.
	UUID string `json:"company_uuid"`
	// Name is the company's name from the last sync, or empty.
	Name string `json:"name"`
	// Status is active, needs_reauth or paused.
	Status string `json:"status"`
	// StatusReason says why the company needs re-authorization or is paused.
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
	// LastRunStatus is the status of the most recent run (pending, running,
	// succeeded, failed, stopped), or empty.
	LastRunStatus string `json:"last_run_status"`
	// NextDueAt is when the scheduler next enqueues the company; nil means at
	// its next tick.
	NextDueAt *time.Time `json:"next_due_at,omitempty"`
}

// ListCompanies returns every onboarded company, ordered by uuid, in one
// query. status, when not empty, keeps only companies with that status.
func ListCompanies(ctx context.Context, db *sql.DB, status string) ([]Company, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT t.company_uuid::text, COALESCE(g.name, ''), t.status, t.status_reason,
		       t.status_changed_at, t.access_token_expiration, t.last_refreshed_at,
		       t.consecutive_failures, s.next_due_at,
		       ok.finished_at, COALESCE(ok.records_synced, 0), COALESCE(lr.status, '')
		FROM gusto_auth_tokens t
		LEFT JOIN company_schedules s ON s.company_uuid = t.company_uuid
		LEFT JOIN gusto_companies g ON g.uuid = t.company_uuid
		LEFT JOIN LATERAL (
			SELECT r.finished_at, r.records_synced FROM sync_runs r
			WHERE r.company_uuid = t.company_uuid AND r.status = 'succeeded'
			ORDER BY r.finished_at DESC NULLS LAST LIMIT 1) ok ON true
		LEFT JOIN LATERAL (
			SELECT r.status FROM sync_runs r
			WHERE r.company_uuid = t.company_uuid
			ORDER BY r.created_at DESC LIMIT 1) lr ON true
		WHERE $1 = '' OR t.status = $1
		ORDER BY t.company_uuid`, status)
	if err != nil {
		return nil, fmt.Errorf("scheduler: list companies: %w", err)
	}
	defer rows.Close()
	var out []Company
	for rows.Next() {
		var c Company
		var refreshed, next, synced sql.NullTime
		if err := rows.Scan(&c.UUID, &c.Name, &c.Status, &c.StatusReason, &c.StatusChangedAt,
			&c.TokenExpiresAt, &refreshed, &c.ConsecutiveFailures, &next,
			&synced, &c.LastSyncRows, &c.LastRunStatus); err != nil {
			return nil, fmt.Errorf("scheduler: list companies: %w", err)
		}
		c.LastRefreshedAt = timePtr(refreshed)
		c.NextDueAt = timePtr(next)
		c.LastSyncAt = timePtr(synced)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scheduler: list companies: %w", err)
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
