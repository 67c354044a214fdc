package scheduler

import (
	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/jobs"
)

// syncTask builds the sync:company task for company and run through
// internal/jobs (payload, queue, retries, timeout). The task id and the
// retention are set at enqueue time and override the task's defaults.
func syncTask(company string, runID uuid.UUID, opts ...asynq.Option) (*asynq.Task, error) {
	return jobs.NewSyncTask(company, runID.String(), opts...)
}
