package jobs_test

import (
	"context"
	"errors"
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
	"github.com/gustosync/gustosync/internal/tokens"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

func TestSyncIsExactAndASecondRunWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}})
	ctx := testCtx(t, time.Minute)
	company := e.company(1234, 300, nil)
	h := e.handler(nil)

	run := uuid.NewString()
	if err := h.ProcessTask(ctx, task(t, company, run)); err != nil {
		t.Fatal(err)
	}
	rowcheck.Require(t, e.pool(), e.sim, company)
	total := totalRecords(t, e.sim, company)
	r := readRun(t, e.db.Gorm, run)
	// Records counts each batch's distinct records: a payroll read in two
	// windows (by pay period, then by check date) committed in two batches
	// counts twice; every row is written once.
	if r.Status != "succeeded" || r.Records < total+1 || r.Changed != total+1 || r.Attempts != 1 {
		t.Fatalf("first run: %+v, want succeeded with %d records", r, total+1)
	}
	served := e.sim.Counters().RecordsServed[company]
	if served < total {
		t.Fatalf("simulator served %d records for %d", served, total)
	}

	// A later run of the unchanged company fetches everything again, as
	// much as the first (payroll windows overlap, so a few payrolls come
	// twice in each), and writes nothing new.
	run2 := uuid.NewString()
	if again := servedDuring(t, e, company, func() {
		if err := h.ProcessTask(ctx, task(t, company, run2)); err != nil {
			t.Fatal(err)
		}
	}); again != served {
		t.Fatalf("second run served %d records, the first %d", again, served)
	}
	if r2 := readRun(t, e.db.Gorm, run2); r2.Status != "succeeded" || r2.Changed != 0 || r2.Records != r.Records {
		t.Fatalf("second run: %+v, want succeeded, %d records, 0 changed", r2, r.Records)
	}
	rowcheck.Require(t, e.pool(), e.sim, company)

	// A finished run delivered again (a duplicate) is a no-op.
	if err := h.ProcessTask(ctx, task(t, company, run2)); err != nil {
		t.Fatalf("duplicate of a finished run: %v", err)
	}
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"batch committed"`) && (!strings.Contains(line, `"company":"`+company) || !strings.Contains(line, `"run":"`) || !strings.Contains(line, `"batch":`)) {
			t.Fatalf("batch log line without company, run and batch: %s", line)
		}
	}
}

func TestZombieAttemptIsFenced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}})
	ctx := testCtx(t, time.Minute)
	company := e.company(3000, 50, nil)
	run := uuid.NewString()
	tk := task(t, company, run)

	// The first attempt stops before its third commit, as a worker whose
	// lease expired mid-batch would; asynq runs the task again meanwhile.
	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	zombie := e.handler(func(c *jobs.Config) {
		c.Hooks.BeforeCommit = func(ctx context.Context, _ string, epoch int64, r checkpoint.Resource, batch int) {
			if batch == 3 {
				once.Do(func() { close(paused) })
				<-release
			}
		}
	})
	zombieErr := make(chan error, 1)
	go func() { zombieErr <- zombie.ProcessTask(ctx, tk) }()
	select {
	case <-paused:
	case <-ctx.Done():
		t.Fatal("first attempt never reached its third batch")
	}
	// The second attempt takes the first for dead, as after asynq's lease
	// expired (the first attempt's heartbeat would have gone stale): a
	// microsecond lease stands in for that wait.
	fresh := e.handler(func(c *jobs.Config) {
		c.Checkpoints = checkpoint.NewStore(e.db.Gorm, checkpoint.Options{Lease: time.Microsecond})
		c.Heartbeat = time.Second
	})
	if err := fresh.ProcessTask(ctx, tk); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	close(release)
	select {
	case err := <-zombieErr:
		if err != nil {
			t.Fatalf("fenced attempt returned %v, want nil (stop quietly)", err)
		}
	case <-ctx.Done():
		t.Fatal("fenced attempt did not stop")
	}
	if !strings.Contains(e.logs.String(), "attempt fenced by a newer one") {
		t.Fatal("no fenced log line")
	}
	rowcheck.Require(t, e.pool(), e.sim, company)
	r := readRun(t, e.db.Gorm, run)
	if r.Status != "succeeded" || r.Attempts != 2 {
		t.Fatalf("run after the zombie: %+v", r)
	}
	// The second attempt resumed from the first one's two batches: the
	// whole run served at most one batch more than an uninterrupted run.
	served := e.sim.Counters().RecordsServed[company]
	clean := servedDuring(t, e, company, func() {
		if err := e.handler(nil).ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
			t.Fatal(err)
		}
	})
	if served > clean+500 {
		t.Fatalf("served %d records where an uninterrupted run serves %d: more than one batch fetched twice", served, clean)
	}
}

// servedDuring returns how many records the simulator served for company
// while fn ran.
func servedDuring(t *testing.T, e *env, company string, fn func()) int64 {
	t.Helper()
	before := e.sim.Counters().RecordsServed[company]
	fn()
	return e.sim.Counters().RecordsServed[company] - before
}

func TestDrainCommitsAndResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}})
	ctx := testCtx(t, time.Minute)
	company := e.company(2500, 40, nil)
	run := uuid.NewString()
	tk := task(t, company, run)

	var h *jobs.Handler
	h = e.handler(func(c *jobs.Config) {
		c.Hooks.BeforeCommit = func(_ context.Context, _ string, _ int64, _ checkpoint.Resource, batch int) {
			if batch == 2 {
				h.Drain() // SIGTERM arrives while batch 2 is being committed
			}
		}
	})
	err := h.ProcessTask(ctx, tk)
	var re *jobs.RetryError
	if !errors.As(err, &re) || re.Failure || re.Delay > time.Second {
		t.Fatalf("drained attempt: %v, want an uncounted prompt retry", err)
	}
	var cursor string
	var records int64
	if err := e.db.Gorm.Raw(`SELECT cursor, records FROM sync_checkpoints WHERE company_uuid = ? AND resource = 'employees'`, company).Row().Scan(&cursor, &records); err != nil {
		t.Fatal(err)
	}
	stored := count(t, e, `SELECT count(*) FROM gusto_employees WHERE company_uuid = ?`, company)
	if records != 500 || stored != records || cursor != "6" {
		t.Fatalf("after drain: checkpoint %q/%d, %d rows stored; want page 6, 500 records, rows = checkpoint", cursor, records, stored)
	}
	if r := readRun(t, e.db.Gorm, run); r.Status != "pending" {
		t.Fatalf("drained run status %s", r.Status)
	}
	// A new task after Drain goes straight back to the queue.
	if err := h.ProcessTask(ctx, tk); !errors.As(err, &re) || re.Failure {
		t.Fatalf("task taken while draining: %v", err)
	}

	if err := e.handler(nil).ProcessTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	rowcheck.Require(t, e.pool(), e.sim, company)
	// The drained and resumed run served exactly what an uninterrupted run
	// serves: nothing fetched was lost and fetched again.
	served := e.sim.Counters().RecordsServed[company]
	clean := servedDuring(t, e, company, func() {
		if err := e.handler(nil).ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
			t.Fatal(err)
		}
	})
	if served != clean {
		t.Fatalf("served %d records where an uninterrupted run serves %d: the drain lost fetched records", served, clean)
	}
}

// A request that hangs when the worker drains is abandoned after the grace,
// and the pages fetched before it are committed.
func TestDrainAbandonsAHangingRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}})
	ctx := testCtx(t, time.Minute)
	company := e.company(2000, 10, nil)
	var h *jobs.Handler
	h = e.handler(func(c *jobs.Config) {
		c.DrainGrace = 100 * time.Millisecond
		c.BatchSize = 300 // pages of 100: three per batch
		c.Hooks.BeforeCommit = func(_ context.Context, _ string, _ int64, _ checkpoint.Resource, batch int) {
			if batch == 2 {
				// From now on every answer takes a minute; SIGTERM arrives
				// once the next page's request has reached Gusto (it is
				// served, and hangs), however long the commit before it took.
				e.sim.Update(func(c *gustosim.Config) { c.LatencyRate, c.Latency = 1, time.Minute })
				go func() {
					for e.sim.Counters().RecordsServed[company] < 400 && ctx.Err() == nil {
						time.Sleep(5 * time.Millisecond) // polling the simulator's counter
					}
					h.Drain()
				}()
			}
		}
	})
	err := h.ProcessTask(ctx, task(t, company, uuid.NewString()))
	var re *jobs.RetryError
	if !errors.As(err, &re) || re.Failure {
		t.Fatalf("drained attempt: %v", err)
	}
	var records int64
	if err := e.db.Gorm.Raw(`SELECT records FROM sync_checkpoints WHERE company_uuid = ? AND resource = 'employees'`, company).Row().Scan(&records); err != nil {
		t.Fatal(err)
	}
	stored := count(t, e, `SELECT count(*) FROM gusto_employees WHERE company_uuid = ?`, company)
	served := e.sim.Counters().RecordsServed[company]
	// Batch 2 (the first 300 employees; batch 1 is the company record)
	// committed; the next page, in flight when the grace ran out, was served
	// but abandoned instead of holding the shutdown for its answer.
	if stored != records || records != 300 || served != 400 {
		t.Fatalf("checkpoint %d, rows %d, served %d; want 300, 300, 400", records, stored, served)
	}
	if !strings.Contains(e.logs.String(), "sync stopped for shutdown; checkpoint committed") {
		t.Fatal("no drain log line")
	}
}

func TestTransientErrorsAndRateLimits(t *testing.T) {
	t.Parallel()
	// 20% injected 5xx, and every fifth API request answered 429 with
	// Retry-After: 1 (Gusto's answer once a grant's window is spent), which
	// the attempt waits inline. The 429s are injected by count, not by a
	// requests-per-second window, so that they happen however fast or slow
	// the machine runs the test.
	var limited atomic.Int64
	var apiCalls atomic.Int64
	rateLimit := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v1/") && apiCalls.Add(1)%5 == 0 {
				limited.Add(1)
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"message":"API rate limit exceeded"}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	e := newEnv(t, envOptions{sim: gustosim.Config{ErrorRate: 0.2}, wrap: rateLimit})
	ctx := testCtx(t, 2*time.Minute)
	company := e.company(3000, 200, nil)
	run := uuid.NewString()
	if err := e.handler(func(c *jobs.Config) { c.PageAttempts = 10 }).ProcessTask(ctx, task(t, company, run)); err != nil {
		t.Fatal(err)
	}
	rowcheck.Require(t, e.pool(), e.sim, company)
	c := e.sim.Counters()
	if c.InjectedErrors == 0 || limited.Load() == 0 {
		t.Fatalf("the test injected nothing: %d × 429, %+v", limited.Load(), c)
	}
	if status, _ := e.status(company); status != tokens.StatusActive {
		t.Fatalf("company status %s after transient errors", status)
	}
	if r := readRun(t, e.db.Gorm, run); r.Status != "succeeded" || r.Attempts != 1 {
		t.Fatalf("run %+v", r)
	}
}

func TestPersistentOutageGoesBackToAsynq(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}})
	ctx := testCtx(t, time.Minute)
	company := e.company(1200, 10, nil)
	mod := func(c *jobs.Config) {
		c.PageAttempts = 3
		c.Hooks.BeforeCommit = func(context.Context, string, int64, checkpoint.Resource, int) {
			e.sim.Update(func(c *gustosim.Config) { c.ErrorRate = 1 }) // Gusto goes down after the first batch
		}
	}
	run := uuid.NewString()
	err := e.handler(mod).ProcessTask(ctx, task(t, company, run))
	var re *jobs.RetryError
	if !errors.As(err, &re) || re.Failure {
		t.Fatalf("outage after progress: %v, want a retry that does not count", err)
	}
	if r := readRun(t, e.db.Gorm, run); r.Status != "pending" || r.Records == 0 || r.Error == "" {
		t.Fatalf("run %+v, want pending with progress and the error", r)
	}
	// Without progress, the attempt counts.
	err = e.handler(func(c *jobs.Config) { c.PageAttempts = 2 }).ProcessTask(ctx, task(t, company, run))
	if !errors.As(err, &re) || !re.Failure || !jobs.IsFailure(err) {
		t.Fatalf("outage without progress: %v, want a counted retry", err)
	}
	// Gusto comes back: the run resumes and completes exactly.
	e.sim.Update(func(c *gustosim.Config) { c.ErrorRate = 0 })
	if err := e.handler(nil).ProcessTask(ctx, task(t, company, run)); err != nil {
		t.Fatal(err)
	}
	rowcheck.Require(t, e.pool(), e.sim, company)
	if status, _ := e.status(company); status != tokens.StatusActive {
		t.Fatalf("company %s after an outage", status)
	}
}

func TestTerminalErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}})
	ctx := testCtx(t, time.Minute)
	h := e.handler(nil)

	t.Run("missing scope", func(t *testing.T) {
		company := e.company(10, 10, []string{"companies:read", "employees:read"})
		run := uuid.NewString()
		err := h.ProcessTask(ctx, task(t, company, run))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("403 on payrolls: %v, want SkipRetry", err)
		}
		// Not a revocation: the company waits for a person to grant the
		// scope, named in its reason, with one alert.
		status, reason := e.status(company)
		if status != tokens.StatusMissingScope || !strings.Contains(reason, "payrolls:read") {
			t.Fatalf("company %s (%q), want missing_scope naming payrolls:read", status, reason)
		}
		if r := readRun(t, e.db.Gorm, run); r.Status != "failed" {
			t.Fatalf("run %+v", r)
		}
		var alerts []string
		if err := e.db.Gorm.Raw(`SELECT kind FROM alert_outbox WHERE company_uuid = ?`, company).Scan(&alerts).Error; err != nil {
			t.Fatal(err)
		}
		if len(alerts) != 1 || alerts[0] != "company.missing_scope" {
			t.Fatalf("alerts %v, want one company.missing_scope", alerts)
		}
		// A second task of the company ends at once, without a call to Gusto.
		if err := h.ProcessTask(ctx, task(t, company, uuid.NewString())); !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("task of a missing_scope company: %v, want SkipRetry", err)
		}
		if st, _ := e.status(company); st != tokens.StatusMissingScope {
			t.Fatalf("status %s after a second task", st)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		company := e.company(10, 10, nil)
		if err := e.sim.Revoke(company); err != nil {
			t.Fatal(err)
		}
		run := uuid.NewString()
		err := h.ProcessTask(ctx, task(t, company, run))
		// Either the refresh after the 401 is refused, or the retried call
		// is refused again and the handler asks the token endpoint
		// (VerifyGrant): either way the manager marks the company, on
		// Gusto's explicit invalid_grant.
		if !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("revoked grant: %v, want SkipRetry", err)
		}
		if status, _ := e.status(company); status != tokens.StatusNeedsReauth {
			t.Fatalf("company %s", status)
		}
	})
	t.Run("key missing", func(t *testing.T) {
		// The row is sealed under a key id the keyring does not hold (the
		// key was dropped from TOKEN_ENCRYPTION_KEYS before a rekey).
		company := e.company(10, 10, nil)
		if err := e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET key_id = 'dropped' WHERE company_uuid = ?`, company).Error; err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			run := uuid.NewString()
			if err := h.ProcessTask(ctx, task(t, company, run)); !errors.Is(err, asynq.SkipRetry) || !tokens.Terminal(err) {
				t.Fatalf("task %d of a company whose key is missing: %v, want a terminal error and SkipRetry", i, err)
			}
			if r := readRun(t, e.db.Gorm, run); r.Status != "failed" {
				t.Fatalf("run %+v, want failed", r)
			}
		}
		if status, reason := e.status(company); status != tokens.StatusKeyMissing || !strings.Contains(reason, `"dropped"`) {
			t.Fatalf("company %s (%q), want key_missing naming the key id", status, reason)
		}
		var alerts []string
		if err := e.db.Gorm.Raw(`SELECT kind FROM alert_outbox WHERE company_uuid = ?`, company).Scan(&alerts).Error; err != nil {
			t.Fatal(err)
		}
		if len(alerts) != 1 || alerts[0] != "company.key_missing" {
			t.Fatalf("alerts %v, want one company.key_missing", alerts)
		}
	})
	t.Run("no tokens", func(t *testing.T) {
		err := h.ProcessTask(ctx, task(t, uuid.NewString(), uuid.NewString()))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("unknown company: %v", err)
		}
	})
	t.Run("malformed payload", func(t *testing.T) {
		err := h.ProcessTask(ctx, asynq.NewTask(jobs.TypeSyncCompany, []byte(`{"company_uuid":"nope","run_id":"x"}`)))
		var pe *jobs.PayloadError
		if !errors.Is(err, asynq.SkipRetry) || !errors.As(err, &pe) || pe.Field != "company_uuid" {
			t.Fatalf("malformed payload: %v", err)
		}
	})
	t.Run("run of another company", func(t *testing.T) {
		company := e.company(1, 1, nil)
		run := uuid.NewString()
		if err := h.ProcessTask(ctx, task(t, company, run)); err != nil {
			t.Fatal(err)
		}
		if err := h.ProcessTask(ctx, task(t, e.company(1, 1, nil), run)); !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("run id reused for another company: %v", err)
		}
	})
}

// TestRefusalsWithoutVerdictMarkNobody (invariant 4, data-call half): a 403
// on a data call without Gusto's error body (a WAF's) is transient, and a 401
// that the token endpoint then contradicts (the grant refreshes) is retried:
// neither marks the company. Before, both marked it needs_reauth.
func TestRefusalsWithoutVerdictMarkNobody(t *testing.T) {
	t.Parallel()
	var status atomic.Int32 // answered bare on the employees list while set
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}, wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code := int(status.Load()); code != 0 && strings.HasSuffix(r.URL.Path, "/employees") {
				w.WriteHeader(code)
				return
			}
			next.ServeHTTP(w, r)
		})
	}})
	ctx := testCtx(t, time.Minute)
	h := e.handler(func(c *jobs.Config) { c.PageAttempts = 2 })
	for _, code := range []int{http.StatusForbidden, http.StatusUnauthorized} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			company := e.company(10, 10, nil)
			status.Store(int32(code))
			run := uuid.NewString()
			err := h.ProcessTask(ctx, task(t, company, run))
			var re *jobs.RetryError
			if !errors.As(err, &re) || errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("bare %d on a data call: %v, want a retry", code, err)
			}
			if st, reason := e.status(company); st != tokens.StatusActive {
				t.Fatalf("company %s (%q) after a bare %d, want active", st, reason, code)
			}
			status.Store(0)
			if err := h.ProcessTask(ctx, task(t, company, run)); err != nil {
				t.Fatalf("after the refusals stopped: %v", err)
			}
			rowcheck.Require(t, e.pool(), e.sim, company)
		})
	}
}

func TestOneSyncPerCompany(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}})
	ctx := testCtx(t, time.Minute)
	company := e.company(600, 10, nil)
	// Run A holds the company (claimed, heartbeat fresh).
	runA := uuid.NewString()
	a, err := e.cps.Claim(ctx, runA, company, "other-worker", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	// Run B is coalesced into A: it ends at once, stopped, fetching nothing.
	runB := uuid.NewString()
	if err := e.handler(nil).ProcessTask(ctx, task(t, company, runB)); err != nil {
		t.Fatalf("second run while the first holds the company: %v, want nil (coalesced)", err)
	}
	if r := readRun(t, e.db.Gorm, runB); r.Status != "stopped" {
		t.Fatalf("coalesced run: %+v", r)
	}
	if served := e.sim.Counters().RecordsServed[company]; served != 0 {
		t.Fatalf("the coalesced run fetched %d records", served)
	}
	// A duplicate task of A itself stands aside without counting.
	err = e.handler(nil).ProcessTask(ctx, task(t, company, runA))
	var re *jobs.RetryError
	var busy *checkpoint.BusyError
	if !errors.As(err, &re) || re.Failure || re.Delay <= 0 || !errors.As(err, &busy) {
		t.Fatalf("duplicate of the live run: %v, want an uncounted delayed retry", err)
	}
	// Once A ends, the next run syncs.
	if err := a.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.handler(nil).ProcessTask(ctx, task(t, company, uuid.NewString())); err != nil {
		t.Fatal(err)
	}
	rowcheck.Require(t, e.pool(), e.sim, company)
}

func count(t testing.TB, e *env, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.db.Gorm.Raw(q, args...).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWorkerIDRequired: the handler takes the worker id as given (config
// defaults it) and refuses to run without one.
func TestWorkerIDRequired(t *testing.T) {
	e := newEnv(t, envOptions{})
	cfg := jobs.Config{API: e.client, Tokens: e.manager, Checkpoints: e.cps, Reauth: e.manager}
	if _, err := jobs.NewHandler(cfg); err == nil || !strings.Contains(err.Error(), "WorkerID is required") {
		t.Fatalf("NewHandler without WorkerID: %v, want WorkerID is required", err)
	}
}
