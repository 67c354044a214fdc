package companies

import (
	"context"
	"fmt"
	"time"

	"github.com/gustosync/gustosync/internal/postgres"
)

// OpenWindow is an active company's last recorded scheduled window
// (company_schedules.last_window) while it is still open.
type OpenWindow struct {
	// UUID is the company.
	UUID string
	// Window is the window's index (scheduler.WindowAt).
	Window int64
	// Interval is the company's own sync interval; 0 means the default.
	Interval time.Duration
}

// OpenWindows returns every active company whose recorded window is still
// open at at (its next window opens later), in one query. The scheduler
// checks that these windows' tasks are still on the queue.
func (d *Directory) OpenWindows(ctx context.Context, at time.Time) ([]OpenWindow, error) {
	var rows []struct {
		UUID            string
		LastWindow      int64
		IntervalSeconds int64
	}
	err := d.db.WithContext(ctx).Raw(`
		SELECT s.company_uuid::text AS uuid, s.last_window, COALESCE(s.interval_seconds, 0) AS interval_seconds
		FROM company_schedules s
		JOIN gusto_auth_tokens t ON t.company_uuid = s.company_uuid
		WHERE t.status = 'active' AND s.last_window IS NOT NULL AND s.next_due_at > ?`, at).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("companies: read open windows: %w", err)
	}
	out := make([]OpenWindow, len(rows))
	for i, r := range rows {
		out[i] = OpenWindow{UUID: r.UUID, Window: r.LastWindow, Interval: time.Duration(r.IntervalSeconds) * time.Second}
	}
	return out, nil
}

// UnfinishedRuns returns those of runIDs (canonical uuids) that have not
// finished: no sync_runs row yet (the task was never picked up), or one
// that is pending or running. One query; a failed, stopped or succeeded run
// is finished.
func (d *Directory) UnfinishedRuns(ctx context.Context, runIDs []string) ([]string, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	var out []string
	err := d.db.WithContext(ctx).Raw(`
		SELECT u.id::text FROM unnest(?::uuid[]) AS u(id)
		LEFT JOIN sync_runs r ON r.id = u.id
		WHERE r.id IS NULL OR r.status IN ('pending', 'running')`, postgres.Array(runIDs)).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("companies: read %d runs: %w", len(runIDs), err)
	}
	return out, nil
}
