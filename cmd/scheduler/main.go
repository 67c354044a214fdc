package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/alerts"
	"github.com/gustosync/gustosync/internal/buildinfo"
	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/redrive"
	"github.com/gustosync/gustosync/internal/retention"
	"github.com/gustosync/gustosync/internal/scheduler"
	"github.com/gustosync/gustosync/internal/telemetry"
	"github.com/gustosync/gustosync/internal/tokens"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// schemaRecheck is how often a scheduler started on an older schema looks
// again (it runs nothing until the schema is current).
const schemaRecheck = 2 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, config.Environ(), time.Now)
	stop()
	os.Exit(code)
}

const usageText = `Usage:
  scheduler                          enqueue syncs for companies that are due, until stopped
  scheduler enqueue --company UUID   enqueue a sync of one company now and exit
  scheduler enqueue --all            enqueue a sync of every active company now and exit
      add --full to either to force a full reconciliation
  scheduler --version                print the version, commit and build date

Environment: DATABASE_URL, REDIS_URL, SCHEDULER_TICK (30s), SYNC_INTERVAL (1h),
SYNC_JITTER (0.1), SYNC_FULL_EVERY (168h), SYNC_HEARTBEAT (2s) and SYNC_LEASE (6s) (re-driving dead syncs),
HTTP_ADDR (:8081, serves /healthz, /readyz and /metrics; not ready, and idle, while the
database schema is older than this binary),
ALERT_WEBHOOK_URL and ALERT_WEBHOOK_SECRET (signed needs_reauth alerts), LOG_LEVEL (info),
RETENTION_DAYS (30; 0 keeps everything: finished runs, refresh events, handled Gusto events and
delivered alerts older than that are pruned in batches, by one replica at a time),
GUSTO_EVENTS_FEED (true: poll Gusto's events every GUSTO_EVENTS_POLL, 30s, with a system token
from GUSTO_CLIENT_ID and GUSTO_CLIENT_SECRET at GUSTO_API_URL), GUSTO_EVENTS_SYNC_DEBOUNCE (5m).
Exit status: 0 success, 1 failure, 2 bad input.
`

// usageError is bad input: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run is the whole program; it returns the exit status. vars is the
// environment and now the clock (time.Now; tests pass their own, so that
// what a command does never depends on the second it runs in).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, vars map[string]string, now func() time.Time) int {
	var err error
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case len(args) > 0 && buildinfo.IsVersionFlag(args[0]):
		fmt.Fprint(stdout, buildinfo.Line("scheduler"))
		return exitOK
	case len(args) > 0 && args[0] == "enqueue":
		err = enqueueCmd(ctx, args[1:], stdout, stderr, vars, now)
	case len(args) > 0:
		err = &usageError{msg: fmt.Sprintf("unknown argument %q", args[0])}
	default:
		err = serve(ctx, stderr, vars, now)
	}
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ce *config.Error
	var uc *scheduler.UnknownCompanyError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "scheduler: %v (see scheduler --help)\n", ue)
		return exitUsage
	case errors.As(err, &ce), errors.As(err, &uc):
		fmt.Fprintf(stderr, "scheduler: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "scheduler: %s\n", strings.Join(strings.Fields(err.Error()), " "))
	return exitFailure
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// deps are the connections both modes need.
type deps struct {
	cfg   config.Scheduler
	log   *slog.Logger
	db    *gorm.DB
	sched *scheduler.Scheduler
	queue *asynq.Client
	// metrics are nil for a one-shot command (nothing serves them).
	metrics *telemetry.Scheduler
	now     func() time.Time
	close   func()
}

// open connects what both modes need, on the clock now. A one-shot command
// (enqueue) keeps the database's statement log out of stderr, which holds
// its one-line error.
func open(ctx context.Context, stderr io.Writer, vars map[string]string, now func() time.Time, reg prometheus.Registerer, oneShot bool) (*deps, error) {
	// reg is nil for a one-shot command.
	var cfg config.Scheduler
	if err := config.ParseFrom(&cfg, vars); err != nil {
		return nil, err
	}
	log := newLogger(stderr, cfg.LogLevel)
	dbLog := log
	if oneShot {
		dbLog = slog.New(slog.DiscardHandler)
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = 4
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := postgres.Open(openCtx, cfg.Database.URL, maxConns, postgres.WithLogger(dbLog))
	if err != nil {
		return nil, err
	}
	opt, err := cfg.Redis.ConnOpt()
	if err != nil {
		_ = postgres.Close(db)
		return nil, err
	}
	var metrics *telemetry.Scheduler
	if reg != nil {
		metrics, err = telemetry.RegisterScheduler(reg, telemetry.SchedulerSources{DB: db, Interval: cfg.Interval, Now: now})
		if err != nil {
			_ = postgres.Close(db)
			return nil, err
		}
	} else {
		metrics = &telemetry.Scheduler{}
	}
	client := asynq.NewClient(opt)
	// The inspector lets each tick re-enqueue the windows Redis lost.
	inspector := asynq.NewInspector(opt)
	sched, err := scheduler.New(db, client, scheduler.Config{
		Interval: cfg.Interval, Jitter: cfg.Jitter, Tick: cfg.Tick, Logger: log, Now: now, FullEvery: cfg.FullEvery,
		Metrics: metrics.Scheduler, Lookup: inspector,
	})
	if err != nil {
		_ = client.Close()
		_ = inspector.Close()
		_ = postgres.Close(db)
		return nil, err
	}
	return &deps{cfg: cfg, log: log, db: db, sched: sched, queue: client, metrics: metrics, now: now, close: func() { _ = client.Close(); _ = inspector.Close(); _ = postgres.Close(db) }}, nil
}

// serve ticks until ctx ends, delivers alerts when configured, and serves
// /healthz, /readyz and /metrics. Nothing runs until the schema is current.
func serve(ctx context.Context, stderr io.Writer, vars map[string]string, now func() time.Time) error {
	reg := telemetry.NewRegistry()
	d, err := open(ctx, stderr, vars, now, reg, false)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while still starting: nothing was started, nothing failed.
			return nil
		}
		return err
	}
	defer d.close()

	ln, err := net.Listen("tcp", d.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	// Ready once the schema holds every migration this binary embeds;
	// until then nothing below runs (no tick, no re-drive, no poll).
	gate := migrate.NewGate(d.db)
	mux.Handle("GET /readyz", gate)
	mux.Handle("GET /metrics", telemetry.Handler(reg, d.log.With("component", "metrics")))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	// Like every worker, the scheduler re-drives the runs of dead sync
	// attempts (package redrive), so a fleet whose workers all died still
	// has them re-driven the moment one comes back.
	redriver, err := redrive.New(redrive.Config{
		Store: checkpoint.NewStore(d.db, checkpoint.Options{Lease: d.cfg.Lease}), Queue: d.queue,
		By: "scheduler-" + config.DefaultWorkerID(), Interval: d.cfg.Heartbeat, Logger: d.log.With("component", "redrive"),
		Metrics: d.metrics.Redrive,
	})
	if err != nil {
		return err
	}
	// History older than RETENTION_DAYS is pruned in bounded batches, by
	// one replica at a time (package retention).
	pruner, err := retention.New(retention.Config{DB: d.db, Days: d.cfg.RetentionDays, Now: d.now,
		Logger: d.log.With("component", "retention")})
	if err != nil {
		return err
	}
	loops := []func(context.Context) error{d.sched.Run, redriver.Run, pruner.Run}
	switch {
	case d.cfg.EventsFeed.Runs():
		feed, err := eventsFeed(d)
		if err != nil {
			return err
		}
		loops = append(loops, feed.Run)
	case d.cfg.EventsFeed.Enabled:
		d.log.Warn("the events feed is on (GUSTO_EVENTS_FEED) but GUSTO_CLIENT_ID and GUSTO_CLIENT_SECRET are not set: a revocation is known only from the webhook intake or the next sync")
	}
	if d.cfg.AlertWebhookURL != "" {
		dispatcher, err := alertDispatcher(d)
		if err != nil {
			return err
		}
		loops = append(loops, dispatcher.Run)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if gate.Wait(gctx, schemaRecheck, d.log) != nil {
			return nil // stopped while waiting
		}
		for _, loop := range loops {
			g.Go(func() error { return loop(gctx) })
		}
		return nil
	})
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	d.log.Info("scheduler started", "tick", d.cfg.Tick, "interval", d.cfg.Interval, "jitter", d.cfg.Jitter,
		"http", ln.Addr().String(), "retention_days", d.cfg.RetentionDays, "alerts", d.cfg.AlertWebhookURL != "", "events_feed", d.cfg.EventsFeed.Runs())
	err = g.Wait()
	d.log.Info("scheduler stopped")
	return err
}

// eventsFeed builds the poll of GET /v1/events (package gustoevents): a
// revocation is needs_reauth within GUSTO_EVENTS_POLL, with no public
// endpoint. The tokens store it marks through never seals (status changes
// only), so it has no keyring.
func eventsFeed(d *deps) (*gustoevents.Feed, error) {
	f := d.cfg.EventsFeed
	client, err := gusto.New(gusto.Options{BaseURL: f.APIURL, ClientID: f.ClientID, ClientSecret: f.ClientSecret.Reveal(),
		APIVersion: f.APIVersion, HTTPClient: &http.Client{Timeout: f.RequestTimeout}, Logger: d.log, Metrics: d.metrics.Gusto})
	if err != nil {
		return nil, &config.Error{Var: "GUSTO_API_URL", Reason: err.Error()}
	}
	store := gustoevents.NewStore(d.db, nil)
	log := d.log.With("component", "events")
	h, err := gustoevents.NewHandler(gustoevents.Config{Store: store, Revoker: tokens.NewStore(d.db, nil),
		Sync: gustoevents.SchedulerSync(d.sched), Known: gustoevents.DirectoryKnown(companies.New(d.db)), SyncDebounce: f.SyncDebounce, By: "scheduler-" + config.DefaultWorkerID(),
		Now: d.now, Logger: log, Metrics: d.metrics.Events})
	if err != nil {
		return nil, err
	}
	return gustoevents.NewFeed(gustoevents.FeedConfig{DB: d.db, Handler: h, Store: store,
		Events: systemEvents{client, gusto.NewSystemTokens(client)}, Period: f.Period, Logger: log})
}

// systemEvents binds a system token source to GET /v1/events.
type systemEvents struct {
	c   *gusto.Client
	src *gusto.SystemTokens
}

func (s systemEvents) Events(ctx context.Context, q gusto.EventsQuery) ([]gusto.Event, error) {
	return s.c.Events(ctx, s.src, q)
}

func alertDispatcher(d *deps) (*alerts.Dispatcher, error) {
	return alerts.NewDispatcher(d.db, alerts.Config{
		URL:    d.cfg.AlertWebhookURL,
		Secret: []byte(d.cfg.AlertWebhookSecret.Reveal()),
		Now:    d.now,
		Logger: d.log,
	})
}

// enqueueCmd is `scheduler enqueue --company UUID | --all`.
func enqueueCmd(ctx context.Context, args []string, stdout, stderr io.Writer, vars map[string]string, now func() time.Time) error {
	fs := flag.NewFlagSet("scheduler enqueue", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	company := fs.String("company", "", "enqueue a sync of this company (uuid) now")
	all := fs.Bool("all", false, "enqueue a sync of every active company now")
	full := fs.Bool("full", false, "a full reconciliation, whatever the company's cadence")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			return err
		}
		return &usageError{msg: err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case (*company == "") == !*all:
		return &usageError{msg: "give exactly one of --company UUID and --all"}
	}
	if *company != "" {
		u, err := uuid.Parse(*company)
		if err != nil {
			return &usageError{msg: "--company: not a uuid"}
		}
		*company = u.String()
	}
	d, err := open(ctx, stderr, vars, now, nil, true)
	if err != nil {
		return err
	}
	defer d.close()
	var res scheduler.Result
	if *all {
		res, err = d.sched.EnqueueAll(ctx, *full)
	} else {
		res, err = d.sched.EnqueueCompany(ctx, *company, *full)
	}
	fmt.Fprintf(stdout, "enqueued %d, already queued %d, failed %d\n", res.Enqueued, res.Duplicates, res.Failed)
	return err
}
