package main

import (
	"context"
	"errors"
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

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/buildinfo"
	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/membudget"
	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/ratelimit"
	"github.com/gustosync/gustosync/internal/redrive"
	"github.com/gustosync/gustosync/internal/refreshbudget"
	"github.com/gustosync/gustosync/internal/telemetry"
	"github.com/gustosync/gustosync/internal/tokens"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Tuning that is not configuration.
const (
	// taskCheckInterval is how often an idle processor polls the queues
	// (asynq's default of 1 s adds ~0.5 s to every pickup).
	taskCheckInterval = 100 * time.Millisecond
	// delayedCheckInterval moves due retries (a drained or busy task) back
	// to the queues promptly.
	delayedCheckInterval = time.Second
	// probeTimeout bounds each /readyz check.
	probeTimeout = 2 * time.Second
	// schemaRecheck is how often a worker started on an older schema looks
	// again (it takes no task until the schema is current).
	schemaRecheck = 2 * time.Second
	// heapSampleEvery is how often the live heap is sampled for
	// gustosync_heap_live_peak_bytes (the runtime updates it once per GC).
	heapSampleEvery = 50 * time.Millisecond
)

const usageText = `Usage: worker

Runs gustosync's sync jobs (asynq task sync:company) until SIGTERM or SIGINT,
serving /healthz, /readyz and /metrics on HTTP_ADDR. On a database schema
older than its own it is not ready and takes no task until migrated.
worker --version prints the version, commit and build date.

Environment (default):
  DATABASE_URL             PostgreSQL DSN (postgres://postgres@127.0.0.1:5432/gustosync?sslmode=disable)
  DATABASE_MAX_CONNS       pool size; 0 sizes it to the concurrency (0)
  REDIS_URL                redis:// or rediss:// URL (redis://127.0.0.1:6379/0)
  GUSTO_API_URL            Gusto base URL (https://api.gusto-demo.com)
  GUSTO_CLIENT_ID, GUSTO_CLIENT_SECRET, GUSTO_REDIRECT_URI   OAuth application (required)
  GUSTO_REQUEST_TIMEOUT    one request to Gusto (30s)
  GUSTO_RATE_LIMIT         requests per 60 s rate budget assumed until Gusto's X-RateLimit-* headers say (200)
  TOKEN_ENCRYPTION_KEYS    id:base64(32 bytes)[,id:key...], the first encrypts (required)
  TOKEN_REFRESH_AHEAD      refresh-ahead window (5m)
  TOKEN_REFRESH_RATE       fleet-wide token refreshes per second, 0 = no budget (20)
  WORKER_CONCURRENCY       syncs at once (10)
  WORKER_ID                name in sync_runs, audit rows and logs (hostname-pid)
  WORKER_SHUTDOWN_TIMEOUT  graceful stop: running syncs commit their batch within it (25s)
  SYNC_TASK_TIMEOUT        bound on one sync attempt (6h)
  SYNC_BATCH_SIZE          records per checkpointed transaction (500)
  SYNC_INCREMENTAL_PAYROLL_DAYS  payrolls re-read by an incremental sync, by check date (90)
  SYNC_EMPLOYEES_MAX_AGE         an incremental sync skips the employees when Gusto's events say
                                 they are unchanged and the last read is younger than this (24h; 0: never skip)
  SYNC_EVENTS_FEED_STALE         the events feed vouches only if it completed a poll within this (5m)
  SYNC_HEARTBEAT           how often a running sync heartbeats, and dead ones are looked for (2s)
  SYNC_LEASE               silence after which a sync is presumed dead and re-driven (6s)
  WORKER_PAGE_BYTES_BUDGET page bytes held at once across this worker's syncs, e.g. 64MiB (64MiB)
  HTTP_ADDR                /healthz, /readyz, /metrics (:8080)
  LOG_LEVEL                debug, info, warn or error (info)

Exit status: 0 after a clean stop, 1 on a start-up failure, 2 on bad configuration.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		switch {
		case a == "-h" || a == "-help" || a == "--help" || a == "help":
			fmt.Fprint(stdout, usageText)
			return exitOK
		case buildinfo.IsVersionFlag(a):
			fmt.Fprint(stdout, buildinfo.Line("worker"))
			return exitOK
		}
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "worker: unexpected argument %q (see worker --help)\n", args[0])
		return exitUsage
	}
	var cfg config.Worker
	if err := config.Parse(&cfg); err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return exitUsage
	}
	log := newLogger(stdout, cfg.LogLevel).With(slog.String("worker", cfg.ID))
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)

	w, err := start(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "worker: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		return exitFailure
	}
	var sig os.Signal
	select {
	case sig = <-sigs:
	case err := <-w.failed:
		// Started late, on a schema that became current, and failed then.
		w.stop()
		fmt.Fprintf(stderr, "worker: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		return exitFailure
	}
	log.Info("shutting down", slog.String("signal", sig.String()), slog.Duration("timeout", cfg.ShutdownTimeout))
	go func() {
		// A second signal skips the graceful stop; the runs resume from
		// their last committed checkpoints all the same.
		sig := <-sigs
		log.Warn("second signal; exiting now", slog.String("signal", sig.String()))
		os.Exit(exitFailure)
	}()
	w.stop()
	log.Info("stopped")
	return exitOK
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With(slog.String("service", "worker"))
}

// worker is the running process: what stop must close, in order.
type worker struct {
	log      *slog.Logger
	handler  *jobs.Handler
	srv      *asynq.Server
	http     *http.Server
	db       *gorm.DB
	rdb      redis.UniversalClient
	ready    *readiness
	mux      *asynq.ServeMux
	redriver *redrive.Redriver

	// Taking tasks waits for the schema (migrate.Gate). stopWaiting ends
	// that wait; waited is closed once it is over (begun or given up), and
	// only then may stop read began and stopRedrive. failed receives the
	// error of a begin that ran after start returned.
	stopWaiting func()
	waited      chan struct{}
	failed      chan error
	began       bool
	// stopRedrive stops the redriver and waits for its pass in flight.
	stopRedrive func()
}

// start wires everything and starts serving; on error it closes what it
// opened.
func start(cfg config.Worker, log *slog.Logger) (w *worker, err error) {
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	maxConns := cfg.Database.MaxConns
	if maxConns == 0 {
		// A commit and a heartbeat per running sync, plus the token
		// manager and the readiness probe.
		maxConns = 2*cfg.Concurrency + 4
	}
	db, err := postgres.Open(ctx, cfg.Database.URL, maxConns, postgres.WithLogger(log.With(slog.String("component", "postgres"))))
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = postgres.Close(db) })

	// REDIS_MODE picks one server, Sentinel or Cluster (config/redis.go).
	rdb, err := cfg.Redis.NewClient(2*cfg.Concurrency + 10)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis (%s mode): %w", cfg.Redis.Mode, err)
	}

	ring, err := tokens.NewKeyring(cfg.Tokens.EncryptionKeys)
	if err != nil {
		return nil, &config.Error{Var: "TOKEN_ENCRYPTION_KEYS", Reason: err.Error()}
	}
	store := tokens.NewStore(db, ring)
	pageBudget, err := membudget.New(int64(cfg.PageBytesBudget))
	if err != nil {
		return nil, &config.Error{Var: "WORKER_PAGE_BYTES_BUDGET", Reason: err.Error()}
	}
	heap := &membudget.HeapPeak{}
	reg := telemetry.NewRegistry()
	metrics, err := telemetry.RegisterWorker(reg, telemetry.WorkerSources{DB: db, Tokens: store,
		Queues: asynq.NewInspectorFromRedisClient(rdb), PageBudget: pageBudget, Heap: heap})
	if err != nil {
		return nil, err
	}
	tokenMetrics, syncMetrics := metrics.Tokens, metrics.Sync
	heapCtx, stopHeap := context.WithCancel(context.Background())
	closers = append(closers, stopHeap)
	go heap.Run(heapCtx, heapSampleEvery)

	var (
		manager   *tokens.Manager
		ownerKeys *tokens.OwnerKeys // set below when GUSTO_RATE_LIMIT_KEY=owner
	)
	limits := ratelimit.Options{Limit: cfg.RateLimit, Logger: log.With(slog.String("component", "ratelimit"))}
	if cfg.RateLimitKey == config.RateLimitKeyOwner {
		limits.Keys = ratelimit.KeyFunc(func(ctx context.Context, company string) (string, error) {
			return ownerKeys.RateKey(ctx, company)
		})
	}
	limiter, err := ratelimit.New(rdb, limits)
	if err != nil {
		return nil, &config.Error{Var: "GUSTO_RATE_LIMIT", Reason: err.Error()}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = max(64, 2*cfg.Concurrency)
	client, err := gusto.New(gusto.Options{
		BaseURL:      cfg.Gusto.APIURL,
		ClientID:     cfg.Gusto.ClientID,
		ClientSecret: cfg.Gusto.ClientSecret.Reveal(),
		RedirectURI:  cfg.Gusto.RedirectURI,
		APIVersion:   cfg.Gusto.APIVersion,
		HTTPClient:   &http.Client{Timeout: cfg.Gusto.RequestTimeout, Transport: transport},
		Limiter:      limiter,
		Metrics:      metrics.Gusto,
		Logger:       log.With(slog.String("component", "gusto")),
		OnSkew: func(skew time.Duration) {
			if manager != nil {
				manager.ObserveSkew(skew)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	var budget tokens.RefreshBudget
	if cfg.Tokens.RefreshRate > 0 {
		b, err := refreshbudget.New(refreshbudget.Config{Redis: rdb, Rate: cfg.Tokens.RefreshRate})
		if err != nil {
			return nil, err
		}
		budget = b
	}
	manager, err = tokens.New(tokens.Config{
		Budget:       budget,
		Store:        store,
		Refresher:    client,
		Redis:        rdb,
		WorkerID:     cfg.ID,
		RefreshAhead: cfg.Tokens.RefreshAhead,
		Logger:       log.With(slog.String("component", "tokens")),
		Metrics:      tokenMetrics,
	})
	if err != nil {
		return nil, err
	}
	ownerKeys = tokens.NewOwnerKeys(store, manager, client, log.With(slog.String("component", "ratelimit")))
	checkpoints := checkpoint.NewStore(db, checkpoint.Options{Lease: cfg.Lease})
	handler, err := jobs.NewHandler(jobs.Config{
		API:                    client,
		Tokens:                 manager,
		Checkpoints:            checkpoints,
		Heartbeat:              cfg.Heartbeat,
		Reauth:                 manager,
		APIVersions:            apiversion.NewStore(db, 0),
		APIVersion:             cfg.Gusto.APIVersion,
		WorkerID:               cfg.ID,
		BatchSize:              cfg.BatchSize,
		IncrementalPayrollDays: cfg.IncrementalPayrollDays,
		EmployeeEvents:         employeeEvents(db, cfg),
		EmployeesMaxAge:        cfg.EmployeesMaxAge,
		RunTimeout:             cfg.TaskTimeout,
		// A request still in flight after half the shutdown timeout is
		// abandoned, leaving the other half to commit what was fetched.
		DrainGrace: cfg.ShutdownTimeout / 2,
		Logger:     log.With(slog.String("component", "sync")),
		Metrics:    syncMetrics,
		PageBudget: pageBudget,
	})
	if err != nil {
		return nil, err
	}

	level := asynq.WarnLevel
	if cfg.LogLevel == "debug" {
		level = asynq.InfoLevel
	}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   jobs.Queues,
		TaskCheckInterval:        taskCheckInterval,
		DelayedTaskCheckInterval: delayedCheckInterval,
		RetryDelayFunc:           jobs.RetryDelay,
		IsFailure:                jobs.IsFailure,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		Logger:                   jobs.AsynqLogger(log),
		LogLevel:                 level,
	})
	mux := asynq.NewServeMux()
	mux.Handle(jobs.TypeSyncCompany, handler)

	gate := migrate.NewGate(db)
	ready := &readiness{db: db, rdb: rdb, schema: gate}
	hs, err := serveHTTP(cfg.HTTPAddr, reg, ready, log)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = hs.Close() })
	// Every worker re-drives the runs of dead attempts (its own included,
	// after a restart), within a heartbeat of their lease running out.
	queue := asynq.NewClientFromRedisClient(rdb)
	redriver, err := redrive.New(redrive.Config{Store: checkpoints, Queue: queue, By: cfg.ID, Interval: cfg.Heartbeat,
		Logger: log.With(slog.String("component", "redrive")), Metrics: metrics.Redrive})
	if err != nil {
		return nil, err
	}
	w = &worker{log: log, handler: handler, srv: srv, http: hs, db: db, rdb: rdb, ready: ready, mux: mux, redriver: redriver,
		waited: make(chan struct{}), failed: make(chan error, 1)}
	// No task is taken on a schema older than this binary's: the worker
	// serves /readyz (not ready, naming both versions) and looks again
	// every schemaRecheck until the migrations have run.
	var behind *migrate.BehindError
	switch err := gate.Check(ctx); {
	case err == nil:
		w.stopWaiting = func() {}
		close(w.waited)
		if err := w.begin(); err != nil {
			return nil, err
		}
	case errors.As(err, &behind):
		wctx, stopWaiting := context.WithCancel(context.Background())
		w.stopWaiting = stopWaiting
		go func() {
			defer close(w.waited)
			if gate.Wait(wctx, schemaRecheck, log) != nil {
				return // stopping
			}
			if err := w.begin(); err != nil {
				w.failed <- err
			}
		}()
	default:
		return nil, err
	}
	log.Info("worker started", slog.Int("concurrency", cfg.Concurrency),
		slog.Int("batch_size", cfg.BatchSize), slog.Int("rate_limit", cfg.RateLimit), slog.Int64("page_bytes_budget", int64(cfg.PageBytesBudget)), slog.String("rate_limit_key", cfg.RateLimitKey),
		slog.String("gusto_api_version", cfg.Gusto.APIVersion), slog.String("http_addr", hs.Addr),
		slog.Bool("schema_current", behind == nil), slog.Int64("schema_version", migrate.Latest()))
	return w, nil
}

// begin starts taking tasks and re-driving dead runs: once, when the
// schema is current.
func (w *worker) begin() error {
	if err := w.srv.Start(w.mux); err != nil {
		return fmt.Errorf("asynq server: %w", err)
	}
	rctx, stopRedrive := context.WithCancel(context.Background())
	redriving := make(chan struct{})
	go func() {
		defer close(redriving)
		_ = w.redriver.Run(rctx)
	}()
	w.stopRedrive = func() { stopRedrive(); <-redriving }
	w.began = true
	return nil
}

// stop drains: running syncs commit what they fetched and stop, new tasks
// go back to the queue, asynq waits for the handlers (at most the shutdown
// timeout, after which it requeues what is still running), then the HTTP
// server and the pools close.
func (w *worker) stop() {
	w.ready.draining.Store(true)
	w.stopWaiting()
	<-w.waited
	if w.began {
		w.stopRedrive()
		w.handler.Drain()
		w.srv.Shutdown()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = w.http.Shutdown(ctx)
	_ = postgres.Close(w.db)
	_ = w.rdb.Close()
}

// serveHTTP listens on addr (so a bad or taken address fails start-up) and
// serves the probes and metrics.
func serveHTTP(addr string, reg *prometheus.Registry, ready *readiness, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /readyz", ready)
	mux.Handle("GET /metrics", telemetry.Handler(reg, log.With(slog.String("component", "metrics"))))
	hs := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", slog.String("error", err.Error()))
		}
	}()
	return hs, nil
}

// employeeEvents is what lets an incremental sync skip the employees on the
// word of Gusto's events (nil when SYNC_EMPLOYEES_MAX_AGE is 0).
func employeeEvents(db *gorm.DB, cfg config.Worker) jobs.EmployeeEvents {
	if cfg.EmployeesMaxAge == 0 {
		return nil
	}
	return gustoevents.NewEmployeeWatch(db, gustoevents.WatchOptions{FeedStale: cfg.EventsFeedStale})
}
