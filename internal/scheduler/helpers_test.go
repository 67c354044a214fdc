package scheduler_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// addCompanies stores n token rows with the given status and returns their
// uuids. The ciphertexts are placeholders: the scheduler never reads them.
func addCompanies(t testing.TB, db *gorm.DB, n int, status string) []string {
	t.Helper()
	reason := "test"
	if status == "active" {
		reason = ""
	}
	var out []string
	if err := db.Raw(`
		INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, scopes, status, status_reason)
		SELECT gen_random_uuid(), '\x00', '\x00', 'k1', now() + interval '2 hours', 'companies:read', ?, ?
		FROM generate_series(1, ?)
		RETURNING company_uuid::text`, status, reason, n).Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// queuedTask is one task found in Redis through the Inspector.
type queuedTask struct {
	ID      string
	Company string
	RunID   string
	Kind    string
	State   string
}

// allTasks lists every task of every queue, in every state, through asynq's
// Inspector.
func allTasks(t testing.TB, insp *asynq.Inspector) []queuedTask {
	t.Helper()
	queues, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	var out []queuedTask
	for _, q := range queues {
		lists := map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			"pending":   insp.ListPendingTasks,
			"active":    insp.ListActiveTasks,
			"scheduled": insp.ListScheduledTasks,
			"retry":     insp.ListRetryTasks,
			"archived":  insp.ListArchivedTasks,
			"completed": insp.ListCompletedTasks,
		}
		for state, list := range lists {
			for page := 1; ; page++ {
				infos, err := list(q, asynq.PageSize(1000), asynq.Page(page))
				if err != nil {
					t.Fatalf("list %s tasks of %s: %v", state, q, err)
				}
				for _, ti := range infos {
					var p struct {
						Company string `json:"company_uuid"`
						RunID   string `json:"run_id"`
						Kind    string `json:"kind"`
					}
					_ = json.Unmarshal(ti.Payload, &p)
					out = append(out, queuedTask{ID: ti.ID, Company: p.Company, RunID: p.RunID, Kind: p.Kind, State: state})
				}
				if len(infos) < 1000 {
					break
				}
			}
		}
	}
	return out
}

// companyOfTaskID returns the company part of "sync:<company>:<window>".
func companyOfTaskID(id string) string {
	parts := strings.Split(id, ":")
	if len(parts) != 3 {
		return ""
	}
	return parts[1]
}

// settled reports whether no task of any queue is pending, active, scheduled
// or waiting for a retry.
func settled(t testing.TB, insp *asynq.Inspector) bool {
	t.Helper()
	queues, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		qi, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		if qi.Pending+qi.Active+qi.Scheduled+qi.Retry > 0 {
			return false
		}
	}
	return true
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
