package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/offboard"
)

// TestRemovedCompanyStopsMidSync: a company removed while a sync of it is
// running (invariant 24) gets no batch committed after the removal, and a
// task still queued for it ends quietly (not retried, not archived) without
// writing a row, although the worker still holds its access token.
func TestRemovedCompanyStopsMidSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}})
	ctx := testCtx(t, time.Minute)
	company := e.company(3000, 50, nil)
	rows := func() int64 {
		return count(t, e, `SELECT (SELECT count(*) FROM gusto_employees WHERE company_uuid = ?) + (SELECT count(*) FROM gusto_payrolls WHERE company_uuid = ?)`, company, company)
	}
	var atRemoval int64
	h := e.handler(func(c *jobs.Config) {
		c.Hooks.BeforeCommit = func(ctx context.Context, _ string, _ int64, _ checkpoint.Resource, batch int) {
			if batch == 3 {
				atRemoval = rows()
				if _, err := offboard.Remove(ctx, e.db.Gorm, company, offboard.Options{By: "test"}); err != nil {
					t.Errorf("remove: %v", err)
				}
			}
		}
	})
	run := uuid.NewString()
	if err := h.ProcessTask(ctx, task(t, company, run)); err != nil {
		t.Fatalf("the attempt running at the removal: %v, want nil (stop quietly)", err)
	}
	if atRemoval == 0 || rows() != atRemoval {
		t.Fatalf("%d rows when removed, %d after: nothing may be committed after the removal", atRemoval, rows())
	}
	if r := readRun(t, e.db.Gorm, run); r.Status != "stopped" {
		t.Fatalf("run after the removal: %+v, want stopped", r)
	}

	// A task still queued for the company, on the same worker (its access
	// token cached), ends at its claim.
	queued := uuid.NewString()
	if err := h.ProcessTask(ctx, task(t, company, queued)); err != nil {
		t.Fatalf("queued task of a removed company: %v, want nil", err)
	}
	if r := readRun(t, e.db.Gorm, queued); r.Status != "stopped" {
		t.Fatalf("queued run: %+v, want stopped", r)
	}
	if rows() != atRemoval {
		t.Fatalf("the queued task wrote rows")
	}
}
