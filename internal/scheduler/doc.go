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
// A window is recorded only after asynq accepted its task, and each tick
// first re-enqueues, under the same task id, the recorded windows that are
// still open, whose run has not finished and whose task Redis no longer
// holds (a FLUSHALL, a restart without persistence): see restore.go and
// Config.Lookup.
//
// Companies whose token status is needs_reauth or paused are never enqueued.
// The scheduler learns which companies are active and due from package
// companies (the read model); it owns company_schedules, the one table it
// writes (markEnqueued, whose join on gusto_auth_tokens only skips companies
// deleted meanwhile; SetInterval, a company's own interval within
// [MinInterval, MaxInterval]). It must never read or write a token, a status, or
// another package's table.
package scheduler
