package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/tokens"
	"github.com/gustosync/gustosync/internal/waitfor"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// A company with 50k records and tokens living 20 s syncs to completion
// through several refreshes, without a single 401, paced under the
// simulator's rate limit by the shared limiter.
func TestLongSyncWithShortLivedTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{TokenLifetime: 20 * time.Second, RateLimit: 1200})
	company := w.company(48000, 2000)
	total := w.total(company)
	p := w.start("long", "GUSTO_RATE_LIMIT=1200")
	run := uuid.NewString()
	began := time.Now()
	w.enqueue(company, run)
	r := w.waitRun(run, "succeeded", 4*time.Minute)
	took := time.Since(began)

	rowcheck.Require(t, w.pool(), w.sim, company)
	c := w.sim.Counters()
	t.Logf("%d records in %s (%.0f records/s); refreshes %d, 401s %d, 429s %d, requests %d",
		total, took.Round(time.Second), float64(total)/took.Seconds(), c.RefreshesByCompany[company], c.Unauthorized, c.RateLimited, c.Requests[company])
	if r.Changed != total+1 || r.Attempts != 1 {
		t.Fatalf("run %+v, want %d records changed in one attempt", r, total+1)
	}
	if c.RefreshesByCompany[company] < 1 {
		t.Fatal("no refresh happened during the sync: the test did not outlive the token")
	}
	if c.Unauthorized != 0 {
		t.Fatalf("%d 401s at the simulator: tokens must be refreshed ahead of expiry", c.Unauthorized)
	}
	if clean := w.cleanServed(company); c.RecordsServed[company] != clean {
		t.Fatalf("served %d records where an uninterrupted sync serves %d (%d records)", c.RecordsServed[company], clean, total)
	}
	if !p.has(`"msg":"batch committed"`, `"company":"`+company, `"run":"`+run, `"batch":`) {
		t.Fatal("no JSON log line with company, run and batch")
	}
	// No secret in the logs: neither the client secret, nor the bearer
	// scheme, nor any token the simulator issued during the run.
	logs := p.log()
	secrets := append(w.issuedTokens(), clientSecret, "Bearer ")
	if len(secrets) < 4 {
		t.Fatalf("captured %d tokens: the refresh responses were not seen", len(secrets)-2)
	}
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Fatalf("the worker logged a secret (%d bytes)", len(secret))
		}
	}
}

// kill -9 mid-sync, then a new worker: it takes the silent attempt over
// (package redrive) and the run resumes from its checkpoint, fetching at
// most one batch twice.
func TestKilledWorkerResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{RateLimit: 600})
	company := w.company(20000, 200)
	total := w.total(company)
	first := w.start("doomed", "GUSTO_RATE_LIMIT=600")
	run := uuid.NewString()
	w.enqueue(company, run)
	waitfor.Condition(t, 2*time.Minute, "3000 records committed", func() bool { return w.committed(company) >= 3000 })
	sendSignal(t, first, syscall.SIGKILL)
	if !first.exited(10 * time.Second) {
		t.Fatal("worker survived kill -9")
	}
	atKill := w.committed(company)
	servedAtKill := w.sim.Counters().RecordsServed[company]

	second := w.start("heir", "GUSTO_RATE_LIMIT=600")
	r := w.waitRun(run, "succeeded", 4*time.Minute)
	rowcheck.Require(t, w.pool(), w.sim, company)
	served := w.sim.Counters().RecordsServed[company]
	clean := w.cleanServed(company)
	t.Logf("killed with %d records committed and %d served; finished with %d served for %d records (%d fetched twice)",
		atKill, servedAtKill, served, total, served-clean)
	if served-clean > 500 {
		t.Fatalf("%d records fetched twice: more than one batch (500)", served-clean)
	}
	if r.Attempts != 2 {
		t.Fatalf("run took %d attempts, want 2", r.Attempts)
	}
	if !second.has(`"msg":"sync attempt started"`, `"run":"`+run, `"resumed":true`) {
		t.Fatal("the second worker did not resume the run")
	}
}

// SIGTERM mid-sync: the worker commits the batch it fetched with its
// checkpoint and exits inside its shutdown timeout; the run resumes there.
func TestSigtermCommitsAndResumes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{RateLimit: 600})
	company := w.company(20000, 100)
	total := w.total(company)
	const shutdownTimeout = 10 * time.Second
	first := w.start("leaving", "GUSTO_RATE_LIMIT=600", "WORKER_SHUTDOWN_TIMEOUT="+shutdownTimeout.String())
	run := uuid.NewString()
	w.enqueue(company, run)
	waitfor.Condition(t, 2*time.Minute, "1000 records committed", func() bool { return w.committed(company) >= 1000 })
	sendSignal(t, first, syscall.SIGTERM)
	if !first.exited(shutdownTimeout) {
		t.Fatalf("worker still running %s after SIGTERM", shutdownTimeout)
	}
	if first.err != nil {
		t.Fatalf("worker exited with %v after SIGTERM", first.err)
	}
	if !first.has(`"msg":"sync stopped for shutdown; checkpoint committed"`, `"run":"`+run) {
		t.Fatal("no drain log line")
	}
	committed := w.committed(company)
	var stored int64
	if err := w.db.Gorm.Raw(`SELECT (SELECT count(*) FROM gusto_employees WHERE company_uuid = ?) + (SELECT count(*) FROM gusto_payrolls WHERE company_uuid = ?)`, company, company).Scan(&stored).Error; err != nil {
		t.Fatal(err)
	}
	servedAtStop := w.sim.Counters().RecordsServed[company]
	// Everything fetched was committed with its checkpoint (the company record
	// is one checkpointed record that is not served as a list item).
	if stored != committed-1 || servedAtStop != stored {
		t.Fatalf("after SIGTERM: checkpoints %d, rows %d, served %d: the fetched batch was not committed", committed, stored, servedAtStop)
	}
	if r, _ := w.run(run); r.Status != "pending" {
		t.Fatalf("run %+v after the drain, want pending", r)
	}

	restarted := time.Now()
	next := w.start("next", "GUSTO_RATE_LIMIT=600")
	r := w.waitRun(run, "succeeded", 3*time.Minute)
	t.Logf("the second worker finished the run %s after it started", time.Since(restarted).Round(time.Second))
	if !next.has(`"msg":"sync attempt started"`, `"run":"`+run, `"resumed":true`) {
		t.Fatal("the second worker did not resume the run")
	}
	rowcheck.Require(t, w.pool(), w.sim, company)
	served := w.sim.Counters().RecordsServed[company]
	clean := w.cleanServed(company)
	t.Logf("stopped at %d records; finished with %d served for %d (%d fetched twice)", committed, served, total, served-clean)
	if served-clean > 500 {
		t.Fatalf("%d records fetched twice", served-clean)
	}
	if r.Attempts != 2 {
		t.Fatalf("run %+v, want two attempts", r)
	}
}

// 5% injected 5xx and a tight rate limit: the sync completes exactly, the
// limiter keeps 429s near zero, and no company ends needs_reauth.
func TestFlakyAndRateLimitedGusto(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{ErrorRate: 0.05, RateLimit: 100})
	// About 190 requests in all: at 5%, some are sure to fail.
	a, b := w.company(8500, 200), w.company(8300, 150)
	// Two workers share the Redis limiter; each company has its own budget.
	w.start("flaky-1", "GUSTO_RATE_LIMIT=100")
	w.start("flaky-2", "GUSTO_RATE_LIMIT=100")
	runA, runB := uuid.NewString(), uuid.NewString()
	w.enqueue(a, runA)
	w.enqueue(b, runB)
	w.waitRun(runA, "succeeded", 3*time.Minute)
	w.waitRun(runB, "succeeded", 3*time.Minute)
	rowcheck.Require(t, w.pool(), w.sim, a)
	rowcheck.Require(t, w.pool(), w.sim, b)
	c := w.sim.Counters()
	t.Logf("injected 5xx %d, 429s %d, requests %d", c.InjectedErrors, c.RateLimited, c.APIRequests)
	if c.InjectedErrors == 0 {
		t.Fatal("no error was injected")
	}
	if c.RateLimited > 2 {
		t.Fatalf("%d 429s with the limiter on", c.RateLimited)
	}
	for _, company := range []string{a, b} {
		c, err := companies.New(w.db.Gorm).Get(context.Background(), company)
		if err != nil || c.Status != tokens.StatusActive {
			t.Fatalf("company %s is %s (%v) after transient errors", company, c.Status, err)
		}
	}
}

// The process surface: --help, bad configuration, probes and metrics.
func TestProcessSurface(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(workerBin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "WORKER_SHUTDOWN_TIMEOUT") {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	if out, err := exec.Command(workerBin, "--version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "worker ") || !strings.Contains(string(out), "(commit ") {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	bad := exec.Command(workerBin)
	bad.Env = []string{"PATH=" + os.Getenv("PATH"), "WORKER_CONCURRENCY=zero"}
	out, err = bad.CombinedOutput()
	var exit *exec.ExitError
	if !asExit(err, &exit) || exit.ExitCode() != 2 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), "GUSTO_CLIENT_ID") && !strings.Contains(string(out), "WORKER_CONCURRENCY") {
		t.Fatalf("bad config: %v, output %q; want exit 2 and one line naming the variable", err, out)
	}

	w := newWorld(t, gustosim.Config{})
	company := w.company(300, 20)
	p := w.start("surface")
	base := "http://" + p.addr(t)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		code, body := get(t, base+path)
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("GET %s: %d %q", path, code, body)
		}
	}
	run := uuid.NewString()
	w.enqueue(company, run)
	w.waitRun(run, "succeeded", time.Minute)
	_, metrics := get(t, base+"/metrics")
	for _, m := range []string{`gustosync_sync_records_total{resource="employees"} 300`, "gustosync_sync_batches_total", "gustosync_sync_run_duration_seconds_bucket", "gustosync_sync_checkpoint_lag_seconds", `asynq_queue_size{queue="default"}`, "gustosync_token_", `gustosync_sync_takeovers_total{result="redriven"} 0`,
		"gustosync_build_info{", `gustosync_collector_up{collector="token_companies"} 1`, `go_sql_open_connections{db_name="gustosync"}`,
		`gustosync_gusto_requests_total{method="GET",route="/v1/companies/{company_id}/employees",status_class="2xx"}`,
		`gustosync_gusto_request_duration_seconds_bucket{method="GET",route="/v1/companies/{company_id}/payrolls"`} {
		if !strings.Contains(metrics, m) {
			t.Fatalf("/metrics lacks %s", m)
		}
	}
	if strings.Contains(metrics, company) {
		t.Fatal("/metrics carries a company uuid")
	}
	// Redis gone: not ready.
	w.redis.Stop(t)
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "redis") {
		t.Fatalf("/readyz with Redis down: %d %q", code, body)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func asExit(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// Two attempts of one run at once: a worker frozen mid-sync (SIGSTOP, a
// long GC pause or a partitioned VM) loses its asynq lease; another worker
// recovers the task and resumes the run under a new epoch; when the frozen
// one wakes up it is a zombie, and the fence stops it: it commits nothing
// more and cannot overwrite the run's outcome.
func TestFrozenWorkerIsFencedAfterLeaseExpiry(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{RateLimit: 600})
	guards := w.guardFences()
	company := w.company(20000, 100)
	total := w.total(company)
	zombie := w.start("frozen", "GUSTO_RATE_LIMIT=600")
	run := uuid.NewString()
	w.enqueue(company, run)
	waitfor.Condition(t, 2*time.Minute, "2000 records committed", func() bool { return w.committed(company) >= 2000 })
	sendSignal(t, zombie, syscall.SIGSTOP)
	t.Cleanup(func() { _ = zombie.cmd.Process.Signal(syscall.SIGCONT) })

	heir := w.start("heir", "GUSTO_RATE_LIMIT=600")
	waitfor.Condition(t, 3*time.Minute, "the run to be re-claimed", func() bool {
		r, _ := w.run(run)
		return r.Attempts == 2
	})
	// Let the new attempt commit, then wake the zombie up in the middle of it.
	waitfor.Condition(t, time.Minute, "the new attempt to commit", func() bool {
		return heir.has(`"msg":"batch committed"`, `"run":"`+run)
	})
	sendSignal(t, zombie, syscall.SIGCONT)

	r := w.waitRun(run, "succeeded", 3*time.Minute)
	// The zombie committed nothing after waking up, judged from the
	// database (its log may still show a batch committed before SIGSTOP):
	// by the run's end, and again once the zombie has stopped.
	requireFenced(t, guards)
	waitfor.Condition(t, time.Minute, "the zombie to stop", func() bool {
		return zombie.has(`"msg":"attempt fenced by a newer one; stopping"`, `"epoch":1`)
	})
	requireFenced(t, guards)
	rowcheck.Require(t, w.pool(), w.sim, company)
	if r.Attempts != 2 {
		t.Fatalf("run %+v", r)
	}
	if r2, _ := w.run(run); r2.Status != "succeeded" {
		t.Fatalf("the zombie overwrote the outcome: %+v", r2)
	}
	served := w.sim.Counters().RecordsServed[company]
	clean := w.cleanServed(company)
	t.Logf("%d records served for %d (%d fetched twice)", served, total, served-clean)
	if served-clean > 500+100 {
		// One batch, plus the page the zombie may have had in flight when it woke.
		t.Fatalf("%d records fetched twice", served-clean)
	}
}
