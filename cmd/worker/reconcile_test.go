package main

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/waitfor"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// faults answers 500 to every payroll request while failPayrolls is set.
type faults struct{ failPayrolls atomic.Bool }

func (f *faults) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if f.failPayrolls.Load() && strings.HasSuffix(r.URL.Path, "/payrolls") {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusInternalServerError)
			_, _ = rw.Write([]byte(`{"errors":[{"error_key":"base","category":"internal_error","message":"injected"}]}`))
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// enqueueKind puts a sync of company of the given kind on the queue.
func (w *world) enqueueKind(company, run string, kind checkpoint.Kind) {
	w.t.Helper()
	task, err := jobs.NewSyncTask(company, run, kind)
	if err != nil {
		w.t.Fatal(err)
	}
	c := asynq.NewClientFromRedisClient(w.redis.Client())
	defer c.Close()
	if _, err := c.Enqueue(task); err != nil {
		w.t.Fatal(err)
	}
}

// TestDeletionsReconciledByWorkers (issue 12, must show d, with a worker
// process): records deleted in Gusto stay live through a full walk that
// fails midway (its employees walked, every payroll request answered 500);
// the same run, retried by asynq once Gusto recovers, completes and marks
// exactly them deleted, the live rows equal to the simulator's; when they
// come back, an incremental sync undeletes them.
func TestDeletionsReconciledByWorkers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{RateLimit: 600})
	company := w.company(80, 60)
	w.start("reconciler", "GUSTO_RATE_LIMIT=600")
	first := uuid.NewString()
	w.enqueueKind(company, first, checkpoint.KindFull)
	w.waitRun(first, "succeeded", time.Minute)
	rowcheck.Require(t, w.pool(), w.sim, company)

	victims := map[string]string{}
	for _, res := range []string{"employees", "payrolls"} {
		ids, err := w.sim.DeletableRecords(company, res)
		if err != nil || len(ids) == 0 {
			t.Fatalf("no deletable %s (%v)", res, err)
		}
		victims[res] = ids[0]
		if err := w.sim.DeleteRecord(company, res, ids[0]); err != nil {
			t.Fatal(err)
		}
	}
	deleted := func() int64 {
		var n int64
		if err := w.db.Gorm.Raw(`SELECT (SELECT count(*) FROM gusto_employees WHERE company_uuid = ? AND deleted_at IS NOT NULL)
			+ (SELECT count(*) FROM gusto_payrolls WHERE company_uuid = ? AND deleted_at IS NOT NULL)`, company, company).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A full walk failing midway.
	w.faults.failPayrolls.Store(true)
	run := uuid.NewString()
	w.enqueueKind(company, run, checkpoint.KindFull)
	waitfor.Condition(t, time.Minute, "the full walk to fail in its payrolls after its employees", func() bool {
		var failed bool
		_ = w.db.Gorm.Raw(`SELECT EXISTS (SELECT 1 FROM sync_runs r JOIN sync_checkpoints c ON c.run_id = r.id AND c.resource = 'employees' AND c.done
			WHERE r.id = ? AND r.status = 'pending' AND r.error <> '')`, run).Scan(&failed).Error
		return failed
	})
	if n := deleted(); n != 0 {
		t.Fatalf("a failed full walk marked %d rows deleted", n)
	}

	// Gusto recovers; asynq's retry of the same run completes the walk.
	w.faults.failPayrolls.Store(false)
	r := w.waitRun(run, "succeeded", 2*time.Minute)
	if r.Attempts < 2 {
		t.Fatalf("run %+v: want it to have been retried", r)
	}
	if n := deleted(); n != 2 {
		t.Fatalf("the completed full walk marked %d rows deleted, want 2", n)
	}
	rowcheck.Require(t, w.pool(), w.sim, company)

	// They come back: the next (incremental) sync undeletes them.
	for res, id := range victims {
		if err := w.sim.RestoreRecord(company, res, id); err != nil {
			t.Fatal(err)
		}
	}
	inc := uuid.NewString()
	w.enqueueKind(company, inc, checkpoint.KindIncremental)
	w.waitRun(inc, "succeeded", time.Minute)
	if n := deleted(); n != 0 {
		t.Fatalf("%d rows still deleted after they reappeared", n)
	}
	if kind := w.scalar(`SELECT kind FROM sync_runs WHERE id = ?`, inc); kind != "incremental" {
		t.Fatalf("the last run was %q, want incremental", kind)
	}
	rowcheck.Require(t, w.pool(), w.sim, company)
}

func (w *world) scalar(q string, args ...any) string {
	w.t.Helper()
	var v string
	if err := w.db.Gorm.Raw(q, args...).Row().Scan(&v); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
	return v
}
