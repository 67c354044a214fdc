package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
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
	rows, err := db.SQL.Query(`
		INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, scopes, status)
		SELECT gen_random_uuid(), '\x00', '\x00', 'k1', now() + interval '2 hours', 'companies:read', $2
		FROM generate_series(1, $1) RETURNING company_uuid::text`, n, status)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
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
					parts := strings.Split(ti.ID, ":")
					if len(parts) != 3 || parts[0] != "sync" {
						t.Fatalf("unexpected task id %q", ti.ID)
					}
					w, err := strconv.ParseInt(parts[2], 10, 64)
					if err != nil {
						t.Fatalf("task id %q has no window", ti.ID)
					}
					if out[parts[1]] == nil {
						out[parts[1]] = map[int64]int{}
					}
					out[parts[1]][w]++
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

// TestTwoProcessesOneTaskPerWindow runs two scheduler processes at once over
// 200 companies for at least four 2-second windows while a server completes
// the tasks, then counts through asynq's Inspector: every company has
// exactly one task in every window from its first to its last, none is
// missing in between, and the tasks in Redis are exactly the tasks the two
// processes report having enqueued.
func TestTwoProcessesOneTaskPerWindow(t *testing.T) {
	db := pgtest.New(t)
	rs := redistest.Start(t)
	companies := addCompanies(t, db, 200, "active")
	paused := addCompanies(t, db, 3, "paused")
	opt := asynq.RedisClientOpt{Addr: rs.Addr}
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = insp.Close() })
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 8, TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.ErrorLevel})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	vars := []string{
		"DATABASE_URL=" + db.URL, "REDIS_URL=" + rs.URL, "HTTP_ADDR=127.0.0.1:0",
		"SCHEDULER_TICK=100ms", "SYNC_INTERVAL=2s", "SYNC_JITTER=0.5", "LOG_LEVEL=info",
	}
	a := start(t, nil, vars...)
	b := start(t, nil, vars...)

	const windows = 4
	waitFor(t, 90*time.Second, "every company to have 4 windows", func() bool {
		byCompany, _ := windowsByCompany(t, insp)
		if len(byCompany) < len(companies) {
			return false
		}
		for _, ws := range byCompany {
			if len(ws) < windows {
				return false
			}
		}
		return true
	})
	rssA, rssB := peakRSS(a.cmd.Process.Pid), peakRSS(b.cmd.Process.Pid)
	a.stop(t)
	b.stop(t)
	waitFor(t, 30*time.Second, "the server to finish every task", func() bool {
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

	byCompany, total := windowsByCompany(t, insp)
	for _, c := range paused {
		if byCompany[c] != nil {
			t.Fatalf("paused company %s was enqueued", c)
		}
	}
	expected := 0
	for _, c := range companies {
		ws := byCompany[c]
		lo, hi := int64(1<<62), int64(-1)
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
		t.Fatalf("Inspector counts %d tasks (%d expected); the processes report %d + %d enqueued", total, expected, enqA, enqB)
	}
	if enqA == 0 || enqB == 0 {
		t.Fatalf("one process enqueued nothing (%d, %d): the test did not run two replicas", enqA, enqB)
	}
	t.Logf("two processes, 200 companies: %d tasks over ≥%d windows each; A enqueued %d (%d duplicates refused, %d busy ticks), B %d (%d, %d); peak RSS A %d KiB, B %d KiB",
		total, windows, enqA, dupA, ticksA, enqB, dupB, ticksB, rssA, rssB)
}

func mustQueues(t *testing.T, insp *asynq.Inspector) []string {
	t.Helper()
	q, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// waitFor polls cond every 100ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runCLI runs the scheduler to completion within a deadline.
func runCLI(t *testing.T, args []string, vars ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append([]string{childEnv + "=1", "PATH=" + os.Getenv("PATH")}, vars...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func TestEnqueueCommand(t *testing.T) {
	db := pgtest.New(t)
	rs := redistest.Start(t)
	active := addCompanies(t, db, 3, "active")
	paused := addCompanies(t, db, 1, "paused")
	vars := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + rs.URL}

	cases := []struct {
		args   []string
		vars   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, nil, 0, "scheduler enqueue --all", ""},
		{[]string{"enqueue", "--help"}, nil, 0, "scheduler enqueue --company UUID", ""},
		{[]string{"enqueue"}, vars, 2, "", "give exactly one of --company UUID and --all"},
		{[]string{"enqueue", "--all", "--company", active[0]}, vars, 2, "", "give exactly one of"},
		{[]string{"enqueue", "--company", "nope"}, vars, 2, "", "--company: not a uuid"},
		{[]string{"enqueue", "--bogus"}, vars, 2, "", "flag provided but not defined"},
		{[]string{"frobnicate"}, vars, 2, "", "unknown argument"},
		{[]string{"enqueue", "--all"}, []string{"REDIS_URL=http://x", "DATABASE_URL=" + db.URL}, 2, "", "REDIS_URL"},
		{[]string{"enqueue", "--company", paused[0]}, vars, 2, "", "is paused; resume it first"},
		{[]string{"enqueue", "--company", "00000000-0000-0000-0000-0000000000aa"}, vars, 2, "", "onboard it first"},
		{[]string{"enqueue", "--company", active[0]}, vars, 0, "enqueued 1, already queued 0, failed 0", ""},
		{[]string{"enqueue", "--all"}, vars, 0, "enqueued 3,", ""},
	}
	for _, c := range cases {
		code, stdout, stderr := runCLI(t, c.args, c.vars...)
		if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
			t.Errorf("scheduler %v: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout ~ %q, stderr ~ %q",
				c.args, code, stdout, stderr, c.code, c.stdout, c.stderr)
		}
		if c.code == 2 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("scheduler %v: the error is not one line:\n%s", c.args, stderr)
		}
	}
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: rs.Addr})
	defer insp.Close()
	if _, n := windowsByCompanyAny(t, insp); n != 4 {
		t.Fatalf("%d tasks after one --company and one --all over 3 companies, want 4", n)
	}
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
