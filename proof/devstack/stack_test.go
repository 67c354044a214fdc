package devstack

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/gustosim"
)

func TestRunOneShot(t *testing.T) {
	sup := newSupervisor(t)
	if err := sup.Run(context.Background(), Spec{Name: "true", Path: "/bin/true"}); err != nil {
		t.Fatalf("a succeeding one-shot: %v", err)
	}
	err := sup.Run(context.Background(), childSpec(t, "fails", "fail"))
	var ee *ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.State, "exit status 7") || !strings.Contains(ee.Tail, "fatal:") {
		t.Fatalf("Run = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := sup.Run(ctx, childSpec(t, "hangs", "ignore-term")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run past its context = %v", err)
	}
	select {
	case <-sup.Failed():
		t.Fatalf("a one-shot's exit counted as a failure: %v", sup.Err())
	default:
	}
}

// buildCLI builds cmd/gustosync into a temporary bin directory, with
// placeholders for the binaries this test does not start.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin, "github.com/gustosync/gustosync/cmd/gustosync")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/gustosync: %v\n%s", err, out)
	}
	for _, b := range Binaries {
		if b == "gustosync" {
			continue
		}
		if err := os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// TestStackBase: Up recreates and migrates the database, starts a
// persistent Redis and the simulator; Onboard stores grants through the CLI;
// a Redis restart keeps the data; Close leaves no process behind.
func TestStackBase(t *testing.T) {
	ctx := context.Background()
	name := randomName("devstack_test_")
	dropAfter(t, name)
	st, err := Up(ctx, Options{
		RunDir: t.TempDir(), BinDir: buildCLI(t), Database: name, Guards: true, RedisPersistent: true,
		Sim: gustosim.Config{TokenLifetime: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			st.Close()
		}
	})
	ids, err := st.Onboard(ctx, gustosim.CompanyOptions{Employees: 3, Payrolls: 2}, gustosim.CompanyOptions{Employees: 1, Payrolls: 1})
	if err != nil {
		t.Fatal(err)
	}
	states, err := st.DB.Companies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || len(states) != 2 || states[ids[0]].Status != "active" || states[ids[1]].Version != 1 || states[ids[0]].ExpiresIn != 30 {
		t.Fatalf("onboarded %v, stored %+v", ids, states)
	}
	if _, err := st.DB.Regressions(ctx); err != nil {
		t.Fatalf("guards not installed: %v", err)
	}

	rdb := redis.NewClient(&redis.Options{Addr: st.Redis.Addr})
	defer rdb.Close()
	if err := rdb.Set(ctx, "survives", "yes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := st.Redis.PID()
	if err := st.RestartRedis(ctx); err != nil {
		t.Fatal(err)
	}
	if st.Redis.PID() == pid || alive(pid) {
		t.Fatal("Redis was not restarted")
	}
	if v, err := rdb.Get(ctx, "survives").Result(); err != nil || v != "yes" {
		t.Fatalf("after the restart: %q, %v", v, err)
	}
	select {
	case <-st.Sup.Failed():
		t.Fatalf("the restart counted as a failure: %v", st.Sup.Err())
	default:
	}

	// A Redis crash nobody asked for fails the stack, as a worker's would.
	pid = st.Redis.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.Sup.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("a crashed Redis did not fail the supervisor")
	}
	var ee *ExitError
	if err := st.Sup.Err(); !errors.As(err, &ee) || ee.Name != "redis" || ee.Log != st.Redis.LogPath() {
		t.Fatalf("Sup.Err() = %v, want an *ExitError naming redis and its log", err)
	}
	if err := st.RestartRedis(ctx); err != nil {
		t.Fatal(err)
	}

	pid = st.Redis.PID()
	st.Close()
	closed = true
	waitGone(t, pid, 5*time.Second)
}
