package telemetry

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/buildinfo"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/membudget"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/redrive"
	"github.com/gustosync/gustosync/internal/scheduler"
	"github.com/gustosync/gustosync/internal/tokens"
)

// NewRegistry returns a registry (never the global one) holding the
// metrics every binary exports: the Go runtime's, the process's and
// gustosync_build_info.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Collector())
	return reg
}

// Handler serves reg at /metrics. A collector that fails is logged and
// left out while every other metric is served with 200: a scrape never
// fails whole (the collectors that read PostgreSQL report their own state
// as gustosync_collector_up, package collectorup).
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg,
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      errorLog{log},
		// No Timeout: promhttp answers 503 past it. Each collector that
		// reads an outside system bounds its own read (collectorup: 5 s).
	})
}

// errorLog adapts slog for promhttp.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Println(v ...any) {
	e.l.Warn("metrics scrape", slog.String("error", fmt.Sprint(v...)))
}

// dbStats registers the pool statistics of db (go_sql_* with
// db_name="gustosync"); a nil db registers nothing.
func dbStats(reg prometheus.Registerer, db *gorm.DB) error {
	if db == nil {
		return nil
	}
	c, err := postgres.StatsCollector(db, "gustosync")
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	return reg.Register(c)
}

// WorkerSources are what the worker's collectors read at scrape time.
type WorkerSources struct {
	// DB is the worker's pool: its statistics, and (through Tokens)
	// companies by status. Required.
	DB *gorm.DB
	// Tokens is read for gustosync_token_companies{status}. Required.
	Tokens *tokens.Store
	// Queues is read for asynq's queue metrics. Required.
	Queues *asynq.Inspector
	// PageBudget and Heap are the page-bytes budget and heap sampler
	// (package membudget). Required.
	PageBudget *membudget.Budget
	Heap       *membudget.HeapPeak
}

// Worker holds the worker's metrics, for the packages that record them.
type Worker struct {
	Tokens  *tokens.Metrics
	Sync    *jobs.Metrics
	Gusto   *gusto.Metrics
	Redrive *redrive.Metrics
}

// RegisterWorker registers every metric of the worker on reg.
func RegisterWorker(reg prometheus.Registerer, s WorkerSources) (*Worker, error) {
	if s.DB == nil || s.Tokens == nil || s.Queues == nil || s.PageBudget == nil || s.Heap == nil {
		return nil, errors.New("telemetry: worker: DB, Tokens, Queues, PageBudget and Heap are required")
	}
	var (
		w   Worker
		err error
	)
	if w.Tokens, err = tokens.NewMetrics(reg, s.Tokens); err != nil {
		return nil, err
	}
	if w.Sync, err = jobs.NewMetrics(reg, s.Queues); err != nil {
		return nil, err
	}
	if w.Gusto, err = gusto.NewMetrics(reg); err != nil {
		return nil, err
	}
	if w.Redrive, err = redrive.NewMetrics(reg); err != nil {
		return nil, err
	}
	if err := membudget.Register(reg, s.PageBudget, s.Heap); err != nil {
		return nil, err
	}
	if err := dbStats(reg, s.DB); err != nil {
		return nil, err
	}
	return &w, nil
}

// SchedulerSources are what the scheduler's collectors read at scrape time.
type SchedulerSources struct {
	// DB is the scheduler's pool (its statistics) and the companies
	// directory's, for the freshness indicators. Required.
	DB *gorm.DB
	// Interval is SYNC_INTERVAL, for companies without their own.
	Interval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Scheduler holds the scheduler's metrics.
type Scheduler struct {
	Scheduler *scheduler.Metrics
	Redrive   *redrive.Metrics
	Events    *gustoevents.Metrics
	Gusto     *gusto.Metrics
}

// RegisterScheduler registers every metric of the scheduler on reg.
func RegisterScheduler(reg prometheus.Registerer, s SchedulerSources) (*Scheduler, error) {
	if s.DB == nil || s.Interval <= 0 {
		return nil, errors.New("telemetry: scheduler: DB and a positive Interval are required")
	}
	var (
		m   Scheduler
		err error
	)
	if m.Scheduler, err = scheduler.NewMetrics(reg); err != nil {
		return nil, err
	}
	if m.Redrive, err = redrive.NewMetrics(reg); err != nil {
		return nil, err
	}
	if m.Events, err = gustoevents.NewMetrics(reg); err != nil {
		return nil, err
	}
	if m.Gusto, err = gusto.NewMetrics(reg); err != nil {
		return nil, err
	}
	if err := reg.Register(scheduler.NewFreshnessCollector(companies.New(s.DB), s.Interval, s.Now)); err != nil {
		return nil, err
	}
	if err := dbStats(reg, s.DB); err != nil {
		return nil, err
	}
	return &m, nil
}

// DashboardSources are what the dashboard's collectors read.
type DashboardSources struct {
	// DB is the dashboard's pool (its statistics). Required.
	DB *gorm.DB
}

// Dashboard holds the dashboard's metrics: the webhook intake's events
// (gustosync_gusto_events_total{source="webhook"}) and its Gusto client's
// requests (OAuth code exchanges).
type Dashboard struct {
	Events *gustoevents.Metrics
	Gusto  *gusto.Metrics
}

// RegisterDashboard registers every metric of the dashboard on reg.
func RegisterDashboard(reg prometheus.Registerer, s DashboardSources) (*Dashboard, error) {
	if s.DB == nil {
		return nil, errors.New("telemetry: dashboard: DB is required")
	}
	var (
		m   Dashboard
		err error
	)
	if m.Events, err = gustoevents.NewMetrics(reg); err != nil {
		return nil, err
	}
	if m.Gusto, err = gusto.NewMetrics(reg); err != nil {
		return nil, err
	}
	if err := dbStats(reg, s.DB); err != nil {
		return nil, err
	}
	return &m, nil
}
