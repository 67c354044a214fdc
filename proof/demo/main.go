package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/proof/devstack"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// settings are the demo's flags.
type settings struct {
	companies     int
	workers       int
	lifetime      time.Duration
	interval      time.Duration
	timeout       time.Duration
	database      string
	runDir        string
	binDir        string
	dashboardAddr string
	stay          string
	seed          uint64
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var s settings
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: demo [flags]\n\nRuns the whole gustosync system locally against the Gusto simulator and prints what it did.\n\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&s.companies, "companies", 50, "demo companies to onboard")
	fs.IntVar(&s.workers, "workers", 3, "worker processes")
	fs.DurationVar(&s.lifetime, "token-lifetime", 30*time.Second, "access token lifetime the simulator grants")
	fs.DurationVar(&s.interval, "sync-interval", 8*time.Second, "how often each company is synced again (SYNC_INTERVAL)")
	fs.DurationVar(&s.timeout, "timeout", 4*time.Minute, "give up (and say why) after this long")
	fs.StringVar(&s.database, "database", "gustosync_demo", "PostgreSQL database to recreate for the demo")
	fs.StringVar(&s.runDir, "run-dir", "", "where logs go (default $TMPDIR/gustosync/demo-<time>)")
	fs.StringVar(&s.binDir, "bin", "", "directory of the gustosync binaries (default: this program's directory)")
	fs.StringVar(&s.dashboardAddr, "dashboard-addr", "127.0.0.1:8082", "dashboard address (a free port if taken)")
	fs.StringVar(&s.stay, "stay", "no", "keep the system running after the summary until Ctrl-C: yes, no, or auto (yes on a terminal)")
	fs.Uint64Var(&s.seed, "seed", 0, "simulator data seed (0: random)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || s.companies < 2 || s.workers < 1 || s.lifetime < 5*time.Second || s.interval <= 0 ||
		(s.stay != "auto" && s.stay != "yes" && s.stay != "no") {
		fmt.Fprintln(stderr, "demo: bad flags: want --companies ≥ 2, --workers ≥ 1, --token-lifetime ≥ 5s, --stay yes|no|auto, no arguments")
		return 2
	}
	if s.binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 1
		}
		s.binDir = filepath.Dir(exe)
	}
	if s.runDir == "" {
		s.runDir = filepath.Join(os.TempDir(), "gustosync", "demo-"+time.Now().Format("20060102-150405"))
	}
	if s.seed == 0 {
		s.seed = rand.Uint64()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, s, stdout); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "\ndemo: interrupted; every process it started has been stopped")
			return 130
		}
		fmt.Fprintf(stderr, "\ndemo: %v\n(logs: %s)\n", err, s.runDir)
		return 1
	}
	return 0
}

func demo(ctx context.Context, s settings, out io.Writer) error {
	logf := func(format string, args ...any) { devstack.Logf(out, format, args...) }
	start := time.Now()
	logf("gustosync demo: %d companies, %d workers, tokens living %s; logs in %s", s.companies, s.workers, s.lifetime, s.runDir)

	st, err := devstack.Up(ctx, devstack.Options{
		RunDir: s.runDir, BinDir: s.binDir, Database: s.database, DashboardAddr: s.dashboardAddr,
		Sim: gustosim.Config{TokenLifetime: s.lifetime, Seed: int64(s.seed >> 1)},
		SchedulerEnv: map[string]string{
			"SCHEDULER_TICK": "1s", "SYNC_INTERVAL": s.interval.String(), "SYNC_JITTER": "0.2",
		},
		WorkerEnv: map[string]string{"WORKER_CONCURRENCY": "8"},
	})
	if err != nil {
		return err
	}
	defer func() {
		logf("stopping every process")
		st.Close()
	}()
	logf("database %s recreated and migrated; redis on %s; simulator up", s.database, st.Redis.Addr)

	// Companies of varied sizes, as a real customer base.
	r := rand.New(rand.NewPCG(s.seed, 7))
	sizes := make([]gustosim.CompanyOptions, s.companies)
	for i := range sizes {
		sizes[i] = gustosim.CompanyOptions{Employees: 5 + r.IntN(120), Payrolls: 6 + r.IntN(30)}
	}
	companies, err := st.Onboard(ctx, sizes...)
	if err != nil {
		return err
	}
	logf("onboarded %d companies with `gustosync companies add`", len(companies))

	if _, err := st.StartWorkers(ctx, s.workers); err != nil {
		return err
	}
	if _, err := st.StartScheduler(ctx); err != nil {
		return err
	}
	dash, err := st.StartDashboard(ctx)
	if err != nil {
		return err
	}
	logf("%d workers, the scheduler and the dashboard are up; while the demo runs, open %s (user %s, password %s)",
		s.workers, dash.URL, dash.User, dash.Password)

	revoked := companies[len(companies)/2]
	var revokedAt time.Time
	period := devstack.RefreshPeriod(s.lifetime, 5*time.Minute)
	last := ""
	err = st.WaitFor(ctx, s.timeout, 2*time.Second, func(ctx context.Context) (bool, error) {
		snap, err := st.DB.Snapshot(ctx)
		if err != nil {
			return false, err
		}
		states, err := st.DB.Companies(ctx)
		if err != nil {
			return false, err
		}
		if revokedAt.IsZero() && snap.Synced == len(companies) && states[revoked].Version >= 2 {
			if err := st.Sim.Sim.Revoke(revoked); err != nil {
				return false, err
			}
			revokedAt = time.Now()
			logf("half-way: the user of company %s revoked the app in Gusto", revoked)
		}
		line := fmt.Sprintf("synced %d/%d  records %d  refreshes %d  rotated twice %d/%d  needs_reauth %d  runs ok %d, running %d",
			snap.Synced, len(companies), snap.Records(), snap.Refreshes, snap.Rotated2, snap.Active, snap.NeedsReauth, snap.RunsSucceeded, snap.RunsRunning)
		if line != last {
			logf("%s", line)
			last = line
		}
		if revokedAt.IsZero() || states[revoked].Status != "needs_reauth" {
			return false, nil
		}
		for _, c := range companies {
			if c == revoked {
				continue
			}
			if cs := states[c]; cs.Status != "active" || cs.Succeeded == 0 || cs.Version < 3 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for every company to sync and rotate twice: %w", err)
	}
	logf("every company synced and rotated its tokens at least twice (%s); checking the data", time.Since(start).Round(time.Second))

	rep, err := summary(ctx, st, companies, revoked, period, s.lifetime, dash)
	if err != nil {
		return err
	}
	rep.Title = fmt.Sprintf("gustosync demo — %s", time.Since(start).Round(time.Second))
	rep.Write(out)
	if f := rep.Failures(); len(f) > 0 {
		return fmt.Errorf("%d checks failed", len(f))
	}
	if stay(s.stay) {
		fmt.Fprintf(out, "\nThe system keeps running: open %s (user %s, password %s). Ctrl-C stops every process.\n", dash.URL, dash.User, dash.Password)
		select {
		case <-ctx.Done():
		case <-st.Sup.Failed():
			return st.Sup.Err()
		}
	}
	return nil
}

func stay(mode string) bool {
	if mode != "auto" {
		return mode == "yes"
	}
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func summary(ctx context.Context, st *devstack.Stack, companies []string, revoked string, period, lifetime time.Duration, dash *devstack.Dashboard) (*devstack.Report, error) {
	rep := &devstack.Report{}
	now := time.Now()
	states, err := st.DB.Companies(ctx)
	if err != nil {
		return nil, err
	}
	snap, err := st.DB.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	var active []string
	for _, c := range companies {
		if c != revoked {
			active = append(active, c)
		}
	}

	// Sync.
	synced := 0
	for _, c := range active {
		if states[c].Succeeded > 0 {
			synced++
		}
	}
	rep.Check("sync", "companies synced", synced == len(active), fmt.Sprintf("%d of %d", synced, len(active)), "all (the revoked one aside)")
	mismatches, rows, err := rowcheck.Compare(ctx, st.DB.SQL, st.Sim.Sim, active)
	if err != nil {
		return nil, err
	}
	rep.Check("sync", "rows equal the simulator's (count + sha256)", len(mismatches) == 0,
		fmt.Sprintf("%d rows, %d mismatches", rows, len(mismatches)), "0 mismatches",
		devstack.Firsts(mismatches, 5, rowcheck.Mismatch.String)...)
	rep.Info("sync", "records in the database", fmt.Sprintf("%d (%d companies, %d employees, %d payrolls)", snap.Records(), snap.CompanyRows, snap.EmployeeRows, snap.PayrollRows), "")
	rep.Info("sync", "sync runs", fmt.Sprintf("%d succeeded, %d running, %d failed", snap.RunsSucceeded, snap.RunsRunning, snap.RunsFailed), "")

	// Tokens.
	tt := st.Sim.TokenTraffic()
	var minV, maxV int64 = 1 << 62, 0
	var calls, windows int64
	worst, worstCo := 0.0, ""
	for _, c := range active {
		cs := states[c]
		minV, maxV = min(minV, cs.Version), max(maxV, cs.Version)
		w := devstack.ExpiryWindows(cs.Onboarded, now, period)
		calls += tt.CallsByCompany[c]
		windows += w
		if w > 0 {
			if r := float64(tt.CallsByCompany[c]) / float64(w); r > worst {
				worst, worstCo = r, c
			}
		}
	}
	rep.Check("tokens", "rotations per company (token version − 1)", minV >= 3, fmt.Sprintf("min %d, max %d", minV-1, maxV-1), "≥ 2 each")
	rep.Check("tokens", "refresh calls per expiry window", windows > 0 && worst <= 1.0,
		fmt.Sprintf("%.2f overall (%d calls / %d windows), worst company %.2f", float64(calls)/float64(max(windows, 1)), calls, windows, worst),
		fmt.Sprintf("≤ 1.00 (a window: %s of a %s token)", period.Round(100*time.Millisecond), lifetime), worstDetail(worstCo, worst)...)
	var refused int64
	for _, n := range tt.RefusedReplays {
		refused += n
	}
	rep.Check("tokens", "refresh tokens refused for replay", refused == 0, fmt.Sprint(refused), "0")

	traffic, _ := st.Sim.Traffic()
	var unauthorized int64
	var offenders []string
	for _, co := range slices.Sorted(maps.Keys(traffic)) {
		if co == revoked {
			continue
		}
		if n := traffic[co].Unauthorized; n > 0 {
			unauthorized += n
			offenders = append(offenders, fmt.Sprintf("%s: %d", co, n))
		}
	}
	rep.Check("tokens", "401s on data calls", unauthorized == 0, fmt.Sprint(unauthorized), "0", offenders...)
	rep.Info("tokens", "401s of the revoked company", fmt.Sprint(traffic[revoked].Unauthorized), "how a revocation shows: its first call after it")

	// Re-authorization.
	var reauth []string
	for _, co := range slices.Sorted(maps.Keys(states)) {
		if states[co].Status == "needs_reauth" {
			reauth = append(reauth, co)
		}
	}
	okReauth := len(reauth) == 1 && reauth[0] == revoked && states[revoked].Reason != ""
	rep.Check("re-authorization", "companies in needs_reauth", okReauth, fmt.Sprint(len(reauth)), "only the revoked one",
		fmt.Sprintf("%s (revoked on purpose): %s", revoked, states[revoked].Reason))

	// Where to look.
	rep.Info("operate", "dashboard", dash.URL+"/companies", "asynq queues at "+dash.URL+"/monitoring/; up while the demo runs (--stay yes keeps it after the summary)")
	rep.Info("operate", "dashboard credentials", dash.User+" / "+dash.Password, "generated for this run")
	rep.Info("operate", "logs", st.Sup.Dir(), "one file per process")
	return rep, nil
}

func worstDetail(co string, r float64) []string {
	if co == "" || r <= 1 {
		return nil
	}
	return []string{fmt.Sprintf("worst: %s at %.2f", co, r)}
}
