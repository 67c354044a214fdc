package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hibiken/asynq"
)

// ArchivedTask is a task asynq archived (retries exhausted or SkipRetry).
type ArchivedTask struct {
	Queue, ID, Type, Company, LastErr string
}

// ArchivedTasks lists archived tasks in every queue of the Redis at
// redisAddr, with the company of sync:company payloads.
func ArchivedTasks(redisAddr string) ([]ArchivedTask, error) {
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: redisAddr})
	defer in.Close()
	queues, err := in.Queues()
	if err != nil {
		return nil, fmt.Errorf("devstack: list queues: %w", err)
	}
	var out []ArchivedTask
	for _, q := range queues {
		for page := 1; ; page++ {
			tasks, err := in.ListArchivedTasks(q, asynq.PageSize(100), asynq.Page(page))
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				return nil, fmt.Errorf("devstack: archived tasks of %s: %w", q, err)
			}
			for _, t := range tasks {
				var p struct {
					CompanyUUID string `json:"company_uuid"`
				}
				_ = json.Unmarshal(t.Payload, &p)
				out = append(out, ArchivedTask{Queue: q, ID: t.ID, Type: t.Type, Company: strings.ToLower(p.CompanyUUID), LastErr: t.LastErr})
			}
			if len(tasks) < 100 {
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// QueueCounts sums asynq's queue sizes over every queue.
type QueueCounts struct {
	Pending, Active, Scheduled, Retry, Archived, Completed int
}

// Queues returns the summed sizes of every queue.
func Queues(redisAddr string) (QueueCounts, error) {
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: redisAddr})
	defer in.Close()
	queues, err := in.Queues()
	if err != nil {
		return QueueCounts{}, fmt.Errorf("devstack: list queues: %w", err)
	}
	var c QueueCounts
	for _, q := range queues {
		info, err := in.GetQueueInfo(q)
		if err != nil {
			return QueueCounts{}, fmt.Errorf("devstack: queue %s: %w", q, err)
		}
		c.Pending += info.Pending
		c.Active += info.Active
		c.Scheduled += info.Scheduled
		c.Retry += info.Retry
		c.Archived += info.Archived
		c.Completed += info.Completed
	}
	return c, nil
}
