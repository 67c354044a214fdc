package scheduler

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/postgres"
)

// due is one company that the tick should enqueue.
type due struct {
	company  string
	interval time.Duration
	window   Window
	kind     checkpoint.Kind // set by chooseKinds (task.go)
	err      error           // the enqueue's outcome
	dup      bool            // the task id was already taken (a sibling enqueued it)
}

// dues turns the directory's schedules into tick items; interval is the
// default for companies without their own.
func dues(list []companies.Schedule, interval time.Duration) []due {
	out := make([]due, len(list))
	for i, c := range list {
		out[i] = due{company: c.UUID, interval: interval}
		if c.Interval > 0 {
			out[i].interval = c.Interval
		}
	}
	return out
}

// markBatch bounds the array sizes of one markEnqueued statement.
const markBatch = 5000

// markEnqueued records, for each company, the window just enqueued and when
// the next one opens, in one statement per markBatch companies. Companies
// deleted meanwhile are skipped (the join on gusto_auth_tokens, the row
// company_schedules references), so the foreign key never fails.
// Two replicas writing the same window write the same values.
func markEnqueued(ctx context.Context, db *gorm.DB, now time.Time, done []due) error {
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
		err := db.WithContext(ctx).Exec(`
			INSERT INTO company_schedules AS s (company_uuid, next_due_at, last_window, last_enqueued_at, updated_at)
			SELECT u.company, u.next_due, u.win, ?, now()
			FROM unnest(?::uuid[], ?::timestamptz[], ?::bigint[]) AS u(company, next_due, win)
			JOIN gusto_auth_tokens t ON t.company_uuid = u.company
			ON CONFLICT (company_uuid) DO UPDATE SET
				next_due_at      = EXCLUDED.next_due_at,
				last_window      = EXCLUDED.last_window,
				last_enqueued_at = EXCLUDED.last_enqueued_at,
				updated_at       = now()`,
			now, postgres.Array(companies), postgres.Array(next), postgres.Array(windows)).Error
		if err != nil {
			return fmt.Errorf("scheduler: record %d enqueued windows: %w", n, err)
		}
	}
	return nil
}
