package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// The resume section's lookup of the killed worker's task, in a fresh
// Redis where only the default queue was ever used (one `scheduler
// enqueue --all`, as in the section): the unused queues do not exist yet,
// and the lookup must pass over them, whatever order it visits the queues
// in. It failed `make bench` ("asynq: queue not found") whenever the map
// order put an unused queue first, so it is asked several times.
func TestActiveTaskOfPassesOverQueuesNotCreated(t *testing.T) {
	r := redistest.Start(t)
	run := uuid.NewString()
	task, err := jobs.NewSyncTask(uuid.NewString(), run, checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(r.Client())
	info, err := client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(r.Client(), asynq.Config{Concurrency: 1, Queues: jobs.Queues,
		TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc(jobs.TypeSyncCompany, func(ctx context.Context, _ *asynq.Task) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(release); srv.Shutdown() })
	in := asynq.NewInspectorFromRedisClient(r.Client())
	waitfor.Condition(t, 30*time.Second, "the task to be active", func() bool {
		got, err := in.GetTaskInfo(jobs.QueueDefault, info.ID)
		return err == nil && got.State == asynq.TaskStateActive
	})
	for range 20 {
		q, id, err := activeTaskOf(in, run)
		if err != nil {
			t.Fatalf("activeTaskOf: %v", err)
		}
		if q != jobs.QueueDefault || id != info.ID {
			t.Fatalf("activeTaskOf = %s/%s, want %s/%s", q, id, jobs.QueueDefault, info.ID)
		}
	}
}
