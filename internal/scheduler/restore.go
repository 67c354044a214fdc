package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/jobs"
)

// TaskLookup finds a task on the queue by its id. *asynq.Inspector
// implements it; it must be safe for concurrent use. A task that is not
// there is asynq.ErrTaskNotFound (or asynq.ErrQueueNotFound when its whole
// queue is gone).
type TaskLookup interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
}

// restoreBatch is how many open windows one restore step reads runs for.
const restoreBatch = 5000

// restore re-enqueues the scheduled windows Redis lost (invariant 15 in
// docs/invariants.md: a window recorded as enqueued is on the queue until
// its run finishes). It reads every active company whose recorded window
// is still open (one query), keeps those whose run has not finished (one
// query per 5,000, by primary key), looks each of these up on the queue by
// task id (one Redis round trip each, Config.Workers at a time), and
// enqueues the missing ones again under the same task id, so the task is
// the same run: a sibling replica restoring at once gets a duplicate, and a
// run that finished meanwhile ends at once (checkpoint.FinishedError).
//
// Cost per tick, steady state: the one query over company_schedules plus
// one primary-key read per open window, and a Redis lookup only for the
// windows whose run is still queued or running, which is none once the
// tick's syncs are done. Without Config.Lookup it does nothing.
func (s *Scheduler) restore(ctx context.Context, now time.Time) (Result, error) {
	if s.cfg.Lookup == nil {
		return Result{}, nil
	}
	open, err := s.companies.OpenWindows(ctx, now)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for off := 0; off < len(open); off += restoreBatch {
		part := open[off:min(off+restoreBatch, len(open))]
		items := make([]due, len(part))
		byRun := make(map[string]int, len(part))
		runs := make([]string, len(part))
		for i, w := range part {
			items[i] = due{company: w.UUID, interval: s.cfg.Interval, window: Window{Index: w.Window}}
			if w.Interval > 0 {
				items[i].interval = w.Interval
			}
			runs[i] = RunID(TaskID(w.UUID, w.Window)).String()
			byRun[runs[i]] = i
		}
		unfinished, err := s.companies.UnfinishedRuns(ctx, runs)
		if err != nil {
			return res, err
		}
		check := make([]due, 0, len(unfinished))
		for _, r := range unfinished {
			check = append(check, items[byRun[r]])
		}
		missing, err := s.missing(ctx, check)
		if err != nil {
			return res, err
		}
		if missing, err = s.stillOpen(ctx, missing); err != nil {
			return res, err
		}
		// The kind the cadence says; a run that had started keeps the kind
		// its first attempt fixed (checkpoint.Attempt.FixKind).
		if err := s.chooseKinds(ctx, missing, now, false); err != nil {
			return res, err
		}
		r, err := s.enqueue(ctx, missing, func(d *due) string { return TaskID(d.company, d.window.Index) })
		res.Due += len(check)
		res.Restored += r.Enqueued
		res.Duplicates += r.Duplicates
		res.Failed += r.Failed
		if err != nil {
			return res, &EnqueueError{Failed: r.Failed, Total: len(missing), Err: err}
		}
	}
	return res, nil
}

// missing returns the items whose task is not on the queue, looking them
// up with Config.Workers goroutines. A lookup that fails otherwise (Redis
// down) fails the restore; the next tick tries again.
func (s *Scheduler) missing(ctx context.Context, items []due) ([]due, error) {
	if len(items) == 0 {
		return nil, nil
	}
	found := make([]bool, len(items))
	errs := make([]error, len(items))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, len(items)) {
		wg.Go(func() {
			for i := range work {
				_, err := s.cfg.Lookup.GetTaskInfo(jobs.QueueDefault, TaskID(items[i].company, items[i].window.Index))
				switch {
				case err == nil:
					found[i] = true
				case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
				default:
					errs[i] = err
				}
			}
		})
	}
	for i := range items {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []due
	for i, d := range items {
		if errs[i] != nil {
			return nil, fmt.Errorf("scheduler: look up task %s: %w", TaskID(d.company, d.window.Index), errs[i])
		}
		if !found[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

// stillOpen keeps the items whose window is still open after the lookups.
// A completed task is retained for one interval from its completion, so it
// outlives its window; a task found missing because its retention ran out
// belongs to a window that closed while the lookups ran (a slow tick at a
// window's end): re-enqueuing it would run the window twice. One query, and
// only when something is missing.
func (s *Scheduler) stillOpen(ctx context.Context, items []due) ([]due, error) {
	if len(items) == 0 {
		return nil, nil
	}
	open, err := s.companies.OpenWindows(ctx, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	current := make(map[string]int64, len(open))
	for _, w := range open {
		current[w.UUID] = w.Window
	}
	kept := items[:0]
	for _, d := range items {
		if w, ok := current[d.company]; ok && w == d.window.Index {
			kept = append(kept, d)
		}
	}
	return kept, nil
}
