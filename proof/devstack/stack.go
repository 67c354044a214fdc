package devstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
)

// Options configures a Stack. Zero values get the defaults documented on
// each field.
type Options struct {
	// RunDir holds the logs and Redis's data; created. Required.
	RunDir string
	// BinDir holds the gustosync, worker, scheduler and dashboard binaries
	// (`make build` writes them to bin/). Required.
	BinDir string
	// AdminURL is the PostgreSQL server's admin DSN. Default
	// pgtest.DefaultAdminURL.
	AdminURL string
	// Database is the database recreated for the run, e.g. gustosync_demo.
	// Required.
	Database string
	// Guards installs the regression triggers (InstallGuards).
	Guards bool
	// RedisPersistent runs Redis with an fsync'ed append-only file, so that
	// queues survive RestartRedis.
	RedisPersistent bool
	// Sim configures the simulator; the OAuth application (ClientID,
	// ClientSecret, RedirectURI) defaults to development values.
	Sim gustosim.Config
	// WorkerEnv and SchedulerEnv are extra variables for those processes
	// (SYNC_BATCH_SIZE, SCHEDULER_TICK, SYNC_INTERVAL, LOG_LEVEL…).
	WorkerEnv, SchedulerEnv map[string]string
	// DashboardAddr is the address the dashboard should listen on if free.
	// Default 127.0.0.1:8082, else a free port.
	DashboardAddr string
	// Now is the clock of the traffic records. Default time.Now.
	Now func() time.Time
}

// Stack is a running gustosync system. Its methods are safe for concurrent
// use, except Close with anything else.
type Stack struct {
	opts Options
	// Sup supervises every process; Sim is the simulator; DB the database;
	// Redis the redis-server (its log is Redis.LogPath(), under the run
	// directory).
	Sup   *Supervisor
	Sim   *SimServer
	DB    *Database
	Redis *redistest.Process

	env *Env // what every gustosync binary shares

	mu        sync.Mutex
	workers   []*Proc
	scheduler *Proc
	dashboard *Dashboard
	kills     []Kill
}

// Dashboard is the running dashboard and its generated credentials.
type Dashboard struct {
	*Proc
	URL, User, Password string
}

// Kill is a kill -9 the stack was asked for.
type Kill struct {
	Process string
	PID     int
	At      time.Time
	// Restarted is when the process was started again (RestartWorker); zero
	// if it was not. A request that reaches the simulator between At and
	// Restarted was sent by the killed process: the kernel still delivers
	// what its socket had buffered.
	Restarted time.Time
}

// Binaries the stack runs from Options.BinDir.
var Binaries = []string{"gustosync", "worker", "scheduler", "dashboard"}

// Up starts the base of the system: the database (recreated and migrated
// with `gustosync migrate`), a private Redis, and the simulator. Processes
// that consume it (scheduler, workers, dashboard) are started separately.
// On error everything started is stopped.
func Up(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.RunDir == "" || o.BinDir == "" || o.Database == "" {
		return nil, errors.New("devstack: Options.RunDir, BinDir and Database are required")
	}
	if o.AdminURL == "" {
		o.AdminURL = pgtest.DefaultAdminURL
	}
	if o.DashboardAddr == "" {
		o.DashboardAddr = "127.0.0.1:8082"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sim.ClientID == "" {
		o.Sim.ClientID, o.Sim.ClientSecret, o.Sim.RedirectURI = "devstack-client", randomToken(24), "http://127.0.0.1:8082/oauth/callback"
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return nil, fmt.Errorf("devstack: binary %s missing in %s (run `make build`): %w", b, o.BinDir, err)
		}
	}
	s := &Stack{opts: o}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Sup, err = NewSupervisor(o.RunDir); err != nil {
		return nil, err
	}
	if s.DB, err = RecreateDatabase(ctx, o.AdminURL, o.Database); err != nil {
		return nil, err
	}
	if s.Redis, err = redistest.Launch(ctx, redistest.Config{Dir: filepath.Join(o.RunDir, "redis"), Persistent: o.RedisPersistent}); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.Sup.Watch("redis", s.Redis.LogPath(), s.Redis.Failed(), s.Redis.Err)
	if s.Sim, err = StartSim(o.Sim, o.Now); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s.env = NewEnv().
		Set("DATABASE_URL", s.DB.URL).
		Set("REDIS_URL", s.Redis.URL).
		Set("GUSTO_CLIENT_ID", o.Sim.ClientID).
		Set("GUSTO_CLIENT_SECRET", o.Sim.ClientSecret).
		Set("GUSTO_REDIRECT_URI", o.Sim.RedirectURI).
		Set("TOKEN_ENCRYPTION_KEYS", "devstack:"+base64.StdEncoding.EncodeToString(key))
	if err := s.gustosync(ctx, "migrate", nil, "migrate"); err != nil {
		return nil, err
	}
	if o.Guards {
		if err := s.DB.InstallGuards(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// gustosync runs the operator CLI once.
func (s *Stack) gustosync(ctx context.Context, name string, stdin []byte, args ...string) error {
	env := s.env.Clone()
	u, err := s.Sim.URL("cli")
	if err != nil {
		return err
	}
	env.Set("GUSTO_API_URL", u)
	spec := Spec{Name: name, Path: filepath.Join(s.opts.BinDir, "gustosync"), Args: args, Env: env.List()}
	if stdin != nil {
		spec.Stdin = bytes.NewReader(stdin)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return s.Sup.Run(rctx, spec)
}

// Onboard creates one company in the simulator per options (sizes) and
// stores their grants with one `gustosync companies add` (JSON on stdin, as
// an operator would). It returns the company uuids in order.
func (s *Stack) Onboard(ctx context.Context, opts ...gustosim.CompanyOptions) ([]string, error) {
	grants := make([]gustosim.Grant, 0, len(opts))
	for _, o := range opts {
		g, err := s.Sim.AddCompanies(1, o)
		if err != nil {
			return nil, err
		}
		grants = append(grants, g...)
	}
	in, err := json.Marshal(grants)
	if err != nil {
		return nil, fmt.Errorf("devstack: grants: %w", err)
	}
	if err := s.gustosync(ctx, "companies-add", in, "companies", "add"); err != nil {
		return nil, err
	}
	ids := make([]string, len(grants))
	for i, g := range grants {
		ids[i] = g.CompanyUUID
	}
	return ids, nil
}

// ClientEnv is the environment of a gustosync process named client: the
// shared variables (database, Redis, OAuth application, encryption keys), its
// own simulator listener as GUSTO_API_URL, and extra.
func (s *Stack) ClientEnv(client string, extra map[string]string) (*Env, error) {
	env := s.env.Clone()
	u, err := s.Sim.URL(client)
	if err != nil {
		return nil, err
	}
	env.Set("GUSTO_API_URL", u)
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		env.Set(k, extra[k])
	}
	return env, nil
}

// StartScheduler starts the scheduler and waits for its /healthz.
func (s *Stack) StartScheduler(ctx context.Context) (*Proc, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	env, err := s.ClientEnv("scheduler", s.opts.SchedulerEnv)
	if err != nil {
		return nil, err
	}
	env.Set("HTTP_ADDR", addr)
	p, err := s.Sup.Start(ctx, Spec{
		Name: "scheduler", Path: filepath.Join(s.opts.BinDir, "scheduler"), Env: env.List(),
		Ready: HTTPReady("http://"+addr+"/healthz", "", ""),
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.scheduler = p
	s.mu.Unlock()
	return p, nil
}

// StartWorkers starts n more workers (worker-1, worker-2, …, each with its
// own simulator listener, WORKER_ID and HTTP_ADDR) and waits for each
// one's /readyz.
func (s *Stack) StartWorkers(ctx context.Context, n int) ([]*Proc, error) {
	var out []*Proc
	for range n {
		s.mu.Lock()
		name := "worker-" + strconv.Itoa(len(s.workers)+1)
		s.mu.Unlock()
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		env, err := s.ClientEnv(name, s.opts.WorkerEnv)
		if err != nil {
			return nil, err
		}
		env.Set("WORKER_ID", name).Set("HTTP_ADDR", addr)
		p, err := s.Sup.Start(ctx, Spec{
			Name: name, Path: filepath.Join(s.opts.BinDir, "worker"), Env: env.List(),
			Ready: HTTPReady("http://"+addr+"/readyz", "", ""),
		})
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.workers = append(s.workers, p)
		s.mu.Unlock()
		out = append(out, p)
	}
	return out, nil
}

// Workers returns the workers started so far.
func (s *Stack) Workers() []*Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Proc(nil), s.workers...)
}

// Scheduler returns the scheduler, or nil before StartScheduler.
func (s *Stack) Scheduler() *Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scheduler
}

// StartDashboard starts the dashboard with generated credentials on
// Options.DashboardAddr (or a free port) and waits for /healthz.
func (s *Stack) StartDashboard(ctx context.Context) (*Dashboard, error) {
	addr, err := PreferAddr(s.opts.DashboardAddr)
	if err != nil {
		return nil, err
	}
	d := &Dashboard{URL: "http://" + addr, User: "demo", Password: dashboardPassword("demo")}
	env, err := s.ClientEnv("dashboard", nil)
	if err != nil {
		return nil, err
	}
	env.Set("DASHBOARD_ADDR", addr).Set("DASHBOARD_PUBLIC_URL", d.URL).
		Set("DASHBOARD_USER", d.User).Set("DASHBOARD_PASSWORD", d.Password).
		Set("OAUTH_STATE_KEY", randomToken(24))
	p, err := s.Sup.Start(ctx, Spec{
		Name: "dashboard", Path: filepath.Join(s.opts.BinDir, "dashboard"), Env: env.List(),
		Ready: HTTPReady(d.URL+"/healthz", d.User, d.Password),
	})
	if err != nil {
		return nil, err
	}
	d.Proc = p
	s.mu.Lock()
	s.dashboard = d
	s.mu.Unlock()
	return d, nil
}

// KillWorker kill -9s a worker and records when.
func (s *Stack) KillWorker(p *Proc) error {
	pid := p.PID()
	at := s.opts.Now()
	if err := p.Kill(); err != nil {
		return err
	}
	s.mu.Lock()
	s.kills = append(s.kills, Kill{Process: p.Name(), PID: pid, At: at})
	s.mu.Unlock()
	return nil
}

// RestartWorker starts a killed worker again and records when on its last kill.
func (s *Stack) RestartWorker(ctx context.Context, p *Proc) error {
	at := s.opts.Now()
	s.mu.Lock()
	for i := len(s.kills) - 1; i >= 0; i-- {
		if s.kills[i].Process == p.Name() {
			if s.kills[i].Restarted.IsZero() {
				s.kills[i].Restarted = at
			}
			break
		}
	}
	s.mu.Unlock()
	return p.Restart(ctx)
}

// Kills returns the kills so far, in order.
func (s *Stack) Kills() []Kill {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Kill(nil), s.kills...)
}

// RestartRedis kill -9s Redis and starts it again on the same port and data
// directory (with RedisPersistent, its queues survive), waiting for PING.
func (s *Stack) RestartRedis(ctx context.Context) error {
	if err := s.Redis.Kill(); err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	if err := s.Redis.Restart(ctx); err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	return nil
}

// Close stops every process, Redis last, the simulator and the database
// pool. The database and the run directory stay for inspection.
func (s *Stack) Close() {
	if s.Sup != nil {
		s.Sup.Close()
	}
	if s.Redis != nil {
		_ = s.Redis.Stop()
	}
	if s.Sim != nil {
		s.Sim.Close()
	}
	if s.DB != nil {
		_ = s.DB.Close()
	}
}

// WaitFor polls cond every interval until it returns true or an error, the
// deadline passes, ctx ends, or a supervised process exits unexpectedly.
func (s *Stack) WaitFor(ctx context.Context, within, interval time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("devstack: condition not met within %s: %w", within, ctx.Err())
			}
			return ctx.Err()
		case <-s.Sup.Failed():
			return s.Sup.Err()
		case <-t.C:
		}
	}
}

// Logf writes a progress line with the time of day.
func Logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// dashboardPassword generates a DASHBOARD_PASSWORD for user that the
// dashboard accepts (config.WeakPassword): 32 hex digits, drawn again in
// the (about one in 30 million) case of too few different ones.
func dashboardPassword(user string) string {
	for {
		if p := randomToken(16); config.WeakPassword(p, user) == "" {
			return p
		}
	}
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
