package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/alerts"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// childEnv makes the test binary run the scheduler's main instead of the
// tests, so the tests can start real scheduler processes without a go build.
const childEnv = "GUSTOSYNC_SCHEDULER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is one scheduler process started by a test.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// start runs the scheduler (this test binary as main) with args and vars.
func start(t *testing.T, args []string, vars ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append([]string{childEnv + "=1", "PATH=" + os.Getenv("PATH")}, vars...)
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = p
	cmd.Stderr = p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitStarted waits until the process has logged that it is serving.
func (p *proc) waitStarted(t *testing.T) {
	t.Helper()
	waitfor.Condition(t, 30*time.Second, "scheduler started", func() bool {
		return strings.Contains(p.log(), `"msg":"scheduler started"`)
	})
}

// stop sends SIGTERM and waits (bounded) for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("scheduler did not stop within 20s; log:\n%s", p.log())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("scheduler exited %d; log:\n%s", code, p.log())
	}
}

// peakRSS returns the process's peak resident set (VmHWM) in KiB.
func peakRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return -1
}

// tickTotals sums the enqueued and duplicate counts of a process's tick log lines.
func tickTotals(t *testing.T, log string) (enqueued, duplicates, ticks int) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line struct {
			Msg        string `json:"msg"`
			Enqueued   int    `json:"enqueued"`
			Duplicates int    `json:"duplicates"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "scheduler tick" {
			enqueued += line.Enqueued
			duplicates += line.Duplicates
			ticks++
		}
	}
	return
}

func addCompanies(t *testing.T, db *pgtest.DB, n int, status string) []string {
	t.Helper()
	var out []string
	if err := db.Gorm.Raw(`
		INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, scopes, status)
		SELECT gen_random_uuid(), '\x00', '\x00', 'k1', now() + interval '2 hours', 'companies:read', ?
		FROM generate_series(1, ?) RETURNING company_uuid::text`, status, n).Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// windowsByCompany lists every task in Redis (every queue and state) through
// the Inspector and returns the windows seen per company and the task count.
func windowsByCompany(t *testing.T, insp *asynq.Inspector) (map[string]map[int64]int, int) {
	t.Helper()
	out := map[string]map[int64]int{}
	total := 0
	queues, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			insp.ListPendingTasks, insp.ListActiveTasks, insp.ListScheduledTasks,
			insp.ListRetryTasks, insp.ListArchivedTasks, insp.ListCompletedTasks,
		} {
			for page := 1; ; page++ {
				infos, err := list(q, asynq.PageSize(1000), asynq.Page(page))
				if err != nil {
					t.Fatal(err)
				}
				for _, ti := range infos {
					company, w, ok := parseTaskID(ti.ID)
					if !ok {
						t.Fatalf("unexpected task id %q", ti.ID)
					}
					if out[company] == nil {
						out[company] = map[int64]int{}
					}
					out[company][w]++
					total++
				}
				if len(infos) < 1000 {
					break
				}
			}
		}
	}
	return out, total
}

// twoProcesses runs two scheduler processes at once over 200 active and 3
// paused companies, with 2-second windows, until seen reports at least four
// windows for every active company, then stops them and returns the
// companies and the two processes' logs.
func twoProcesses(t *testing.T, db *pgtest.DB, rs *redistest.Server, seen func() map[string]map[int64]int) (companies, paused []string, a, b *proc) {
	t.Helper()
	companies = addCompanies(t, db, 200, "active")
	paused = addCompanies(t, db, 3, "paused")
	vars := []string{
		"DATABASE_URL=" + db.URL, "REDIS_URL=" + rs.URL, "HTTP_ADDR=127.0.0.1:0",
		"SCHEDULER_TICK=100ms", "SYNC_INTERVAL=2s", "SYNC_JITTER=0.5", "LOG_LEVEL=info",
	}
	a = start(t, nil, vars...)
	b = start(t, nil, vars...)
	waitfor.Condition(t, 90*time.Second, "every company to have 4 windows", func() bool {
		byCompany := seen()
		if len(byCompany) < len(companies) {
			return false
		}
		for _, ws := range byCompany {
			if len(ws) < 4 {
				return false
			}
		}
		return true
	})
	t.Logf("peak RSS: A %d KiB, B %d KiB (race detector on: several times a plain build)", peakRSS(a.cmd.Process.Pid), peakRSS(b.cmd.Process.Pid))
	a.stop(t)
	b.stop(t)
	return companies, paused, a, b
}

// checkWindows checks that every active company has exactly one task in
// every window from its first to its last, that no paused company has any,
// that the total matches what the two processes report having enqueued, and
// that both enqueued some.
func checkWindows(t *testing.T, byCompany map[string]map[int64]int, total int, companies, paused []string, a, b *proc) {
	t.Helper()
	for _, c := range paused {
		if byCompany[c] != nil {
			t.Fatalf("paused company %s was enqueued", c)
		}
	}
	expected := 0
	for _, c := range companies {
		ws := byCompany[c]
		if len(ws) == 0 {
			t.Fatalf("company %s has no task", c)
		}
		lo, hi := int64(1<<62), int64(-1<<62)
		for w, n := range ws {
			if n != 1 {
				t.Fatalf("company %s window %d: %d tasks", c, w, n)
			}
			lo, hi = min(lo, w), max(hi, w)
		}
		if int64(len(ws)) != hi-lo+1 {
			t.Fatalf("company %s: windows %d..%d but only %d tasks: a window was skipped", c, lo, hi, len(ws))
		}
		expected += len(ws)
	}
	enqA, dupA, ticksA := tickTotals(t, a.log())
	enqB, dupB, ticksB := tickTotals(t, b.log())
	if total != expected || enqA+enqB != total {
		t.Fatalf("counted %d tasks (%d expected); the processes report %d + %d enqueued", total, expected, enqA, enqB)
	}
	if enqA == 0 || enqB == 0 {
		t.Fatalf("one process enqueued nothing (%d, %d): the test did not run two replicas", enqA, enqB)
	}
	t.Logf("200 companies, ≥4 windows each: %d tasks; A enqueued %d (%d duplicates refused, %d busy ticks), B %d (%d, %d)",
		total, enqA, dupA, ticksA, enqB, dupB, ticksB)
}

// TestTwoProcessesOneTaskPerWindow: two scheduler processes at once, no
// worker, so every task stays pending and asynq's Inspector sees all of
// them at the end: exactly one per company per window.
func TestTwoProcessesOneTaskPerWindow(t *testing.T) {
	db := pgtest.New(t)
	rs := redistest.Start(t)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: rs.Addr})
	t.Cleanup(func() { _ = insp.Close() })
	companies, paused, a, b := twoProcesses(t, db, rs, func() map[string]map[int64]int {
		m, _ := windowsByCompany(t, insp)
		return m
	})
	byCompany, total := windowsByCompany(t, insp)
	checkWindows(t, byCompany, total, companies, paused, a, b)
}

// TestTwoProcessesWithWorker: the same with a worker completing every task
// at once, so a completed task lives only as long as its retention (one
// interval): every window's task is run exactly once, counted by the
// handler (a task that expired and was enqueued again would run twice).
func TestTwoProcessesWithWorker(t *testing.T) {
	db := pgtest.New(t)
	rs := redistest.Start(t)
	var mu sync.Mutex
	runs := map[string]map[int64]int{}
	total := 0
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: rs.Addr}, asynq.Config{
		Concurrency: 8, TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.ErrorLevel, Queues: jobs.Queues,
	})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		company, window, ok := parseTaskID(id)
		if !ok {
			t.Errorf("unexpected task id %q", id)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if runs[company] == nil {
			runs[company] = map[int64]int{}
		}
		runs[company][window]++
		total++
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	snapshot := func() (map[string]map[int64]int, int) {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]map[int64]int{}
		for c, ws := range runs {
			out[c] = maps.Clone(ws)
		}
		return out, total
	}
	companies, paused, a, b := twoProcesses(t, db, rs, func() map[string]map[int64]int {
		m, _ := snapshot()
		return m
	})
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: rs.Addr})
	t.Cleanup(func() { _ = insp.Close() })
	waitfor.Condition(t, 30*time.Second, "the worker to finish every task", func() bool {
		for _, q := range mustQueues(t, insp) {
			qi, err := insp.GetQueueInfo(q)
			if err != nil {
				t.Fatal(err)
			}
			if qi.Pending+qi.Active+qi.Scheduled+qi.Retry > 0 {
				return false
			}
		}
		return true
	})
	byCompany, n := snapshot()
	checkWindows(t, byCompany, n, companies, paused, a, b)
}

// parseTaskID splits "sync:<company>:<window>".
func parseTaskID(id string) (string, int64, bool) {
	parts := strings.Split(id, ":")
	if len(parts) != 3 || parts[0] != "sync" {
		return "", 0, false
	}
	w, err := strconv.ParseInt(parts[2], 10, 64)
	return parts[1], w, err == nil
}

func mustQueues(t *testing.T, insp *asynq.Inspector) []string {
	t.Helper()
	q, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// runCLI runs the scheduler's run in this process, to completion within a
// deadline, on the clock now (so the outcome never depends on which second
// the test runs in); vars are KEY=VALUE.
func runCLI(t *testing.T, now func() time.Time, args []string, vars ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := map[string]string{}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr, env, now)
	return code, stdout.String(), stderr.String()
}

// TestEnqueueCommand runs `scheduler enqueue` on an injected clock. A manual
// task id is one per company per second (a repeated command enqueues once),
// so --all in the same second as --company finds that company already
// queued, and --all a second later enqueues every active company: both are
// asserted, whatever second the test runs in.
func TestEnqueueCommand(t *testing.T) {
	db := pgtest.New(t)
	rs := redistest.Start(t)
	active := addCompanies(t, db, 3, "active")
	paused := addCompanies(t, db, 1, "paused")
	vars := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + rs.URL}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 900_000_000, time.UTC) // 100 ms before a second ends
	now := t0
	clock := func() time.Time { return now }

	cases := []struct {
		args   []string
		vars   []string
		at     time.Duration // clock offset from t0
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, nil, 0, 0, "scheduler enqueue --all", ""},
		{[]string{"enqueue", "--help"}, nil, 0, 0, "scheduler enqueue --company UUID", ""},
		{[]string{"enqueue"}, vars, 0, 2, "", "give exactly one of --company UUID and --all"},
		{[]string{"enqueue", "--all", "--company", active[0]}, vars, 0, 2, "", "give exactly one of"},
		{[]string{"enqueue", "--company", "nope"}, vars, 0, 2, "", "--company: not a uuid"},
		{[]string{"enqueue", "--bogus"}, vars, 0, 2, "", "flag provided but not defined"},
		{[]string{"frobnicate"}, vars, 0, 2, "", "unknown argument"},
		{[]string{"enqueue", "--all"}, []string{"REDIS_URL=http://x", "DATABASE_URL=" + db.URL}, 0, 2, "", "REDIS_URL"},
		{[]string{"enqueue", "--company", paused[0]}, vars, 0, 1, "", "is paused; resume it first"},
		{[]string{"enqueue", "--company", "00000000-0000-0000-0000-0000000000aa"}, vars, 0, 2, "", "onboard it first"},
		{[]string{"enqueue", "--company", active[0]}, vars, 0, 0, "enqueued 1, already queued 0, failed 0", ""},
		// The same second (50 ms later): the company just queued is a duplicate.
		{[]string{"enqueue", "--all"}, vars, 50 * time.Millisecond, 0, "enqueued 2, already queued 1, failed 0", ""},
		// The next second (150 ms later): a new manual sync of every company.
		{[]string{"enqueue", "--all"}, vars, 150 * time.Millisecond, 0, "enqueued 3, already queued 0, failed 0", ""},
		// Two seconds later: a forced full reconciliation of one company.
		{[]string{"enqueue", "--full", "--company", active[1]}, vars, 2 * time.Second, 0, "enqueued 1, already queued 0, failed 0", ""},
	}
	for _, c := range cases {
		now = t0.Add(c.at)
		code, stdout, stderr := runCLI(t, clock, c.args, c.vars...)
		if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
			t.Errorf("scheduler %v at t0+%s: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout ~ %q, stderr ~ %q",
				c.args, c.at, code, stdout, stderr, c.code, c.stdout, c.stderr)
		}
		if c.code != 0 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("scheduler %v: the error is not one line:\n%s", c.args, stderr)
		}
	}
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: rs.Addr})
	defer insp.Close()
	perCompany, n := windowsByCompanyAny(t, insp)
	if n != 7 || perCompany[active[0]] != 2 || perCompany[active[1]] != 3 || perCompany[active[2]] != 2 {
		t.Fatalf("%d tasks %v after --company, --all in the same second, --all in the next and --full --company; want 2, 3 and 2", n, perCompany)
	}
	// None of them has completed a full walk: every task is full. Then one
	// has, and --all enqueues it incremental, the others full; --full
	// overrides the cadence.
	if err := db.Gorm.Exec(`INSERT INTO company_full_syncs (company_uuid, run_id, completed_at) VALUES (?, gen_random_uuid(), ?)`, active[0], t0.Add(3*time.Second)).Error; err != nil {
		t.Fatal(err)
	}
	kinds := func() map[string]map[string]int {
		out := map[string]map[string]int{}
		for _, ti := range mustPending(t, insp) {
			p, err := jobs.ParsePayload(ti.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if out[p.CompanyUUID] == nil {
				out[p.CompanyUUID] = map[string]int{}
			}
			out[p.CompanyUUID][string(p.Kind)]++
		}
		return out
	}
	if k := kinds(); k[active[0]]["full"] != 2 || k[active[1]]["full"] != 3 || len(k[active[0]])+len(k[active[1]]) != 2 {
		t.Fatalf("kinds before any full walk completed: %v; want all full", k)
	}
	now = t0.Add(4 * time.Second)
	if code, stdout, stderr := runCLI(t, clock, []string{"enqueue", "--all"}, vars...); code != 0 {
		t.Fatalf("enqueue --all: %d %s %s", code, stdout, stderr)
	}
	now = t0.Add(5 * time.Second)
	if code, stdout, stderr := runCLI(t, clock, []string{"enqueue", "--full", "--all"}, vars...); code != 0 {
		t.Fatalf("enqueue --full --all: %d %s %s", code, stdout, stderr)
	}
	if k := kinds(); k[active[0]]["incremental"] != 1 || k[active[0]]["full"] != 3 || k[active[2]]["full"] != 4 {
		t.Fatalf("kinds after one company's full walk: %v; want its --all task incremental, every other full", k)
	}
}

// mustPending lists the pending tasks of every queue.
func mustPending(t *testing.T, insp *asynq.Inspector) []*asynq.TaskInfo {
	t.Helper()
	var out []*asynq.TaskInfo
	for _, q := range mustQueues(t, insp) {
		infos, err := insp.ListPendingTasks(q, asynq.PageSize(1000))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, infos...)
	}
	return out
}

// windowsByCompanyAny counts every task, manual ones included.
func windowsByCompanyAny(t *testing.T, insp *asynq.Inspector) (map[string]int, int) {
	t.Helper()
	out := map[string]int{}
	total := 0
	for _, q := range mustQueues(t, insp) {
		infos, err := insp.ListPendingTasks(q, asynq.PageSize(1000))
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range infos {
			out[strings.Split(ti.ID, ":")[1]]++
			total++
		}
	}
	return out, total
}

// TestAlertsFromTwoProcesses: two scheduler processes deliver the alert
// outbox to a webhook that verifies every signature; each transition into
// needs_reauth is received exactly once.
func TestAlertsFromTwoProcesses(t *testing.T) {
	db := pgtest.New(t)
	rs := redistest.Start(t)
	const secret = "webhook-signing-secret"
	var mu sync.Mutex
	got := map[string]int{} // event id -> deliveries
	perCompany := map[string]int{}
	bad := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev alerts.Event
		mu.Lock()
		defer mu.Unlock()
		if alerts.Verify([]byte(secret), body, r.Header.Get(alerts.SignatureHeader), 0, time.Now()) != nil || json.Unmarshal(body, &ev) != nil {
			bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got[ev.ID]++
		perCompany[ev.CompanyUUID]++
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)

	ids := addCompanies(t, db, 6, "active")
	vars := []string{
		"DATABASE_URL=" + db.URL, "REDIS_URL=" + rs.URL, "HTTP_ADDR=127.0.0.1:0", "SCHEDULER_TICK=1s",
		"ALERT_WEBHOOK_URL=" + hook.URL + "/alerts", "ALERT_WEBHOOK_SECRET=" + secret,
	}
	a := start(t, nil, vars...)
	b := start(t, nil, vars...)
	a.waitStarted(t)
	b.waitStarted(t)
	set := func(id, status string) {
		t.Helper()
		if err := db.Gorm.Exec(`UPDATE gusto_auth_tokens SET status = ?, status_reason = 'test' WHERE company_uuid = ?`, status, id).Error; err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[:5] {
		set(id, "needs_reauth")
	}
	set(ids[5], "paused") // not an alert
	set(ids[0], "active") // reconnected: company.recovered
	set(ids[0], "needs_reauth")
	waitfor.Condition(t, 60*time.Second, "7 alerts delivered", func() bool {
		var n int
		if err := db.Gorm.Raw(`SELECT count(*) FROM alert_outbox WHERE status = 'delivered'`).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 7
	})
	a.stop(t)
	b.stop(t)
	mu.Lock()
	defer mu.Unlock()
	if bad != 0 || len(got) != 7 {
		t.Fatalf("%d events received (%d bad signatures), want 7", len(got), bad)
	}
	for id, n := range got {
		if n != 1 {
			t.Fatalf("event %s received %d times", id, n)
		}
	}
	if perCompany[ids[0]] != 3 || perCompany[ids[5]] != 0 {
		t.Fatalf("per company: %v", perCompany)
	}
	for _, p := range []*proc{a, b} {
		if strings.Contains(p.log(), "/alerts") || strings.Contains(p.log(), secret) {
			t.Fatal("a scheduler log holds the webhook URL or its secret")
		}
	}
}

// BenchmarkProcess10k starts one real scheduler process over 10,000 due
// companies and reports how fast its first tick enqueues them all and the
// process's peak resident memory. Run it without -race for real figures:
//
//	go test ./cmd/scheduler -run '^$' -bench Process10k -benchtime 1x
func BenchmarkProcess10k(b *testing.B) {
	const n = 10_000
	db := pgtest.New(b)
	rs := redistest.Start(b)
	if err := db.Gorm.Exec(`
		INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, scopes)
		SELECT gen_random_uuid(), '\x00', '\x00', 'k1', now() + interval '2 hours', 'companies:read'
		FROM generate_series(1, ?)`, n).Error; err != nil {
		b.Fatal(err)
	}
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: rs.Addr})
	b.Cleanup(func() { _ = insp.Close() })
	rdb := rs.Client()
	for range b.N {
		if err := rdb.FlushAll(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
		if err := db.Gorm.Exec(`DELETE FROM company_schedules`).Error; err != nil {
			b.Fatal(err)
		}
		started := time.Now()
		p := startB(b, "DATABASE_URL="+db.URL, "REDIS_URL="+rs.URL, "HTTP_ADDR=127.0.0.1:0", "SCHEDULER_TICK=1h", "LOG_LEVEL=info")
		deadline := time.Now().Add(2 * time.Minute)
		for {
			qi, err := insp.GetQueueInfo(jobs.QueueDefault)
			if err == nil && qi.Pending == n {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("not all %d companies enqueued within 2 minutes; log:\n%s", n, p.log())
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(started)
		rss := peakRSS(p.cmd.Process.Pid)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		b.ReportMetric(float64(n)/took.Seconds(), "companies/s-incl-startup")
		b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
	}
}

// startB is start for benchmarks.
func startB(b *testing.B, vars ...string) *proc {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append([]string{childEnv + "=1", "PATH=" + os.Getenv("PATH")}, vars...)
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	b.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// A scheduler stopped while it is still connecting exits 0: an operator's
// SIGTERM during start-up is not a failure (a rollout would count it as one).
func TestSIGTERMDuringStartupIsClean(t *testing.T) {
	// A "database" that accepts connections and never answers holds the
	// scheduler in start-up for as long as the test needs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for {
			select {
			case c := <-accepted:
				_ = c.Close()
			default:
				return
			}
		}
	})
	p := start(t, nil, "DATABASE_URL=postgres://postgres@"+ln.Addr().String()+"/x?sslmode=disable",
		"REDIS_URL=redis://127.0.0.1:1/0", "HTTP_ADDR=127.0.0.1:0")
	select {
	case c := <-accepted:
		accepted <- c // closed at cleanup
	case <-time.After(30 * time.Second):
		t.Fatalf("scheduler never tried to connect; log:\n%s", p.log())
	}
	p.stop(t) // fails unless the exit status is 0
}
