// Package scheduler decides when each company is synced and enqueues the
// sync:company tasks for the companies that are due.
//
// Time is cut into windows per company: a window is Interval long and starts
// at a deterministic per-company offset (a hash of the company uuid spread
// over Jitter×Interval), so thousands of companies do not all fire at the
// same instant. On each tick the scheduler reads every active company that is
// due in one query, enqueues one task per company for its current window with
// a fixed worker pool, and records the window in company_schedules.
//
// Exactly one task per company per window, however many replicas run: the
// task id is sync:<company>:<window> and the task is kept (asynq Retention)
// at least until its window ends, so a sibling replica's enqueue of the same
// window is refused by Redis (asynq.ErrTaskIDConflict) and counted as a
// duplicate, not as a second task. PostgreSQL only makes the next tick cheap;
// correctness comes from the task id.
//
// Companies whose token status is needs_reauth or paused are never enqueued.
// The package never reads or writes a token: it selects company uuids and
// statuses only. It owns the company_schedules table and the read-only
// company overview that the CLI and the dashboard show.
package scheduler
