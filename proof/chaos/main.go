package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/proof/devstack"
)

// settings are the suite's flags.
type settings struct {
	chaos       time.Duration
	calm        time.Duration
	workers     int
	companies   int
	revoke      int
	lifetime    time.Duration
	errorRate   float64
	rule        string
	killMin     time.Duration
	killMax     time.Duration
	interval    time.Duration
	database    string
	runDir      string
	binDir      string
	seed        uint64
	crashWindow string
}

// overhead bounds set-up, stopping and verification: the whole run ends
// within chaos + calm + overhead.
const overhead = 30 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var s settings
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: chaos [flags]\n\nRuns gustosync under faults and checks that nothing was lost, duplicated or moved backwards.\n\n")
		fs.PrintDefaults()
	}
	fs.DurationVar(&s.chaos, "chaos", 3*time.Minute, "length of the chaos phase")
	fs.DurationVar(&s.calm, "calm", 90*time.Second, "deadline of the calm phase that follows (it must outlast the worker's 60 s checkpoint lease)")
	fs.IntVar(&s.workers, "workers", 4, "worker processes")
	fs.IntVar(&s.companies, "companies", 100, "companies")
	fs.IntVar(&s.revoke, "revoke", 2, "companies whose grant is revoked on purpose during the chaos")
	fs.DurationVar(&s.lifetime, "token-lifetime", 5*time.Second, "access token lifetime")
	fs.Float64Var(&s.errorRate, "error-rate", 0.05, "fraction of API calls answered 5xx by the simulator")
	fs.StringVar(&s.rule, "rule", "strict", "refresh token revocation rule: gusto, latest_wins, strict or family")
	fs.DurationVar(&s.killMin, "kill-min", 2*time.Second, "shortest pause between two kill -9")
	fs.DurationVar(&s.killMax, "kill-max", 5*time.Second, "longest pause between two kill -9")
	fs.DurationVar(&s.interval, "sync-interval", 5*time.Second, "how often each company is synced again (SYNC_INTERVAL)")
	fs.StringVar(&s.database, "database", "gustosync_chaos", "PostgreSQL database to recreate")
	fs.StringVar(&s.runDir, "run-dir", "", "where logs go (default $TMPDIR/gustosync/chaos-<time>)")
	fs.StringVar(&s.binDir, "bin", "", "directory of the gustosync binaries (default: this program's directory)")
	fs.Uint64Var(&s.seed, "seed", 0, "seed of the fault schedule and the data (0: random; printed)")
	fs.StringVar(&s.crashWindow, "crash-window", "fail", "a company whose grant was lost because a worker was killed between the token endpoint's answer and the commit (unavoidable under strict and family): fail or allow")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if _, err := gustosim.ParseRule(s.rule); err != nil || fs.NArg() > 0 || s.chaos < 10*time.Second || s.calm < 10*time.Second || s.workers < 2 ||
		s.companies < 1 || s.revoke < 0 || s.revoke >= s.companies || s.killMin <= 0 || s.killMax < s.killMin ||
		s.errorRate < 0 || s.errorRate > 1 || (s.crashWindow != "fail" && s.crashWindow != "allow") {
		fmt.Fprintln(stderr, "chaos: bad flags (see --help): --chaos and --calm ≥ 10s, --workers ≥ 2, 0 ≤ --revoke < --companies, --rule gusto|latest_wins|strict|family, --crash-window fail|allow")
		return 2
	}
	if s.binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(stderr, "chaos:", err)
			return 1
		}
		s.binDir = filepath.Dir(exe)
	}
	if s.runDir == "" {
		s.runDir = filepath.Join(os.TempDir(), "gustosync", "chaos-"+time.Now().Format("20060102-150405"))
	}
	if s.seed == 0 {
		s.seed = rand.Uint64() >> 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A hard bound, whatever hangs: the phases have their own deadlines and
	// this one only catches what they do not.
	ctx, cancel := context.WithTimeoutCause(ctx, s.chaos+s.calm+2*overhead, errors.New("the run exceeded its bound"))
	defer cancel()
	rep, err := chaos(ctx, s, stdout)
	if rep != nil {
		rep.Write(stdout)
	}
	switch {
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		fmt.Fprintf(stderr, "\nchaos: %v: %v (logs: %s; seed %d)\n", context.Cause(ctx), err, s.runDir, s.seed)
		return 1
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(stderr, "\nchaos: interrupted; every process it started has been stopped")
		return 130
	case err != nil:
		fmt.Fprintf(stderr, "\nchaos: %v\n(logs: %s; seed %d)\n", err, s.runDir, s.seed)
		return 1
	case len(rep.Failures()) > 0:
		fmt.Fprintf(stderr, "\nchaos: %d checks failed (logs: %s; rerun with --seed %d)\n", len(rep.Failures()), s.runDir, s.seed)
		return 1
	}
	return 0
}

// faults counts what the chaos did.
type faults struct {
	mu            sync.Mutex
	kills         int
	restartFails  int
	redisRestarts int
	pgRounds      int
	pgBackends    int
	revoked       []string
	revokedAt     time.Time
}

func chaos(ctx context.Context, s settings, out io.Writer) (*devstack.Report, error) {
	start := time.Now()
	logf := func(format string, args ...any) {
		devstack.Logf(out, "t+%-4s "+format, append([]any{time.Since(start).Round(time.Second).String()}, args...)...)
	}
	r := rand.New(rand.NewPCG(s.seed, 11))
	logf("chaos: %d workers, %d companies, %s tokens, rule %s, %.0f%% 5xx, seed %d; chaos %s, calm ≤ %s, done within %s; logs in %s",
		s.workers, s.companies, s.lifetime, s.rule, s.errorRate*100, s.seed, s.chaos, s.calm, s.chaos+s.calm+overhead, s.runDir)

	st, err := devstack.Up(ctx, devstack.Options{
		RunDir: s.runDir, BinDir: s.binDir, Database: s.database, Guards: true, RedisPersistent: true,
		Sim:          gustosim.Config{TokenLifetime: s.lifetime, Revocation: gustosim.Rule(s.rule), ErrorRate: s.errorRate, Seed: int64(s.seed)},
		SchedulerEnv: map[string]string{"SCHEDULER_TICK": "1s", "SYNC_INTERVAL": s.interval.String(), "SYNC_JITTER": "0.3"},
		WorkerEnv:    map[string]string{"WORKER_CONCURRENCY": "10", "WORKER_SHUTDOWN_TIMEOUT": "5s", "SYNC_BATCH_SIZE": "100"},
	})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	sizes := make([]gustosim.CompanyOptions, s.companies)
	for i := range sizes {
		sizes[i] = gustosim.CompanyOptions{Employees: 10 + r.IntN(250), Payrolls: 6 + r.IntN(40)}
	}
	companies, err := st.Onboard(ctx, sizes...)
	if err != nil {
		return nil, err
	}
	if _, err := st.StartWorkers(ctx, s.workers); err != nil {
		return nil, err
	}
	if _, err := st.StartScheduler(ctx); err != nil {
		return nil, err
	}
	logf("up: database %s, redis %s (append-only, fsync always), simulator, %d workers, scheduler; %d companies onboarded",
		s.database, st.Redis.Addr, s.workers, len(companies))

	// The chaos phase.
	chaosLen := s.chaos
	f := &faults{}
	victims := make([]string, s.revoke)
	for i, j := range r.Perm(len(companies))[:s.revoke] {
		victims[i] = companies[j]
	}
	logf("chaos phase: %s", chaosLen.Round(time.Second))
	if err := chaosPhase(ctx, st, s, r, f, victims, chaosLen, logf); err != nil {
		return nil, err
	}
	chaosEnd := time.Now()

	// The calm phase: no more kills or restarts (the 5xx stay); every company
	// that is not revoked must finish a sync after the chaos.
	calm := s.calm
	logf("calm phase: waiting up to %s for every company to finish a sync after the chaos", calm.Round(time.Second))
	revoked := map[string]bool{}
	for _, v := range victims {
		revoked[v] = true
	}
	var pending []string
	last := ""
	waitErr := st.WaitFor(ctx, calm, time.Second, func(ctx context.Context) (bool, error) {
		states, err := st.DB.Companies(ctx)
		if err != nil {
			return false, nil // PostgreSQL may still be recovering a pool: poll again
		}
		pending = pending[:0]
		for _, c := range companies {
			cs := states[c]
			switch {
			case revoked[c] && cs.Status == "needs_reauth":
			case !revoked[c] && cs.Status == "needs_reauth": // lost: nothing more will happen
			case !revoked[c] && cs.Status == "active" && cs.LastSucceeded.After(chaosEnd):
			default:
				pending = append(pending, c)
			}
		}
		if line := fmt.Sprintf("%d companies still to finish a sync", len(pending)); line != last {
			logf("%s", line)
			last = line
		}
		return len(pending) == 0, nil
	})
	if waitErr != nil && ctx.Err() != nil {
		return nil, waitErr
	}
	var supErr *devstack.ExitError
	if errors.As(waitErr, &supErr) {
		return nil, waitErr
	}
	calmTook := time.Since(chaosEnd)

	// Freeze: stop the scheduler and the workers (SIGTERM) so the state
	// verified is the state left.
	stopAll(st)
	logf("stopped the scheduler and the workers; verifying")
	rep, err := verify(ctx, st, s, f, companies, victims, pending, chaosEnd, chaosLen, calmTook)
	if err != nil {
		return nil, err
	}
	rep.Title = fmt.Sprintf("gustosync chaos — %s (chaos %s, calm %s), seed %d", time.Since(start).Round(time.Second),
		chaosLen.Round(time.Second), calmTook.Round(time.Second), s.seed)
	rep.Note("logs: %s", st.Sup.Dir())
	return rep, nil
}

// chaosPhase runs the faults until d has passed: a kill -9 of a random
// worker every killMin..killMax (restarted at once), one Redis kill -9 and
// restart, two rounds of pg_terminate_backend, and the revocations.
func chaosPhase(ctx context.Context, st *devstack.Stack, s settings, r *rand.Rand, f *faults, victims []string, d time.Duration, logf func(string, ...any)) error {
	begin := time.Now()
	at := func(frac float64) time.Time { return begin.Add(time.Duration(float64(d) * frac)) }
	events := []struct {
		at time.Time
		do func() error
	}{
		{at(0.25), func() error { return terminate(ctx, st, f, logf) }},
		{at(0.40), func() error {
			if err := st.RestartRedis(ctx); err != nil {
				return err
			}
			f.mu.Lock()
			f.redisRestarts++
			f.mu.Unlock()
			logf("redis: kill -9 and restart (its queues come back from the append-only file)")
			return nil
		}},
		{at(0.50), func() error {
			for _, v := range victims {
				if err := st.Sim.Sim.Revoke(v); err != nil {
					return err
				}
			}
			f.mu.Lock()
			f.revoked, f.revokedAt = victims, time.Now()
			f.mu.Unlock()
			if len(victims) > 0 {
				logf("revoked %d companies' grants in the simulator, as their users would: %v", len(victims), victims)
			}
			return nil
		}},
		{at(0.70), func() error { return terminate(ctx, st, f, logf) }},
	}
	nextKill := time.Now().Add(jitter(r, s.killMin, s.killMax))
	end := begin.Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-st.Sup.Failed():
			return st.Sup.Err()
		case <-tick.C:
		}
		now := time.Now()
		for i := range events {
			if events[i].do != nil && !now.Before(events[i].at) {
				if err := events[i].do(); err != nil {
					return err
				}
				events[i].do = nil
			}
		}
		if !now.Before(nextKill) {
			ws := st.Workers()
			w := ws[r.IntN(len(ws))]
			if err := st.KillWorker(w); err != nil {
				return err
			}
			f.mu.Lock()
			f.kills++
			f.mu.Unlock()
			if err := st.RestartWorker(ctx, w); err != nil {
				// A worker that cannot start again is a finding, not the end of the run.
				f.mu.Lock()
				f.restartFails++
				f.mu.Unlock()
				logf("%s did not come back: %v", w.Name(), err)
			}
			nextKill = time.Now().Add(jitter(r, s.killMin, s.killMax))
		}
		if time.Since(lastProgress) >= 5*time.Second {
			lastProgress = time.Now()
			if snap, err := st.DB.Snapshot(ctx); err == nil {
				f.mu.Lock()
				logf("kills %d, redis restarts %d, pg terminations %d; runs ok %d, running %d; refreshes %d; needs_reauth %d",
					f.kills, f.redisRestarts, f.pgRounds, snap.RunsSucceeded, snap.RunsRunning, snap.Refreshes, snap.NeedsReauth)
				f.mu.Unlock()
			}
		}
	}
	return nil
}

func terminate(ctx context.Context, st *devstack.Stack, f *faults, logf func(string, ...any)) error {
	n, err := st.DB.TerminateBackends(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.pgRounds++
	f.pgBackends += n
	f.mu.Unlock()
	logf("postgres: pg_terminate_backend on %d backends of the chaos database", n)
	return nil
}

func jitter(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// stopAll stops the scheduler and the workers at once (SIGTERM, then
// SIGKILL after their stop timeout).
func stopAll(st *devstack.Stack) {
	var wg sync.WaitGroup
	for _, p := range append(st.Workers(), st.Scheduler()) {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Stop() }()
	}
	wg.Wait()
}
