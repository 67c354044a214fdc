package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds waiting for a started server to answer PING.
const startTimeout = 10 * time.Second

// portAttempts is how many free ports Start tries when another process takes
// the one it picked before redis-server binds it.
const portAttempts = 10

// Option configures Start.
type Option func(*options)

type options struct {
	persistent bool
	args       []string
}

// Persistent turns on the append-only file with an fsync on every write, so
// that Restart, Stop then Restart, and even Kill then Restart keep every
// acknowledged write. Without it the server keeps nothing across a restart.
func Persistent() Option {
	return func(o *options) { o.persistent = true }
}

// Args passes extra command-line arguments to redis-server, e.g.
// Args("--enable-debug-command", "local") for a test that needs DEBUG SLEEP.
func Args(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// Server is one private redis-server. Its methods are safe for concurrent
// use, though a test normally drives it from one goroutine.
type Server struct {
	// Addr is host:port, e.g. 127.0.0.1:40123. It stays the same across
	// Restart.
	Addr string
	// URL is redis://Addr/0.
	URL string

	port int
	dir  string
	opts options

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	clients []*redis.Client
}

// Start starts a redis-server on a free loopback port, waits until it
// answers PING, and registers a cleanup that closes the clients handed out
// and stops the server. It fails the test if redis-server is not on PATH or
// does not come up.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server is not on PATH (%v); install it (apt-get install redis-server) "+
			"or run `bash scripts/services.sh`", err)
	}
	s := &Server{dir: t.TempDir()}
	for _, o := range opts {
		o(&s.opts)
	}
	t.Cleanup(func() { s.shutdown(t) })

	var lastErr error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.URL = "redis://" + s.Addr + "/0"
		err = s.start(bin)
		if err == nil {
			return s
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

var errAddrInUse = errors.New("address already in use")

// freePort asks the kernel for a free loopback port. Another process may
// take it before redis-server binds it; Start then tries another. A variable
// so that a test can hand out a taken port.
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) args() []string {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", "redis.log",
		"--daemonize", "no",
		"--save", "",
		"--protected-mode", "yes",
	}
	if s.opts.persistent {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	return append(args, s.opts.args...)
}

// start runs redis-server and waits for PING. It returns errAddrInUse
// (wrapped) if the port was taken.
func (s *Server) start(bin string) error {
	logPath := filepath.Join(s.dir, "redis.log")
	logStart := fileSize(logPath)
	cmd := exec.Command(bin, s.args()...)
	cmd.Dir = s.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Kill the server if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			msg := strings.TrimSpace(out.String() + "\n" + readFrom(logPath, logStart))
			if strings.Contains(msg, "Address already in use") {
				return fmt.Errorf("redis-server on port %d: %w", s.port, errAddrInUse)
			}
			return fmt.Errorf("redis-server on port %d exited at start: %s", s.port, lastLines(msg, 5))
		case <-deadline.C:
			s.kill()
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %s",
				s.port, startTimeout, lastLines(readFrom(logPath, logStart), 5))
		case <-tick.C:
			// Another test's server may hold the port (ours then exits with
			// "address already in use"): only our own process counts.
			if pid, err := serverPID(s.Addr); err == nil && pid == cmd.Process.Pid {
				return nil
			}
		}
	}
}

// serverPID asks the server at addr for its process id (INFO server) on a
// bare connection: go-redis would retry and log each refused dial.
func serverPID(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := conn.Write([]byte("INFO server\r\n")); err != nil {
		return 0, err
	}
	r := bufio.NewReader(conn)
	header, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(header, "$")))
	if !strings.HasPrefix(header, "$") || err != nil {
		return 0, fmt.Errorf("INFO answered %q", strings.TrimSpace(header))
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
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

// Stop shuts the server down gracefully (the SHUTDOWN command, or SIGTERM
// if that fails: a persistent server flushes its append-only file) and waits
// for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("redistest: stop: %v", err)
	}
}

// Kill kills the server with SIGKILL, as a crash would, and waits for it to
// exit. A Persistent server keeps every acknowledged write across Kill then
// Restart.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.signal(syscall.SIGKILL); err != nil {
		t.Fatalf("redistest: kill: %v", err)
	}
}

// Restart stops the server if it runs, then starts it again on the same port
// with the same data directory, and waits until it answers PING. If another
// process took the port in between, Restart retries until its deadline and
// then fails the test.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.start(bin)
		if err == nil {
			return
		}
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			t.Fatalf("redistest: restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the port's new owner may let go of it
	}
}

// stop asks a running server to SHUTDOWN and waits for it to exit; if the
// command cannot be sent it falls back to SIGTERM. (SIGTERM alone waits for
// the server's next cron tick, up to 100 ms.)
func (s *Server) stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if sendShutdown(s.Addr) {
		select {
		case <-exited:
			return nil
		case <-time.After(startTimeout):
		}
	}
	return s.signal(syscall.SIGTERM)
}

// sendShutdown sends SHUTDOWN on a bare connection and reports whether the
// server closed it, as it does when it exits.
func sendShutdown(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(startTimeout))
	if _, err := conn.Write([]byte("SHUTDOWN\r\n")); err != nil {
		return false
	}
	// A server that shuts down answers nothing and closes the connection;
	// one that refuses answers an error.
	n, err := conn.Read(make([]byte, 64))
	return n == 0 && err != nil
}

// signal sends sig to a running server and waits for it to exit.
func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal redis-server: %w", err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redis-server on port %d ignored %v for %v; killed", s.port, sig, startTimeout)
	}
}

func (s *Server) kill() {
	_ = s.signal(syscall.SIGKILL)
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
	if err := s.stop(); err != nil {
		t.Errorf("redistest: %v", err)
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns the file's content after offset (the log of this start).
func readFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
