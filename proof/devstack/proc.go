package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults of Spec's zero fields.
const (
	DefaultReadyTimeout = 30 * time.Second
	DefaultStopTimeout  = 10 * time.Second
	readyPoll           = 50 * time.Millisecond
)

// Spec describes a process to supervise.
type Spec struct {
	// Name identifies the process in errors and names its log file
	// (<run dir>/<Name>.log); unique within a Supervisor.
	Name string
	// Path is the binary; Args its arguments (without argv[0]).
	Path string
	Args []string
	// Env is the child's whole environment: nothing is inherited.
	Env []string
	// Stdin, when set, is the child's standard input.
	Stdin io.Reader
	// Ready is polled every 50 ms after the start until it returns nil (the
	// process is ready), the process exits, or ReadyTimeout passes. Nil
	// means ready as soon as started.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds the wait for Ready. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	// Default DefaultStopTimeout.
	StopTimeout time.Duration
}

// ExitError is a supervised process that exited without being asked to, or
// that did not become ready. Tail holds the end of its log.
type ExitError struct {
	Name  string
	State string // "exit status 1", "signal: killed", "not ready: …"
	Log   string // the log file
	Tail  string
}

// Error says which process, how it ended, where its log is, and its tail.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: %s (log: %s)", e.Name, e.State, e.Log)
	if e.Tail != "" {
		msg += "\n" + indent(e.Tail, "    | ")
	}
	return msg
}

// Supervisor starts processes and stops all of them on Close. Its methods
// are safe for concurrent use.
type Supervisor struct {
	dir string

	mu      sync.Mutex
	procs   []*Proc
	names   map[string]bool
	closed  bool
	failed  chan struct{} // closed at the first unexpected exit
	closing chan struct{} // closed by Close
	err     error
}

// NewSupervisor returns a supervisor writing logs under dir (created).
func NewSupervisor(dir string) (*Supervisor, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: run directory: %w", err)
	}
	return &Supervisor{dir: dir, names: map[string]bool{}, failed: make(chan struct{}), closing: make(chan struct{})}, nil
}

// Dir is the run directory.
func (s *Supervisor) Dir() string { return s.dir }

// Failed is closed when a supervised process exits without being asked to;
// Err then says which and why.
func (s *Supervisor) Failed() <-chan struct{} { return s.failed }

// Err returns the first unexpected exit (an *ExitError), or nil.
func (s *Supervisor) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Supervisor) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && !s.closed {
		s.err = err
		close(s.failed)
	}
}

// Start starts the process described by spec and waits until it is ready.
// On failure the process is killed and the error (an *ExitError when the
// process died or never became ready) carries the end of its log.
func (s *Supervisor) Start(ctx context.Context, spec Spec) (*Proc, error) {
	if spec.Name == "" || strings.ContainsAny(spec.Name, "/ ") {
		return nil, fmt.Errorf("devstack: bad process name %q", spec.Name)
	}
	if spec.ReadyTimeout <= 0 {
		spec.ReadyTimeout = DefaultReadyTimeout
	}
	if spec.StopTimeout <= 0 {
		spec.StopTimeout = DefaultStopTimeout
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("devstack: supervisor closed")
	}
	if s.names[spec.Name] {
		s.mu.Unlock()
		return nil, fmt.Errorf("devstack: process %q already started", spec.Name)
	}
	s.names[spec.Name] = true
	p := &Proc{sup: s, spec: spec, logPath: filepath.Join(s.dir, spec.Name+".log")}
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Watch makes a process the supervisor did not start (the stack's Redis,
// run by package redistest) count as one of its own for Failed and Err:
// when failed is closed before Close, the supervisor fails with an
// *ExitError naming the process, its log and err's answer.
func (s *Supervisor) Watch(name, logPath string, failed <-chan struct{}, err func() error) {
	go func() {
		select {
		case <-failed:
			s.fail(&ExitError{Name: name, State: fmt.Sprint(err()), Log: logPath})
		case <-s.closing:
		}
	}()
}

// Close stops every process (SIGTERM, then SIGKILL after its StopTimeout),
// in the reverse order of their starts, and waits for them. Later Starts
// fail. Close is idempotent.
func (s *Supervisor) Close() {
	s.mu.Lock()
	if !s.closed {
		close(s.closing)
	}
	s.closed = true
	procs := append([]*Proc(nil), s.procs...)
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		_ = procs[i].Stop()
	}
}

// Proc is one supervised process, across its restarts.
type Proc struct {
	sup     *Supervisor
	spec    Spec
	logPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current incarnation exited
	state    *os.ProcessState
	expected bool // the current incarnation was asked to end
	oneShot  bool // its exit is the point (Supervisor.Run), never a failure
	starts   int
}

// Name is the process's name.
func (p *Proc) Name() string { return p.spec.Name }

// LogPath is the process's log file (every incarnation appends to it).
func (p *Proc) LogPath() string { return p.logPath }

// PID is the current incarnation's process id (0 before the first start).
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Starts counts the incarnations started so far.
func (p *Proc) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Running reports whether the current incarnation is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Done is closed when the current incarnation exits.
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

func (p *Proc) start(ctx context.Context) error {
	p.mu.Lock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			p.mu.Unlock()
			return fmt.Errorf("devstack: %s is already running", p.spec.Name)
		}
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("devstack: log of %s: %w", p.spec.Name, err)
	}
	p.starts++
	fmt.Fprintf(logf, "=== devstack: start #%d of %s at %s\n", p.starts, p.spec.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Env = p.spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = p.spec.Stdin
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn.start(cmd); err != nil {
		logf.Close()
		p.mu.Unlock()
		return fmt.Errorf("devstack: start %s: %w", p.spec.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.state, p.expected = cmd, done, nil, false
	p.mu.Unlock()

	go func() {
		_ = cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.state = cmd.ProcessState
		expected := p.expected
		p.mu.Unlock()
		close(done)
		if !expected && !p.oneShot {
			p.sup.fail(p.exitError(cmd.ProcessState.String()))
		}
	}()

	if err := p.waitReady(ctx, done); err != nil {
		_ = p.Kill()
		return err
	}
	return nil
}

func (p *Proc) waitReady(ctx context.Context, done <-chan struct{}) error {
	if p.spec.Ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.spec.ReadyTimeout)
	defer cancel()
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	var last error
	for {
		probe, cancelProbe := context.WithTimeout(ctx, 2*time.Second)
		last = p.spec.Ready(probe)
		cancelProbe()
		if last == nil {
			return nil
		}
		select {
		case <-done:
			p.mu.Lock()
			st := p.state.String()
			p.mu.Unlock()
			return p.exitError(st + " before it was ready")
		case <-ctx.Done():
			return p.exitError(fmt.Sprintf("not ready within %s: %v", p.spec.ReadyTimeout, last))
		case <-t.C:
		}
	}
}

func (p *Proc) exitError(state string) *ExitError {
	return &ExitError{Name: p.spec.Name, State: state, Log: p.logPath, Tail: tailFile(p.logPath, 1500)}
}

// Restart starts a new incarnation of a process that has exited (after Kill
// or Stop) and waits until it is ready.
func (p *Proc) Restart(ctx context.Context) error { return p.start(ctx) }

// Kill sends SIGKILL to the process's group (kill -9) and waits for the exit.
func (p *Proc) Kill() error { return p.signal(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM to the process's group, waits up to StopTimeout, then
// kills it. It returns nil once the process has exited.
func (p *Proc) Stop() error {
	err := p.signal(syscall.SIGTERM, p.spec.StopTimeout)
	if err == nil {
		return nil
	}
	return p.Kill()
}

// signal marks the exit as expected, signals the group and waits.
func (p *Proc) signal(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil || done == nil {
		p.mu.Unlock()
		return nil
	}
	select {
	case <-done:
		p.mu.Unlock()
		return nil
	default:
	}
	p.expected = true
	p.mu.Unlock()
	// The child leads its own group (Setpgid): -pid reaches it and anything
	// it forked.
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("devstack: signal %s: %w", p.spec.Name, err)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("devstack: %s still running %s after %s", p.spec.Name, wait, sig)
	}
}

// tailFile returns about the last n bytes of path, from a line start.
func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	s := string(b)
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimRight(s, "\n")
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// Run runs a one-shot command (migrations, onboarding) under the
// supervisor — own process group, Pdeathsig, log file — and waits for it to
// exit, killing it when ctx ends. A non-zero exit is an *ExitError with the
// end of its log. Ready is ignored; the name may be reused by later Runs.
func (s *Supervisor) Run(ctx context.Context, spec Spec) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("devstack: supervisor closed")
	}
	spec.Ready = nil
	if spec.StopTimeout <= 0 {
		spec.StopTimeout = DefaultStopTimeout
	}
	p := &Proc{sup: s, spec: spec, logPath: filepath.Join(s.dir, spec.Name+".log"), oneShot: true}
	if err := p.start(context.Background()); err != nil {
		return err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		_ = p.Kill()
		return fmt.Errorf("devstack: %s: %w", spec.Name, ctx.Err())
	}
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	if !st.Success() {
		return p.exitError(st.String())
	}
	return nil
}

// Getenv returns the value of key in the process's environment as started
// ("" when unset): e.g. a worker's HTTP_ADDR, to scrape its /metrics.
func (p *Proc) Getenv(key string) string {
	v := ""
	for _, kv := range p.spec.Env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
