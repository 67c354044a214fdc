package redistest

import (
	"bufio"
	"bytes"
	"context"
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
	"time"
)

// startTimeout bounds waiting for a started server to answer PING, and a
// stop or a signal to take effect.
const startTimeout = 10 * time.Second

// portAttempts is how many free ports Launch tries when another process
// takes the one it picked before redis-server binds it.
const portAttempts = 10

// Config configures Launch.
type Config struct {
	// Dir is the server's data directory (created): its log, redis.log,
	// and with Persistent its append-only file. Required.
	Dir string
	// Addr is the loopback host:port to listen on. Empty means a free port,
	// picked by the kernel (and picked again if another process takes it
	// before redis-server binds it).
	Addr string
	// Persistent turns on the append-only file with an fsync on every
	// write, so that Restart, Stop then Restart, and even Kill then Restart
	// keep every acknowledged write. Without it the server keeps nothing
	// across a restart.
	Persistent bool
	// Args are extra command-line arguments to redis-server, e.g.
	// "--enable-debug-command", "local".
	Args []string
}

// Process is one private redis-server: the core of Start, with no
// testing.TB, which the proof tools (proof/devstack) use as well. Its
// methods are safe for concurrent use. The server gets SIGKILL from the
// kernel if this process dies without stopping it (Pdeathsig).
type Process struct {
	// Addr is host:port, e.g. 127.0.0.1:40123. It stays the same across
	// Restart.
	Addr string
	// URL is redis://Addr/0.
	URL string

	bin  string
	port int
	cfg  Config

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current incarnation has exited
	expected bool          // the current incarnation was asked to end
	ready    bool          // the current incarnation answered PING
	failed   chan struct{} // closed at the first exit nobody asked for
	err      error
}

// ErrNotInstalled is returned by Launch when redis-server is not on PATH.
var ErrNotInstalled = errors.New("redis-server is not on PATH; install it (apt-get install redis-server) or run `bash scripts/services.sh`")

// Launch starts a redis-server as cfg says and waits, within ctx and at
// most 10 s, until it answers PING.
func Launch(ctx context.Context, cfg Config) (*Process, error) {
	if cfg.Dir == "" {
		return nil, errors.New("redistest: Config.Dir is required")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w (%v)", ErrNotInstalled, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("redistest: data directory: %w", err)
	}
	p := &Process{bin: bin, cfg: cfg, failed: make(chan struct{})}
	if cfg.Addr != "" {
		if err := p.setAddr(cfg.Addr); err != nil {
			return nil, err
		}
		if err := p.start(ctx); err != nil {
			return nil, fmt.Errorf("redistest: %w", err)
		}
		return p, nil
	}
	var lastErr error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("redistest: %w", err)
		}
		if err := p.setAddr(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
			return nil, err
		}
		if lastErr = p.start(ctx); lastErr == nil {
			return p, nil
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	return nil, fmt.Errorf("redistest: %w", lastErr)
}

func (p *Process) setAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if ip := net.ParseIP(host); err != nil || perr != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("redistest: address %q: want a loopback host:port", addr)
	}
	p.port, p.Addr, p.URL = n, addr, "redis://"+addr+"/0"
	return nil
}

var errAddrInUse = errors.New("address already in use")

// freePort asks the kernel for a free loopback port. Another process may
// take it before redis-server binds it; Launch then tries another. A
// variable so that a test can hand out a taken port.
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (p *Process) args() []string {
	host, _, _ := net.SplitHostPort(p.Addr)
	args := []string{
		"--port", strconv.Itoa(p.port),
		"--bind", host,
		"--dir", p.cfg.Dir,
		"--logfile", "redis.log",
		"--daemonize", "no",
		"--save", "",
		"--protected-mode", "yes",
	}
	if p.cfg.Persistent {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	return append(args, p.cfg.Args...)
}

// LogPath is the server's log file (every incarnation appends to it).
func (p *Process) LogPath() string { return filepath.Join(p.cfg.Dir, "redis.log") }

// start runs redis-server and waits for PING. It returns errAddrInUse
// (wrapped) if the port was taken.
func (p *Process) start(ctx context.Context) error {
	logPath := p.LogPath()
	logStart := fileSize(logPath)
	cmd := exec.Command(p.bin, p.args()...)
	cmd.Dir = p.cfg.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Kill the server if this process dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	addr := p.Addr
	p.mu.Lock()
	p.cmd, p.exited, p.expected, p.ready = cmd, exited, false, false
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		// A server that never became ready failed its start, which start
		// reports; only one that served and then died is a crash.
		crashed := !p.expected && p.ready && p.cmd == cmd
		p.ready = p.ready && p.cmd != cmd
		p.mu.Unlock()
		if crashed {
			p.fail(fmt.Errorf("redis-server on %s exited unexpectedly (%s): %s",
				addr, cmd.ProcessState, lastLines(readFrom(logPath, logStart), 5)))
		}
		close(exited)
	}()

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			msg := strings.TrimSpace(out.String() + "\n" + readFrom(logPath, logStart))
			if strings.Contains(msg, "Address already in use") {
				return fmt.Errorf("redis-server on %s: %w", addr, errAddrInUse)
			}
			return fmt.Errorf("redis-server on %s exited at start: %s", addr, lastLines(msg, 5))
		case <-ctx.Done():
			_ = p.Kill()
			return fmt.Errorf("redis-server on %s did not answer PING (%w): %s",
				addr, ctx.Err(), lastLines(readFrom(logPath, logStart), 5))
		case <-tick.C:
			// Another server may hold the port (ours then exits with
			// "address already in use"): only our own process counts.
			if pid, err := serverPID(addr); err == nil && pid == cmd.Process.Pid && p.markReady(exited) {
				return nil
			}
		}
	}
}

// markReady records that the incarnation whose exit closes exited answers,
// unless it has exited already (the next check of start reports that).
func (p *Process) markReady(exited <-chan struct{}) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-exited:
		return false
	default:
	}
	p.ready = true
	return true
}

// fail records the first exit nobody asked for.
func (p *Process) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		close(p.failed)
	}
}

// Failed is closed when the server exits without Stop, Kill or Restart
// asking it to (a crash); Err then says how.
func (p *Process) Failed() <-chan struct{} { return p.failed }

// Err returns the first exit nobody asked for, or nil.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// PID is the current incarnation's process id.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
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

// ending marks the current incarnation as asked to end (its exit is no
// crash) and returns it, and whether it is still running.
func (p *Process) ending() (cmd *exec.Cmd, exited <-chan struct{}, running bool) {
	p.mu.Lock()
	cmd, exited = p.cmd, p.exited
	p.expected = true
	p.mu.Unlock()
	if cmd == nil {
		return nil, nil, false
	}
	select {
	case <-exited:
		return cmd, exited, false
	default:
		return cmd, exited, true
	}
}

// Stop shuts the server down gracefully (the SHUTDOWN command, or SIGTERM
// if that fails: a persistent server flushes its append-only file) and
// waits for it to exit. Stopping a stopped server does nothing.
func (p *Process) Stop() error {
	_, exited, running := p.ending()
	if !running {
		return nil
	}
	if sendShutdown(p.Addr) {
		select {
		case <-exited:
			return nil
		case <-time.After(startTimeout):
		}
	}
	return p.signal(syscall.SIGTERM)
}

// Kill kills the server with SIGKILL, as a crash would, and waits for it
// to exit. A Persistent server keeps every acknowledged write across Kill
// then Restart.
func (p *Process) Kill() error { return p.signal(syscall.SIGKILL) }

// Restart stops the server if it runs, then starts it again on the same
// address with the same data directory, and waits until it answers PING.
// If another process took the port in between, Restart retries until ctx
// ends or 10 s pass.
func (p *Process) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return fmt.Errorf("redistest: restart: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		err := p.start(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errAddrInUse) || ctx.Err() != nil {
			return fmt.Errorf("redistest: restart: %w", err)
		}
		select { // the port's new owner may let go of it
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
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
func (p *Process) signal(sig syscall.Signal) error {
	cmd, exited, running := p.ending()
	if !running {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("redistest: signal redis-server: %w", err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redistest: redis-server on port %d ignored %v for %v; killed", p.port, sig, startTimeout)
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
