package jobs_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
)

func kindTask(t testing.TB, company, run string, kind checkpoint.Kind) *asynq.Task {
	t.Helper()
	tk, err := jobs.NewSyncTask(company, run, kind)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// requestLog records the path and query of every API request.
type requestLog struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			l.mu.Lock()
			l.reqs = append(l.reqs, r.Clone(r.Context()))
			l.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// take returns the requests recorded since the last take.
func (l *requestLog) take() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

// TestIncrementalReadsOnlyRecentWindows: after a full sync, an incremental
// run requests every employee page, no company record, and payroll windows
// that start no earlier than the recent range less the window overlap; yet
// under every reading of Gusto's date filters it brings back every payroll
// whose check date is in range (here: all of them were lost from the table
// before the incremental run, and the rows are exact again after it).
func TestIncrementalReadsOnlyRecentWindows(t *testing.T) {
	t.Parallel()
	for _, reading := range []gustosim.PayrollFilter{gustosim.FilterWithin, gustosim.FilterStart, gustosim.FilterOverlap, gustosim.FilterCheckDate} {
		t.Run(string(reading), func(t *testing.T) {
			t.Parallel()
			log := &requestLog{}
			e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1, PayrollFilter: reading}, wrap: log.wrap})
			ctx := testCtx(t, time.Minute)
			company := e.company(30, 300, nil) // years of biweekly and monthly payrolls
			now := time.Now().UTC()
			h := e.handler(func(c *jobs.Config) { c.Now = func() time.Time { return now } })
			if err := h.ProcessTask(ctx, kindTask(t, company, uuid.NewString(), checkpoint.KindFull)); err != nil {
				t.Fatal(err)
			}
			e.requireExact(company)
			full := log.take()

			// Lose every payroll whose check date is in the incremental
			// range (the last 90 days and up to three months ahead).
			today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
			since := today.AddDate(0, 0, -jobs.DefaultIncrementalPayrollDays)
			lost := e.db.Gorm.Exec(`DELETE FROM gusto_payrolls WHERE company_uuid = ? AND check_date >= ?`, company, since.Format(time.DateOnly))
			if lost.Error != nil || lost.RowsAffected == 0 {
				t.Fatalf("deleting the recent payrolls: %v, %d rows", lost.Error, lost.RowsAffected)
			}
			if err := h.ProcessTask(ctx, kindTask(t, company, uuid.NewString(), checkpoint.KindIncremental)); err != nil {
				t.Fatal(err)
			}
			e.requireExact(company)
			inc := log.take()

			earliest := since.AddDate(0, 0, -45) // less the window overlap
			var payrollReqs, employeeReqs int
			for _, r := range inc {
				switch {
				case strings.HasSuffix(r.URL.Path, "/payrolls"):
					payrollReqs++
					start, err := time.Parse(time.DateOnly, r.URL.Query().Get("start_date"))
					if err != nil || start.Before(earliest) {
						t.Fatalf("incremental run requested payrolls from %q, before %s", r.URL.Query().Get("start_date"), earliest.Format(time.DateOnly))
					}
				case strings.HasSuffix(r.URL.Path, "/employees"):
					employeeReqs++
				case strings.HasSuffix(r.URL.Path, "/companies/"+company):
					t.Fatalf("incremental run requested the company record: %s", r.URL)
				}
			}
			if employeeReqs == 0 || payrollReqs == 0 {
				t.Fatalf("incremental run: %d employee and %d payroll requests; want both", employeeReqs, payrollReqs)
			}
			if len(inc)*2 > len(full) {
				t.Fatalf("incremental run made %d requests, the full one %d: not fewer by half", len(inc), len(full))
			}
			t.Logf("%s: full run %d requests, incremental %d", reading, len(full), len(inc))
		})
	}
}

// failPayrolls answers 500 to every payroll request while on is set.
type failPayrolls struct{ on atomic.Bool }

func (f *failPayrolls) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.on.Load() && strings.HasSuffix(r.URL.Path, "/payrolls") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"errors":[{"error_key":"base","category":"internal_error","message":"injected"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestDeletionsReconciledOnlyAfterCompleteFullWalk (issue 12, must show d):
// records deleted in Gusto stay live in our tables through an incremental
// sync and through a full walk that fails midway (its employees walked,
// its payrolls failing); the same full run, once it completes, marks exactly
// them deleted (the rows match the simulator's live set); when they come
// back, the next sync, incremental, undeletes them.
func TestDeletionsReconciledOnlyAfterCompleteFullWalk(t *testing.T) {
	t.Parallel()
	fail := &failPayrolls{}
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}, wrap: fail.wrap})
	ctx := testCtx(t, 2*time.Minute)
	company := e.company(80, 60, nil)
	h := e.handler(func(c *jobs.Config) { c.PageAttempts = 1; c.BatchSize = 25 })
	if err := h.ProcessTask(ctx, kindTask(t, company, uuid.NewString(), checkpoint.KindFull)); err != nil {
		t.Fatal(err)
	}
	e.requireExact(company)

	victims := map[string]string{}
	for _, res := range []string{"employees", "payrolls"} {
		ids, err := e.sim.DeletableRecords(company, res)
		if err != nil || len(ids) == 0 {
			t.Fatalf("no deletable %s (%v): the test needs one", res, err)
		}
		victims[res] = ids[0]
		if err := e.sim.DeleteRecord(company, res, ids[0]); err != nil {
			t.Fatal(err)
		}
	}
	deleted := func() int64 {
		var n int64
		if err := e.db.Gorm.Raw(`SELECT (SELECT count(*) FROM gusto_employees WHERE company_uuid = ? AND deleted_at IS NOT NULL)
			+ (SELECT count(*) FROM gusto_payrolls WHERE company_uuid = ? AND deleted_at IS NOT NULL)`, company, company).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}

	// An incremental sync marks nothing.
	if err := h.ProcessTask(ctx, kindTask(t, company, uuid.NewString(), checkpoint.KindIncremental)); err != nil {
		t.Fatal(err)
	}
	if n := deleted(); n != 0 {
		t.Fatalf("an incremental sync marked %d rows deleted", n)
	}

	// A full walk that fails in its payrolls, after its employees: nothing.
	fail.on.Store(true)
	run := uuid.NewString()
	if err := h.ProcessTask(ctx, kindTask(t, company, run, checkpoint.KindFull)); err == nil {
		t.Fatal("the full walk succeeded although every payroll request failed")
	}
	if done := e.scalar(`SELECT done::text FROM sync_checkpoints WHERE company_uuid = ? AND resource = 'employees' AND run_id = ?`, company, run); done != "true" {
		t.Fatalf("the failed walk did not finish its employees (done %s): it should fail midway", done)
	}
	if n := deleted(); n != 0 {
		t.Fatalf("a failed full walk marked %d rows deleted", n)
	}
	if n := e.scalar(`SELECT count(*)::text FROM company_full_syncs WHERE run_id = ?`, run); n != "0" {
		t.Fatal("a failed full walk was recorded as a full sync")
	}

	// The same run, retried, completes: exactly the two are marked, and the
	// live rows are the simulator's live set.
	fail.on.Store(false)
	if err := h.ProcessTask(ctx, kindTask(t, company, run, checkpoint.KindFull)); err != nil {
		t.Fatal(err)
	}
	if n := deleted(); n != 2 {
		t.Fatalf("completed full walk marked %d rows deleted, want 2", n)
	}
	for res, id := range victims {
		if got := e.scalar(`SELECT (deleted_at IS NOT NULL)::text FROM gusto_`+res+` WHERE uuid = ?`, id); got != "true" {
			t.Fatalf("%s %s not marked deleted", res, id)
		}
	}
	e.requireExact(company)
	if got := e.scalar(`SELECT employees_deleted || '/' || payrolls_deleted FROM company_full_syncs WHERE company_uuid = ? AND run_id = ?`, company, run); got != "1/1" {
		t.Fatalf("company_full_syncs records %s deleted, want 1/1", got)
	}

	// They come back: the next (incremental) sync undeletes them.
	for res, id := range victims {
		if err := e.sim.RestoreRecord(company, res, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.ProcessTask(ctx, kindTask(t, company, uuid.NewString(), checkpoint.KindIncremental)); err != nil {
		t.Fatal(err)
	}
	if n := deleted(); n != 0 {
		t.Fatalf("%d rows still deleted after they reappeared", n)
	}
	e.requireExact(company)
}
