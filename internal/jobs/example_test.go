package jobs_test

import (
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/jobs"
)

// ExampleNewSyncTask builds the task a scheduler enqueues: the payload holds
// the company, the run id and the kind only, and the defaults (queue, retries,
// timeout, a task id per run) can be overridden per call.
func ExampleNewSyncTask() {
	task, err := jobs.NewSyncTask("6a1c2b9e-1111-4222-8333-444455556666", "0b6f1c52-7d3e-4c4a-9f0e-2a4b6c8d0e1f",
		checkpoint.KindIncremental, asynq.Queue(jobs.QueueCritical)) // a person is waiting
	if err != nil {
		panic(err)
	}
	fmt.Println(task.Type())
	fmt.Println(string(task.Payload()))

	_, err = jobs.ParsePayload([]byte(`{"company_uuid":"acme","run_id":"0b6f1c52-7d3e-4c4a-9f0e-2a4b6c8d0e1f"}`))
	fmt.Println(err)
	// Output:
	// sync:company
	// {"company_uuid":"6a1c2b9e-1111-4222-8333-444455556666","run_id":"0b6f1c52-7d3e-4c4a-9f0e-2a4b6c8d0e1f","kind":"incremental"}
	// sync:company payload: company_uuid: "acme" is not a uuid
}
