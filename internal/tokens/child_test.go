package tokens

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/redis/go-redis/v9"
)

// Child processes: the test binary re-executed with childModeEnv set runs
// childMain instead of the tests. The parent passes everything by
// environment; the child logs (JSON) to stderr, which the parent adds to the
// suite's captured logs, and writes its result as one JSON line to stdout.
const (
	childModeEnv = "GUSTOSYNC_TOKENS_CHILD"
	childStorm   = "storm"
	childCrash   = "crash"
	childStall   = "stall"
)

// stallResult is what a stall child reports.
type stallResult struct {
	Token  string   `json:"token"`
	Error  string   `json:"error"`
	Calls  int64    `json:"calls"`
	Aborts float64  `json:"aborts"`
	Issued []string `json:"issued"`
}

// childResult is what a storm child reports.
type childResult struct {
	// Tokens maps company → distinct access tokens its callers got.
	Tokens map[string][]string `json:"tokens"`
	Calls  int                 `json:"calls"`
	Errors []string            `json:"errors"`
	// Issued are the pairs this process obtained from Gusto (access and
	// refresh tokens), so the parent can check logs for them.
	Issued []string `json:"issued"`
}

func childMain(mode string) int {
	log := testLoggerTo(os.Stderr)
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "child %s: "+format+"\n", append([]any{mode}, args...)...)
		return 3
	}
	ctx := context.Background()
	db, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), 8)
	if err != nil {
		return fail("%v", err)
	}
	keys, err := config.ParseKeys(os.Getenv("TOKEN_ENCRYPTION_KEYS"))
	if err != nil {
		return fail("%v", err)
	}
	ring, err := NewKeyring(keys)
	if err != nil {
		return fail("%v", err)
	}
	opt, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		return fail("%v", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	var m *Manager
	client, err := gusto.New(gusto.Options{BaseURL: os.Getenv("GUSTO_API_URL"), ClientID: os.Getenv("GUSTO_CLIENT_ID"),
		ClientSecret: os.Getenv("GUSTO_CLIENT_SECRET"), RedirectURI: os.Getenv("GUSTO_REDIRECT_URI"), Logger: log,
		OnSkew: func(d time.Duration) {
			if m != nil {
				m.ObserveSkew(d)
			}
		}})
	if err != nil {
		return fail("%v", err)
	}
	rec := &recorder{r: client}
	cfg := testConfig(mode + "-" + strconv.Itoa(os.Getpid()))
	cfg.Store, cfg.Refresher, cfg.Redis, cfg.Logger = NewStore(db, ring), rec, rdb, log
	if d, err := time.ParseDuration(os.Getenv("LOCK_EXPIRY")); err == nil {
		cfg.LockExpiry = d
		cfg.RefreshTimeout = d / 2
	}
	companies := strings.Split(os.Getenv("COMPANIES"), ",")

	switch mode {
	case childCrash:
		// Die, as kill -9 would, the moment Gusto has answered and before
		// the new pair is committed.
		cfg.Hooks.AfterRefreshBeforeCommit = func(string) {
			fmt.Println("refreshed")
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		m, err = New(cfg)
		if err != nil {
			return fail("%v", err)
		}
		_, err := m.AccessToken(ctx, companies[0])
		return fail("AccessToken returned (%v) instead of dying", err)

	case childStall:
		// Stop the whole process (SIGSTOP: a VM pause, a long GC) under the
		// lock, after the double-check found the row stale and before the
		// token request, until the parent sends SIGCONT.
		cfg.Hooks.BeforeRefresh = func(string) {
			fmt.Println("stalled")
			_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		}
		cfg.Metrics, err = NewMetrics(nil, nil)
		if err != nil {
			return fail("%v", err)
		}
		m, err = New(cfg)
		if err != nil {
			return fail("%v", err)
		}
		tok, err := m.AccessToken(ctx, companies[0])
		res := stallResult{Token: tok, Calls: rec.calls.Load(), Aborts: counterValue(cfg.Metrics.fenceAborts)}
		if err != nil {
			res.Error = err.Error()
		}
		for _, p := range rec.pairs() {
			res.Issued = append(res.Issued, p.AccessToken, p.RefreshToken)
		}
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return 0

	case childStorm:
		m, err = New(cfg)
		if err != nil {
			return fail("%v", err)
		}
		goroutines, _ := strconv.Atoi(os.Getenv("GOROUTINES"))
		// Barrier: every child is ready before any asks.
		fmt.Println("ready")
		if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || line != "go\n" {
			return fail("no go from the parent: %v", err)
		}
		var mu sync.Mutex
		got := map[string]map[string]bool{}
		res := childResult{Tokens: map[string][]string{}}
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				order := rand.Perm(len(companies))
				for _, i := range order {
					c := companies[i]
					callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
					tok, err := m.AccessToken(callCtx, c)
					cancel()
					mu.Lock()
					res.Calls++
					if err != nil {
						res.Errors = append(res.Errors, err.Error())
					} else {
						if got[c] == nil {
							got[c] = map[string]bool{}
						}
						got[c][tok] = true
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for c, set := range got {
			for tok := range set {
				res.Tokens[c] = append(res.Tokens[c], tok)
			}
		}
		for _, p := range rec.pairs() {
			res.Issued = append(res.Issued, p.AccessToken, p.RefreshToken)
		}
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return 0
	}
	return fail("unknown mode")
}

// testLoggerTo is testLogger writing to w (a child's stderr).
func testLoggerTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	errc   chan struct{} // closed when stderr is drained
}

// startChild re-executes the test binary in mode with the env's settings.
func (e *env) startChild(mode string, extra ...string) *child {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childModeEnv+"="+mode,
		"DATABASE_URL="+e.db.URL,
		"REDIS_URL="+e.redis.URL,
		"GUSTO_API_URL="+e.srv.URL,
		"GUSTO_CLIENT_ID="+testClientID,
		"GUSTO_CLIENT_SECRET="+e.secret,
		"GUSTO_REDIRECT_URI="+testRedirectURI,
		"TOKEN_ENCRYPTION_KEYS="+e.keysEnv(),
	)
	cmd.Env = append(cmd.Env, extra...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout), errc: make(chan struct{})}
	go func() {
		// Every line the child logs joins the suite's captured logs.
		_, _ = io.Copy(suiteWriter, stderr)
		close(c.errc)
	}()
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return c
}

// line reads the child's next stdout line, failing the test after deadline.
func (c *child) line(t *testing.T, deadline time.Duration) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.stdout.ReadString('\n')
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("child %d: reading stdout: %v", c.cmd.Process.Pid, r.err)
		}
		return strings.TrimSuffix(r.s, "\n")
	case <-time.After(deadline):
		t.Fatalf("child %d: no output within %s", c.cmd.Process.Pid, deadline)
		return ""
	}
}

// wait waits for the child to exit (bounded) and returns its state.
func (c *child) wait(t *testing.T, deadline time.Duration) *os.ProcessState {
	t.Helper()
	done := make(chan struct{})
	go func() {
		<-c.errc
		_ = c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
		return c.cmd.ProcessState
	case <-time.After(deadline):
		_ = c.cmd.Process.Kill()
		t.Fatalf("child %d did not exit within %s", c.cmd.Process.Pid, deadline)
		return nil
	}
}
