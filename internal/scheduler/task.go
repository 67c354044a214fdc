package scheduler

import (
	"encoding/json"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
)

// syncTask builds the sync:company task for company and run.
// TEMPORARY: replaced by jobs.NewSyncTask when internal/jobs lands.
func syncTask(company string, runID uuid.UUID) (*asynq.Task, error) {
	b, err := json.Marshal(map[string]string{"company_uuid": company, "run_id": runID.String()})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask("sync:company", b), nil
}
