package devstack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/waitfor"
)

// The test binary doubles as the supervised child: DEVSTACK_CHILD selects a
// behaviour (see child).
func TestMain(m *testing.M) {
	if mode := os.Getenv("DEVSTACK_CHILD"); mode != "" {
		child(mode)
		return
	}
	os.Exit(m.Run())
}

func child(mode string) {
	switch mode {
	case "listen": // listen on $ADDR after a short delay, until killed
		time.Sleep(200 * time.Millisecond)
		l, err := net.Listen("tcp", os.Getenv("ADDR"))
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(3)
		}
		fmt.Println("listening on", l.Addr())
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(4)
			}
			c.Close()
		}
	case "fail": // say why, then exit 7
		fmt.Println("fatal: DATABASE_URL: bad value")
		os.Exit(7)
	case "ignore-term": // ignore SIGTERM, so Stop has to kill
		signalIgnoreTerm()
		fmt.Println("ignoring SIGTERM")
		select {}
	case "fork": // start a grandchild sleep in our process group, print its pid
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			os.Exit(5)
		}
		fmt.Println(cmd.Process.Pid)
		select {}
	case "supervise": // supervise a sleeping child, print its pid, wait to be killed
		sup, err := NewSupervisor(os.Getenv("DIR"))
		if err != nil {
			os.Exit(6)
		}
		p, err := sup.Start(context.Background(), Spec{Name: "orphan", Path: "/bin/sleep", Args: []string{"300"}})
		if err != nil {
			fmt.Println(err)
			os.Exit(6)
		}
		fmt.Println(p.PID())
		select {}
	}
	os.Exit(99)
}

func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func childSpec(t *testing.T, name, mode string, env ...string) Spec {
	return Spec{Name: name, Path: self(t), Env: append(append(BaseEnv(), "DEVSTACK_CHILD="+mode), env...)}
}

func newSupervisor(t *testing.T) *Supervisor {
	t.Helper()
	sup, err := NewSupervisor(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sup.Close)
	return sup
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	waitfor.Condition(t, within, fmt.Sprintf("process %d to exit", pid), func() bool { return !alive(pid) })
}

func TestStartWaitsReadyKillRestart(t *testing.T) {
	sup := newSupervisor(t)
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	spec := childSpec(t, "listener", "listen", "ADDR="+addr)
	spec.Ready = func(ctx context.Context) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}
	p, err := sup.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	// Ready means connectable now, not eventually.
	if err := spec.Ready(context.Background()); err != nil {
		t.Fatalf("Start returned before the process was ready: %v", err)
	}
	first := p.PID()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if p.Running() || alive(first) {
		t.Fatal("killed process still running")
	}
	select {
	case <-sup.Failed():
		t.Fatalf("a kill that was asked for counted as a failure: %v", sup.Err())
	default:
	}
	if err := p.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.PID() == first || !p.Running() || p.Starts() != 2 {
		t.Fatalf("after restart: pid %d (was %d), running %v, starts %d", p.PID(), first, p.Running(), p.Starts())
	}
	if err := p.Restart(context.Background()); err == nil {
		t.Fatal("Restart of a running process succeeded")
	}
	log, err := os.ReadFile(p.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "listening on "+addr); n != 2 {
		t.Fatalf("log has %d start lines, want 2:\n%s", n, log)
	}
	if _, err := sup.Start(context.Background(), spec); err == nil {
		t.Fatal("a second process with the same name was started")
	}
}

func TestUnexpectedExitIsReported(t *testing.T) {
	sup := newSupervisor(t)
	p, err := sup.Start(context.Background(), childSpec(t, "crasher", "fail"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sup.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("an unexpected exit was not reported within 10s")
	}
	var ee *ExitError
	if !errors.As(sup.Err(), &ee) || ee.Name != "crasher" || !strings.Contains(ee.State, "exit status 7") ||
		!strings.Contains(ee.Tail, "fatal: DATABASE_URL: bad value") || ee.Log != p.LogPath() {
		t.Fatalf("Err = %#v", sup.Err())
	}
}

func TestNotReadyStartFails(t *testing.T) {
	sup := newSupervisor(t)
	spec := childSpec(t, "dies-early", "fail")
	spec.Ready = func(context.Context) error { return errors.New("no") }
	_, err := sup.Start(context.Background(), spec)
	var ee *ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.State, "before it was ready") || !strings.Contains(ee.Tail, "fatal:") {
		t.Fatalf("Start = %v, want an *ExitError naming the exit and the log", err)
	}

	spec = childSpec(t, "never-ready", "ignore-term")
	spec.Ready = func(context.Context) error { return errors.New("port closed") }
	spec.ReadyTimeout = 300 * time.Millisecond
	_, err = sup.Start(context.Background(), spec)
	if !errors.As(err, &ee) || !strings.Contains(ee.State, "not ready within 300ms: port closed") {
		t.Fatalf("Start = %v, want not ready", err)
	}
}

// TestCloseStopsGroups: Close stops every process, escalating to SIGKILL for
// one that ignores SIGTERM, and reaches what they forked (process groups).
func TestCloseStopsGroups(t *testing.T) {
	sup, err := NewSupervisor(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stubborn := childSpec(t, "stubborn", "ignore-term")
	stubborn.StopTimeout = 200 * time.Millisecond
	stubborn.Ready = logSays(t, sup, "stubborn", "ignoring SIGTERM")
	ps, err := sup.Start(context.Background(), stubborn)
	if err != nil {
		t.Fatal(err)
	}
	forker := childSpec(t, "forker", "fork")
	var grandchild int
	forker.Ready = func(context.Context) error {
		line := firstLine(tailFile(sup.Dir()+"/forker.log", 200), "=== ")
		n, err := strconv.Atoi(line)
		if err != nil {
			return errors.New("no pid yet")
		}
		grandchild = n
		return nil
	}
	pf, err := sup.Start(context.Background(), forker)
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{ps.PID(), pf.PID(), grandchild}
	sup.Close()
	for _, pid := range pids {
		waitGone(t, pid, 5*time.Second)
	}
	if _, err := sup.Start(context.Background(), childSpec(t, "late", "listen")); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

// TestNothingLeftWhenSupervisorDies: kill -9 of the supervising process
// itself takes its children with it (Pdeathsig).
func TestNothingLeftWhenSupervisorDies(t *testing.T) {
	cmd := exec.Command(self(t))
	cmd.Env = append(BaseEnv(), "DEVSTACK_CHILD=supervise", "DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var pid int
	select {
	case l := <-lines:
		if pid, err = strconv.Atoi(l); err != nil {
			t.Fatalf("supervisor said %q", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the supervising process did not report its child within 20s")
	}
	// Should the test fail, the orphan is not left behind either.
	t.Cleanup(func() {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !alive(pid) {
		t.Fatal("child not running before the supervisor died")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, pid, 5*time.Second)
}

func logSays(t *testing.T, sup *Supervisor, name, want string) func(context.Context) error {
	return func(context.Context) error {
		if strings.Contains(tailFile(sup.Dir()+"/"+name+".log", 500), want) {
			return nil
		}
		return fmt.Errorf("log does not say %q yet", want)
	}
}

// firstLine returns the first line of s not starting with skip.
func firstLine(s, skip string) string {
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, skip) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
