package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/tokens"
	"github.com/gustosync/gustosync/internal/waitfor"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// workerBin is the worker built once for the whole test binary (without
// the race detector: the processes are the system under test, the test
// binary checks them); schedulerBin is cmd/scheduler, built the same way
// (events_test.go).
var workerBin, schedulerBin string

func TestMain(m *testing.M) {
	// These tests spend their time waiting on worker processes (paced by
	// rate limits, or asynq's one-minute lease recovery), not on CPU: run
	// them all at once unless -parallel was given.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "8")
	}
	dir, err := os.MkdirTemp("", "gustosync-worker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin, schedulerBin = filepath.Join(dir, "worker"), filepath.Join(dir, "scheduler")
	for bin, pkg := range map[string]string{workerBin: ".", schedulerBin: "../scheduler"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	clientID     = "gustosync-e2e"
	clientSecret = "e2e-client-secret-0123456789"
	redirectURI  = "https://gustosync.test/oauth/callback"
)

// world is one test's system: the simulator served over loopback, a
// private database and Redis, the token keyring the workers share, and the
// worker processes started on them.
type world struct {
	t     *testing.T
	sim   *gustosim.Sim
	url   string
	db    *pgtest.DB
	redis *redistest.Server
	keys  string
	store *tokens.Store

	mu     sync.Mutex
	issued []string // every token the simulator handed out

	faults faults // injected in front of the simulator (reconcile_test.go)
}

// captureTokens remembers the tokens in every answer of the token endpoint,
// so that tests can check that none of them reaches a log line.
func (w *world) captureTokens(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/token" {
			next.ServeHTTP(rw, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &tok) == nil {
			w.remember(tok.AccessToken, tok.RefreshToken)
		}
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.WriteHeader(rec.Code)
		_, _ = rw.Write(rec.Body.Bytes())
	})
}

func (w *world) remember(tokens ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range tokens {
		if t != "" {
			w.issued = append(w.issued, t)
		}
	}
}

func (w *world) issuedTokens() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.issued)
}

func newWorld(t *testing.T, sc gustosim.Config) *world {
	t.Helper()
	sc.ClientID, sc.ClientSecret, sc.RedirectURI = clientID, clientSecret, redirectURI
	if sc.Seed == 0 {
		sc.Seed = 11
	}
	sim, err := gustosim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, sim: sim}
	srv := httptest.NewServer(w.captureTokens(w.faults.wrap(sim)))
	t.Cleanup(srv.Close)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	w.url, w.db, w.redis, w.keys = srv.URL, pgtest.New(t), redistest.Start(t), "k1:"+base64.StdEncoding.EncodeToString(key)
	keys, err := config.ParseKeys(w.keys)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := tokens.NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	w.store = tokens.NewStore(w.db.Gorm, ring)
	return w
}

// company creates a company at the simulator and stores its first tokens,
// as `gustosync companies add` would.
func (w *world) company(employees, payrolls int) string {
	w.t.Helper()
	g, err := w.sim.CreateCompany(gustosim.CompanyOptions{Employees: employees, Payrolls: payrolls})
	if err != nil {
		w.t.Fatal(err)
	}
	w.remember(g.Token.AccessToken, g.Token.RefreshToken)
	if _, err := w.store.Put(context.Background(), tokens.Grant{
		CompanyUUID: g.CompanyUUID, AccessToken: g.Token.AccessToken, RefreshToken: g.Token.RefreshToken,
		ExpiresIn: g.Token.ExpiresIn, CreatedAt: g.Token.CreatedAt,
	}, "e2e"); err != nil {
		w.t.Fatal(err)
	}
	return g.CompanyUUID
}

// enqueue puts a sync of company, run id run, on the queue.
func (w *world) enqueue(company, run string) {
	w.t.Helper()
	task, err := jobs.NewSyncTask(company, run, checkpoint.KindFull)
	if err != nil {
		w.t.Fatal(err)
	}
	c := asynq.NewClientFromRedisClient(w.redis.Client())
	if _, err := c.Enqueue(task); err != nil {
		w.t.Fatal(err)
	}
}

// proc is a running worker process and its log lines.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, once done is closed

	mu    sync.Mutex
	lines []string
}

// start runs a worker on the world; extra overrides environment variables.
func (w *world) start(name string, extra ...string) *proc {
	w.t.Helper()
	return w.startBin(workerBin, name, extra...)
}

// startBin runs bin (workerBin or schedulerBin) on the world, with the
// worker's environment (the scheduler reads the variables it shares with
// the worker and ignores the others); extra overrides it.
func (w *world) startBin(bin, name string, extra ...string) *proc {
	w.t.Helper()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"DATABASE_URL=" + w.db.URL,
		"REDIS_URL=" + w.redis.URL,
		"GUSTO_API_URL=" + w.url,
		"GUSTO_CLIENT_ID=" + clientID,
		"GUSTO_CLIENT_SECRET=" + clientSecret,
		"GUSTO_REDIRECT_URI=" + redirectURI,
		"TOKEN_ENCRYPTION_KEYS=" + w.keys,
		"HTTP_ADDR=127.0.0.1:0",
		"WORKER_ID=" + name,
		"WORKER_CONCURRENCY=2",
		"LOG_LEVEL=info",
	}
	cmd := exec.Command(bin)
	cmd.Env = append(env, extra...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
	}()
	go func() {
		<-scanned
		p.err = cmd.Wait()
		if stderr.Len() > 0 {
			p.mu.Lock()
			p.lines = append(p.lines, "stderr: "+stderr.String())
			p.mu.Unlock()
		}
		close(p.done)
	}()
	w.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if w.t.Failed() {
			w.t.Logf("--- log of %s %s:\n%s", filepath.Base(bin), name, p.log())
		}
		if dir := os.Getenv("WORKER_TEST_LOGS"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, name+".log"), []byte(p.log()), 0o644)
		}
	})
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// has reports whether a log line has every one of parts.
func (p *proc) has(parts ...string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		ok := true
		for _, s := range parts {
			if !strings.Contains(l, s) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// exited reports whether the process ended before the deadline.
func (p *proc) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// addr returns the worker's HTTP address, from its start-up log line.
func (p *proc) addr(t *testing.T) string {
	t.Helper()
	var addr string
	waitfor.Condition(t, 30*time.Second, "worker started", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.lines {
			var v struct {
				Msg  string `json:"msg"`
				Addr string `json:"http_addr"`
			}
			if json.Unmarshal([]byte(l), &v) == nil && v.Msg == "worker started" {
				addr = v.Addr
				return true
			}
		}
		return false
	})
	return addr
}

type runRow struct {
	Status           string
	Records, Changed int64
	Attempts         int
	Error            string
}

func (w *world) run(id string) (runRow, bool) {
	var r runRow
	res := w.db.Gorm.Raw(`SELECT status, records_synced AS records, rows_changed AS changed, attempts, error FROM sync_runs WHERE id = ?`, id).
		Scan(&r)
	return r, res.Error == nil && res.RowsAffected == 1
}

// pool is the database/sql pool behind the world's gorm handle, for
// rowcheck (proof tooling, which reads through database/sql).
func (w *world) pool() *sql.DB {
	w.t.Helper()
	db, err := w.db.Gorm.DB()
	if err != nil {
		w.t.Fatal(err)
	}
	return db
}

func (w *world) waitRun(id, status string, d time.Duration) runRow {
	w.t.Helper()
	var r runRow
	waitfor.Condition(w.t, d, "run "+id+" to be "+status, func() bool {
		var ok bool
		r, ok = w.run(id)
		return ok && r.Status == status
	})
	return r
}

// committed is how many records of company's employees are checkpointed.
func (w *world) committed(company string) int64 {
	var n int64
	_ = w.db.Gorm.Raw(`SELECT COALESCE(sum(records), 0) FROM sync_checkpoints WHERE company_uuid = ?`, company).Scan(&n).Error
	return n
}

func (w *world) total(company string) int64 {
	var n int64
	for _, r := range []string{"employees", "payrolls"} {
		c, _, err := w.sim.Checksum(company, r)
		if err != nil {
			w.t.Fatal(err)
		}
		n += int64(c)
	}
	return n
}

// cleanServed is how many records an uninterrupted sync of company fetches:
// every employee once, and every payroll once per payroll window holding its
// whole pay period (the windows overlap, so payrolls near a seam come twice;
// the simulator's default filter reading is the literal one).
func (w *world) cleanServed(company string) int64 {
	w.t.Helper()
	n, err := rowcheck.CleanServed(w.sim, company, time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func sendSignal(t *testing.T, p *proc, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s to worker %s: %v", sig, p.name, err)
	}
}
