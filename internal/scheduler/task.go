package scheduler

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/jobs"
)

// DefaultFullEvery is Config.FullEvery's default: a full reconciliation of
// each company once a week.
const DefaultFullEvery = 7 * 24 * time.Hour

// syncTask builds the sync:company task for company and run through
// internal/jobs (payload, queue, retries, timeout). The task id and the
// retention are set at enqueue time and override the task's defaults.
func syncTask(company string, runID uuid.UUID, kind checkpoint.Kind, opts ...asynq.Option) (*asynq.Task, error) {
	return jobs.NewSyncTask(company, runID.String(), kind, opts...)
}

// FullDue reports whether company's next sync should be a full walk: when it
// never completed one (lastFull is the zero time), or when its last one
// completed before the start of the company's current full-sync slot.
// Slots are every long, each company's offset inside the period a hash of
// its uuid (Offset with jitter 1), so full walks spread evenly over the
// period whatever day companies were onboarded, every replica agrees, and
// the gap between two full walks of a company is at most every plus one
// sync.
func FullDue(company string, lastFull time.Time, every time.Duration, now time.Time) bool {
	if lastFull.IsZero() {
		return true
	}
	return lastFull.Before(WindowAt(company, every, 1, now).Start)
}

// chooseKinds sets each item's kind: full when FullDue (or when full is
// forced), else incremental.
func (s *Scheduler) chooseKinds(ctx context.Context, items []due, now time.Time, full bool) error {
	if full {
		for i := range items {
			items[i].kind = checkpoint.KindFull
		}
		return nil
	}
	ids := make([]string, len(items))
	for i, d := range items {
		ids[i] = d.company
	}
	last, err := checkpoint.LastFullSyncs(ctx, s.db, ids)
	if err != nil {
		return err
	}
	for i := range items {
		items[i].kind = checkpoint.KindIncremental
		if FullDue(items[i].company, last[items[i].company], s.cfg.FullEvery, now) {
			items[i].kind = checkpoint.KindFull
		}
	}
	return nil
}
