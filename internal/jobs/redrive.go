package jobs

import (
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
)

// RedriveTask returns the task that re-drives run of company after
// checkpoint.Store.TakeOver fenced its dead attempt at epoch: the payload of
// NewSyncTask (so the handler resumes the same run from its checkpoint), on
// QueueCritical (a run that was already under way should not wait behind a
// backlog), under its own task id "sync:<run>:redrive:<epoch>": the original
// task still holds its own id until asynq recovers it, and a second takeover
// of the same run is another epoch, so another task.
//
// The payload asks for an incremental walk, but the run keeps the kind its
// first attempt fixed (checkpoint.Attempt.FixKind): only a run whose
// attempt died before fixing it walks incremental (full when the company
// never completed a full walk), and the scheduler's next window then still
// finds the full reconciliation due.
func RedriveTask(company, runID string, epoch int64) (*asynq.Task, error) {
	return NewSyncTask(company, runID, checkpoint.KindIncremental, asynq.Queue(QueueCritical), asynq.TaskID(fmt.Sprintf("sync:%s:redrive:%d", runID, epoch)))
}
