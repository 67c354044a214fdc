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
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/buildinfo"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/dashboard"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/scheduler"
	"github.com/gustosync/gustosync/internal/telemetry"
	"github.com/gustosync/gustosync/internal/tokens"
)

const usageText = `Usage: dashboard

Serves asynqmon at /monitoring/, the companies list at /companies (paged,
searchable), a page per company at /companies/UUID and the OAuth onboarding flow (/connect, callback at the path of GUSTO_REDIRECT_URI).
Nothing is served without authentication, except Gusto's webhook deliveries
at POST /gusto/webhooks, which must carry Gusto's signature, and /readyz
(503 while the database schema is older than this binary).

Environment:
  DASHBOARD_ADDR            listen address (127.0.0.1:8082)
  DASHBOARD_PUBLIC_URL      external base URL (http://127.0.0.1:8082)
  DASHBOARD_USER, DASHBOARD_PASSWORD   basic auth (password: 16+ characters,
                            8+ different, not containing the user)
  DASHBOARD_BEARER_TOKEN    bearer auth (either or both; one is required)
  DASHBOARD_READ_ONLY       keep asynqmon read-only (true)
  DASHBOARD_METRICS_ADDR    unauthenticated /metrics and /healthz for Prometheus (127.0.0.1:8083)
  DASHBOARD_PROMETHEUS_URL  Prometheus server for asynqmon's metrics charts (none)
  OAUTH_STATE_KEY           signs the OAuth state (required, 16+ characters)
  DATABASE_URL, REDIS_URL, TOKEN_ENCRYPTION_KEYS,
  GUSTO_API_URL, GUSTO_CLIENT_ID, GUSTO_CLIENT_SECRET, GUSTO_REDIRECT_URI, LOG_LEVEL
  GUSTO_EVENTS_SYNC_DEBOUNCE  least time between event-driven syncs of a company (5m)
  SYNC_INTERVAL, SYNC_FULL_EVERY  as the scheduler's, for those syncs
dashboard --version prints the version, commit and build date.
Exit status: 0 success, 1 failure, 2 bad configuration.
`

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, config.Environ(), nil)
	stop()
	os.Exit(code)
}

// run is the whole program; ready, when set, receives the listen address
// once the server accepts connections.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, vars map[string]string, ready chan<- string) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, usageText)
			return exitOK
		}
		if buildinfo.IsVersionFlag(args[0]) {
			fmt.Fprint(stdout, buildinfo.Line("dashboard"))
			return exitOK
		}
		fmt.Fprintf(stderr, "dashboard: unknown argument %q (see dashboard --help)\n", args[0])
		return exitUsage
	}
	err := serve(ctx, stderr, vars, ready)
	if err == nil {
		return exitOK
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintf(stderr, "dashboard: %v\n", ce)
		return exitUsage
	}
	fmt.Fprintf(stderr, "dashboard: %s\n", strings.Join(strings.Fields(err.Error()), " "))
	return exitFailure
}

func serve(ctx context.Context, stderr io.Writer, vars map[string]string, ready chan<- string) error {
	var cfg config.Dashboard
	if err := config.ParseFrom(&cfg, vars); err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	callback, err := dashboard.CallbackPathOf(cfg.RedirectURI)
	if err != nil {
		return &config.Error{Var: "GUSTO_REDIRECT_URI", Reason: "want an absolute URL with a path, e.g. https://ops.example.com/oauth/callback"}
	}
	if !strings.HasPrefix(cfg.RedirectURI, strings.TrimRight(cfg.PublicURL, "/")+"/") {
		log.Warn("GUSTO_REDIRECT_URI is not under DASHBOARD_PUBLIC_URL: Gusto will send browsers elsewhere after consent")
	}
	ring, err := tokens.NewKeyring(cfg.EncryptionKeys)
	if err != nil {
		return &config.Error{Var: "TOKEN_ENCRYPTION_KEYS", Reason: err.Error()}
	}
	redisOpt, err := cfg.Redis.ConnOpt()
	if err != nil {
		return err
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = 4
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := postgres.Open(openCtx, cfg.Database.URL, maxConns, postgres.WithLogger(log))
	if err != nil {
		return err
	}
	defer func() { _ = postgres.Close(db) }()

	reg := telemetry.NewRegistry()
	metrics, err := telemetry.RegisterDashboard(reg, telemetry.DashboardSources{DB: db})
	if err != nil {
		return err
	}
	metricsLn, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on DASHBOARD_METRICS_ADDR: %w", err)
	}
	metricsMux := http.NewServeMux()
	metricsMux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	metricsMux.Handle("GET /metrics", telemetry.Handler(reg, log.With("component", "metrics")))
	metricsSrv := &http.Server{Handler: metricsMux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = metricsSrv.Serve(metricsLn) }()
	defer func() { _ = metricsSrv.Close() }()

	client, err := gusto.New(gusto.Options{
		BaseURL:      cfg.APIURL,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret.Reveal(),
		RedirectURI:  cfg.RedirectURI,
		APIVersion:   cfg.APIVersion,
		HTTPClient:   &http.Client{Timeout: cfg.RequestTimeout},
		Logger:       log,
		Metrics:      metrics.Gusto,
	})
	if err != nil {
		return err
	}

	intake, closeIntake, err := webhookIntake(db, redisOpt, cfg, log, metrics.Events)
	if err != nil {
		return err
	}
	defer closeIntake()

	app, err := dashboard.New(dashboard.Config{
		Credentials: dashboard.Credentials{
			User: cfg.User, Password: cfg.Password.Reveal(), BearerToken: cfg.BearerToken.Reveal(),
		},
		Companies:     companies.New(db),
		APIVersions:   apiversion.NewStore(db, 0),
		Redis:         redisOpt,
		ReadOnly:      cfg.ReadOnly,
		PrometheusURL: cfg.PrometheusURL,
		OAuth:         client,
		Tokens:        tokens.NewStore(db, ring),
		StateKey:      []byte(cfg.StateKey.Reveal()),
		CallbackPath:  callback,
		SecureCookies: strings.HasPrefix(cfg.PublicURL, "https://"),
		Logger:        log,
		Webhooks:      intake,
	})
	if err != nil {
		return err
	}
	defer func() { _ = app.Close() }()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on DASHBOARD_ADDR: %w", err)
	}
	// /readyz answers without authentication (the kubelet has none): ready
	// once the schema holds every migration this binary embeds, else 503
	// naming both versions. Everything else is the app.
	root := http.NewServeMux()
	root.Handle("GET /readyz", migrate.NewGate(db))
	root.Handle("/", app)
	srv := &http.Server{
		Handler:           root,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("dashboard listening", "addr", ln.Addr().String(), "read_only", cfg.ReadOnly,
		"metrics", metricsLn.Addr().String(), "basic_auth", cfg.User != "", "bearer_auth", cfg.BearerToken != "", "callback", callback)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("dashboard stopped")
	return nil
}

// webhookIntake builds the Gusto webhook intake: events acted on once
// (package gustoevents), revocations through the tokens store, data events
// as syncs enqueued through the scheduler's EnqueueCompany.
func webhookIntake(db *gorm.DB, redisOpt asynq.RedisConnOpt, cfg config.Dashboard, log *slog.Logger, metrics *gustoevents.Metrics) (http.Handler, func(), error) {
	client := asynq.NewClient(redisOpt)
	sched, err := scheduler.New(db, client, scheduler.Config{Interval: cfg.SyncInterval, FullEvery: cfg.SyncFullEvery, Logger: log})
	if err != nil {
		_ = client.Close()
		return nil, nil, err
	}
	ring, err := tokens.NewKeyring(cfg.EncryptionKeys)
	if err != nil {
		_ = client.Close()
		return nil, nil, &config.Error{Var: "TOKEN_ENCRYPTION_KEYS", Reason: err.Error()}
	}
	store := gustoevents.NewStore(db, ring)
	h, err := gustoevents.NewHandler(gustoevents.Config{Store: store, Revoker: tokens.NewStore(db, ring),
		Sync: gustoevents.SchedulerSync(sched), Known: gustoevents.DirectoryKnown(companies.New(db)), SyncDebounce: cfg.SyncDebounce, By: "dashboard-" + config.DefaultWorkerID(),
		Logger: log.With("component", "webhooks"), Metrics: metrics})
	if err != nil {
		_ = client.Close()
		return nil, nil, err
	}
	in, err := gustoevents.NewIntake(gustoevents.IntakeConfig{Handler: h, Store: store, Logger: log.With("component", "webhooks")})
	if err != nil {
		_ = client.Close()
		return nil, nil, err
	}
	return in, func() { _ = client.Close() }, nil
}
