package redistest_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/redistest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// down pings addr once, without retries, and returns the error.
func down(t *testing.T, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	return c.Ping(ctx(t)).Err()
}

func TestStartIsPrivate(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr == b.Addr {
		t.Fatalf("two servers on %s", a.Addr)
	}
	if err := a.Client().Set(ctx(t), "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Client().Get(ctx(t), "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("b sees a's key: %v", err)
	}
	opt, err := redis.ParseURL(a.URL)
	if err != nil || opt.Addr != a.Addr || opt.DB != 0 {
		t.Fatalf("URL %q parses to %+v, %v", a.URL, opt, err)
	}
}

func TestRestartPersistentKeepsData(t *testing.T) {
	s := redistest.Start(t, redistest.Persistent())
	c := s.Client()
	if err := c.Set(ctx(t), "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr
	s.Restart(t)
	if s.Addr != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, s.Addr)
	}
	// The same client reconnects by itself.
	if v, err := c.Get(ctx(t), "before").Result(); err != nil || v != "1" {
		t.Fatalf("after Restart: %q, %v; want 1", v, err)
	}
	if err := c.Set(ctx(t), "before_kill", "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill(t)
	if down(t, s.Addr) == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Restart(t)
	if v, err := c.Get(ctx(t), "before_kill").Result(); err != nil || v != "2" {
		t.Fatalf("after Kill and Restart: %q, %v; want 2", v, err)
	}
}

func TestRestartDefaultForgets(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client()
	if err := c.Set(ctx(t), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	if down(t, s.Addr) == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Stop(t) // stopping twice is fine
	s.Restart(t)
	if err := c.Get(ctx(t), "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("non-persistent server kept data: %v", err)
	}
}

func TestArgs(t *testing.T) {
	s := redistest.Start(t, redistest.Args("--enable-debug-command", "local"))
	if err := s.Client().Do(ctx(t), "DEBUG", "SLEEP", "0").Err(); err != nil {
		t.Fatalf("DEBUG refused though enabled: %v", err)
	}
}

func TestStoppedAtCleanup(t *testing.T) {
	var (
		addr   string
		client *redis.Client
	)
	t.Run("inner", func(t *testing.T) {
		s := redistest.Start(t)
		addr, client = s.Addr, s.Client()
	})
	if down(t, addr) == nil {
		t.Fatalf("server on %s still answers after its test ended", addr)
	}
	if err := client.Ping(ctx(t)).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("client handed out by Client is not closed at cleanup: %v", err)
	}
}

// BenchmarkStart reports what one private server costs: start, PING, stop.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		redistest.Start(b).Stop(b)
	}
}

// TestLaunchCore: the core without testing.TB, as proof/devstack uses it. A
// fixed address is kept across Restart; Kill and Restart are asked for, so
// Failed stays open; a crash nobody asked for closes it and Err says so.
func TestLaunchCore(t *testing.T) {
	free := redistest.Start(t).Addr // a loopback address that is ours
	ctx := ctx(t)
	p, err := redistest.Launch(ctx, redistest.Config{Dir: t.TempDir(), Persistent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if p.Addr == free || p.URL != "redis://"+p.Addr+"/0" {
		t.Fatalf("Launch: Addr %s URL %s", p.Addr, p.URL)
	}
	c := redis.NewClient(&redis.Options{Addr: p.Addr})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if p.PID() == pid {
		t.Fatal("Restart kept the killed process id")
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after Kill and Restart: %q, %v", v, err)
	}
	select {
	case <-p.Failed():
		t.Fatalf("an asked-for Kill counted as a crash: %v", p.Err())
	default:
	}

	// A crash: the process dies without being asked.
	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Failed():
	case <-ctx.Done():
		t.Fatal("Failed not closed after the server was killed from outside")
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), p.Addr) {
		t.Fatalf("Err = %v, want the crash naming %s", err, p.Addr)
	}
}

func TestLaunchRefusesBadConfig(t *testing.T) {
	for _, cfg := range []redistest.Config{
		{},                                       // no data directory
		{Dir: t.TempDir(), Addr: "0.0.0.0:6390"}, // not loopback
		{Dir: t.TempDir(), Addr: "localhost"},    // no port
	} {
		if p, err := redistest.Launch(ctx(t), cfg); err == nil {
			_ = p.Stop()
			t.Errorf("Launch(%+v) succeeded", cfg)
		}
	}
}
