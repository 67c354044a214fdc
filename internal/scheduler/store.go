package scheduler

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// due is one company that the tick should enqueue.
type due struct {
	company  string
	interval time.Duration
	window   Window
	err      error // the enqueue's outcome
	dup      bool  // the task id was already taken (a sibling enqueued it)
}

// readDue returns every active company whose next window has opened at now,
// in one query. Companies without a schedule row are due at once. interval is
// the default for companies without their own.
func readDue(ctx context.Context, db *sql.DB, now time.Time, interval time.Duration) ([]due, error) {
	return readActive(ctx, db, "read due companies", interval,
		`AND (s.next_due_at IS NULL OR s.next_due_at <= $1)`, now)
}

// activeCompanies lists every company whose status is active, in uuid
// order; interval is the default for companies without their own.
func activeCompanies(ctx context.Context, db *sql.DB, interval time.Duration) ([]due, error) {
	return readActive(ctx, db, "list active companies", interval, `ORDER BY t.company_uuid`)
}

// readActive reads active companies with their own interval (or interval),
// the query completed by tail and args; op names it in errors.
func readActive(ctx context.Context, db *sql.DB, op string, interval time.Duration, tail string, args ...any) ([]due, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT t.company_uuid::text, COALESCE(s.interval_seconds, 0)
		FROM gusto_auth_tokens t
		LEFT JOIN company_schedules s ON s.company_uuid = t.company_uuid
		WHERE t.status = 'active' `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %s: %w", op, err)
	}
	defer rows.Close()
	var out []due
	for rows.Next() {
		var d due
		var secs int64
		if err := rows.Scan(&d.company, &secs); err != nil {
			return nil, fmt.Errorf("scheduler: %s: %w", op, err)
		}
		d.interval = interval
		if secs > 0 {
			d.interval = time.Duration(secs) * time.Second
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scheduler: %s: %w", op, err)
	}
	return out, nil
}

// markBatch bounds the array sizes of one markEnqueued statement.
const markBatch = 5000

// markEnqueued records, for each company, the window just enqueued and when
// the next one opens, in one statement per markBatch companies. Companies
// deleted meanwhile are skipped (the join), so the foreign key never fails.
// Two replicas writing the same window write the same values.
func markEnqueued(ctx context.Context, db *sql.DB, now time.Time, done []due) error {
	for len(done) > 0 {
		n := min(len(done), markBatch)
		batch := done[:n]
		done = done[n:]
		companies := make([]string, n)
		next := make([]time.Time, n)
		windows := make([]int64, n)
		for i, d := range batch {
			companies[i] = d.company
			next[i] = d.window.End
			windows[i] = d.window.Index
		}
		_, err := db.ExecContext(ctx, `
			INSERT INTO company_schedules AS s (company_uuid, next_due_at, last_window, last_enqueued_at, updated_at)
			SELECT u.company, u.next_due, u.win, $4, now()
			FROM unnest($1::uuid[], $2::timestamptz[], $3::bigint[]) AS u(company, next_due, win)
			JOIN gusto_auth_tokens t ON t.company_uuid = u.company
			ON CONFLICT (company_uuid) DO UPDATE SET
				next_due_at      = EXCLUDED.next_due_at,
				last_window      = EXCLUDED.last_window,
				last_enqueued_at = EXCLUDED.last_enqueued_at,
				updated_at       = now()`,
			companies, next, windows, now)
		if err != nil {
			return fmt.Errorf("scheduler: record %d enqueued windows: %w", n, err)
		}
	}
	return nil
}

// companyStatus reads one company's token status and reason.
func companyStatus(ctx context.Context, db *sql.DB, company string) (status, reason string, interval time.Duration, err error) {
	var secs int64
	err = db.QueryRowContext(ctx, `
		SELECT t.status, t.status_reason, COALESCE(s.interval_seconds, 0)
		FROM gusto_auth_tokens t
		LEFT JOIN company_schedules s ON s.company_uuid = t.company_uuid
		WHERE t.company_uuid = $1`, company).Scan(&status, &reason, &secs)
	if err == sql.ErrNoRows {
		return "", "", 0, &UnknownCompanyError{Company: company}
	}
	if err != nil {
		return "", "", 0, fmt.Errorf("scheduler: read company %s: %w", company, err)
	}
	return status, reason, time.Duration(secs) * time.Second, nil
}
