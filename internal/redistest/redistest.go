package redistest

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Option configures Start.
type Option func(*Config)

// Persistent turns on the append-only file with an fsync on every write
// (Config.Persistent).
func Persistent() Option {
	return func(c *Config) { c.Persistent = true }
}

// Args passes extra command-line arguments to redis-server, e.g.
// Args("--enable-debug-command", "local") for a test that needs DEBUG SLEEP.
func Args(args ...string) Option {
	return func(c *Config) { c.Args = append(c.Args, args...) }
}

// Server is one test's private redis-server: a Process whose Stop, Kill and
// Restart fail the test instead of returning an error, stopped at the
// test's cleanup with the clients it handed out. Its methods are safe for
// concurrent use, though a test normally drives it from one goroutine.
type Server struct {
	*Process

	mu      sync.Mutex
	clients []*redis.Client
}

// Start starts a redis-server on a free loopback port, with its data
// directory under t.TempDir(), waits until it answers PING, and registers a
// cleanup that closes the clients handed out and stops the server. It fails
// the test if redis-server is not on PATH or does not come up.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := Config{Dir: t.TempDir()}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := Launch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Process: p}
	t.Cleanup(func() { s.shutdown(t) })
	return s
}

// Client returns a new client of this server, closed at the test's cleanup
// (closing it earlier is fine). Clients reconnect by themselves after a
// Restart.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	s.mu.Lock()
	s.clients = append(s.clients, c)
	s.mu.Unlock()
	return c
}

// Stop is Process.Stop, failing the test on error.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.Process.Stop(); err != nil {
		t.Fatalf("redistest: stop: %v", err)
	}
}

// Kill is Process.Kill, failing the test on error.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.Process.Kill(); err != nil {
		t.Fatalf("redistest: kill: %v", err)
	}
}

// Restart is Process.Restart, failing the test on error.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.Process.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// shutdown is the cleanup: close clients, then stop the server.
func (s *Server) shutdown(t testing.TB) {
	s.mu.Lock()
	clients := s.clients
	s.clients = nil
	s.mu.Unlock()
	for _, c := range clients {
		_ = c.Close()
	}
	if err := s.Process.Stop(); err != nil {
		t.Errorf("redistest: %v", err)
	}
}
