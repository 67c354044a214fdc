package config

import (
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The values of GUSTO_RATE_LIMIT_KEY.
const (
	RateLimitKeyGrant = "grant"
	RateLimitKeyOwner = "owner"
)

// Liveness is how a running sync attempt shows it is alive and how soon a
// dead one (kill -9, a frozen or cut-off worker) is re-driven. Workers and
// schedulers read it; every replica must agree on it.
type Liveness struct {
	// Heartbeat is how often a running attempt heartbeats its company's
	// fence in PostgreSQL, and how often each replica looks for silent ones.
	Heartbeat time.Duration `env:"SYNC_HEARTBEAT" envDefault:"2s"`
	// Lease is how long after its last heartbeat an attempt is presumed
	// alive: other runs of its company coalesce into it until then, and any
	// replica takes it over and re-drives its run after. At least twice
	// Heartbeat, so one late heartbeat is not taken for a death.
	Lease time.Duration `env:"SYNC_LEASE" envDefault:"6s"`
}

func (l *Liveness) validate() error {
	switch {
	case l.Heartbeat <= 0:
		return &Error{Var: "SYNC_HEARTBEAT", Reason: "must be positive"}
	case l.Lease < 2*l.Heartbeat:
		return &Error{Var: "SYNC_LEASE", Reason: "must be at least twice SYNC_HEARTBEAT"}
	}
	return nil
}

// Worker is the configuration of cmd/worker.
type Worker struct {
	Database
	Redis
	Gusto
	Tokens
	Liveness
	// Concurrency is how many sync tasks run at once.
	Concurrency int `env:"WORKER_CONCURRENCY" envDefault:"10"`
	// ID names this worker in sync_runs, token_refresh_events, the API
	// version record and logs. Default DefaultWorkerID() (applied by Parse:
	// the one place a worker id is defaulted; packages take it as given).
	ID string `env:"WORKER_ID"`
	// HTTPAddr serves /healthz, /readyz and /metrics.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8080"`
	// ShutdownTimeout bounds a graceful stop: the current batch commits inside it.
	ShutdownTimeout time.Duration `env:"WORKER_SHUTDOWN_TIMEOUT" envDefault:"25s"`
	// TaskTimeout bounds one sync run (long: multi-hour syncs are normal).
	TaskTimeout time.Duration `env:"SYNC_TASK_TIMEOUT" envDefault:"6h"`
	// BatchSize is how many records one checkpointed transaction holds.
	BatchSize int `env:"SYNC_BATCH_SIZE" envDefault:"500"`
	// IncrementalPayrollDays is how far back, by check date, an incremental
	// sync re-reads payrolls (a full reconciliation reads them all).
	IncrementalPayrollDays int `env:"SYNC_INCREMENTAL_PAYROLL_DAYS" envDefault:"90"`
	// EmployeesMaxAge bounds how old a company's last complete employees
	// read may be for an incremental sync to skip the employees on the word
	// of Gusto's events (package jobs, "Employees on Gusto's word"); 0 turns
	// the skipping off (every incremental sync reads every employee).
	EmployeesMaxAge time.Duration `env:"SYNC_EMPLOYEES_MAX_AGE" envDefault:"24h"`
	// EventsFeedStale: the events feed (run by the scheduler) vouches for
	// the employees only while its last complete poll began less than this
	// long ago.
	EventsFeedStale time.Duration `env:"SYNC_EVENTS_FEED_STALE" envDefault:"5m"`
	// RateLimit is the API requests per rate budget per 60 s window assumed
	// until Gusto's X-RateLimit-* headers say otherwise, and whenever they
	// are missing or absurd; every worker shares each budget through Redis.
	// Gusto documents 200 (https://docs.gusto.com/app-integrations/docs/rate-limits).
	RateLimit int `env:"GUSTO_RATE_LIMIT" envDefault:"200"`
	// RateLimitKey is what one budget of RateLimit covers: "grant" (each
	// company, Gusto's "per OAuth grant") or "owner" (every company whose
	// grant has the same resource owner, Gusto's older "per
	// user-application pair"). See docs/gusto-api.md.
	RateLimitKey string `env:"GUSTO_RATE_LIMIT_KEY" envDefault:"grant"`
	// PageBytesBudget bounds the bytes of Gusto pages this worker holds at
	// once across its concurrent syncs, from before a page is read until its
	// batch commits (internal/membudget; a page costs twice its body). A
	// page larger than the whole budget is read alone.
	PageBytesBudget ByteSize `env:"WORKER_PAGE_BYTES_BUDGET" envDefault:"64MiB"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
}

// Scheduler is the configuration of cmd/scheduler.
type Scheduler struct {
	Database
	Redis
	Liveness
	EventsFeed
	// Tick is how often the scheduler looks for companies that are due.
	Tick time.Duration `env:"SCHEDULER_TICK" envDefault:"30s"`
	// Interval is how often each company is synced.
	Interval time.Duration `env:"SYNC_INTERVAL" envDefault:"1h"`
	// Jitter spreads companies over this fraction of Interval (0 to 1).
	Jitter float64 `env:"SYNC_JITTER" envDefault:"0.1"`
	// FullEvery is how often each company gets a full reconciliation (the
	// only sync that marks rows deleted); its other syncs are incremental.
	FullEvery time.Duration `env:"SYNC_FULL_EVERY" envDefault:"168h"`
	// HTTPAddr serves /healthz and /metrics.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8081"`
	// AlertWebhookURL receives one signed JSON event per company entering
	// needs_reauth; empty disables alerts.
	AlertWebhookURL string `env:"ALERT_WEBHOOK_URL"`
	// AlertWebhookSecret signs alert bodies (HMAC-SHA256).
	AlertWebhookSecret Secret `env:"ALERT_WEBHOOK_SECRET"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// RetentionDays is how many days of finished sync runs, token refresh
	// events, handled Gusto events and delivered or dead alerts are kept
	// (package retention); 0 keeps everything.
	RetentionDays int `env:"RETENTION_DAYS" envDefault:"30"`
}

// Dashboard is the configuration of cmd/dashboard: asynqmon, the companies
// page and the OAuth onboarding flow.
type Dashboard struct {
	Database
	Redis
	Gusto
	Tokens
	// Addr is the listen address.
	Addr string `env:"DASHBOARD_ADDR" envDefault:"127.0.0.1:8082"`
	// PublicURL is the dashboard's external base URL (for OAuth redirects).
	PublicURL string `env:"DASHBOARD_PUBLIC_URL" envDefault:"http://127.0.0.1:8082"`
	// User and Password enable basic auth.
	User     string `env:"DASHBOARD_USER"`
	Password Secret `env:"DASHBOARD_PASSWORD"`
	// BearerToken enables bearer-token auth.
	BearerToken Secret `env:"DASHBOARD_BEARER_TOKEN"`
	// ReadOnly keeps asynqmon from changing queues.
	ReadOnly bool `env:"DASHBOARD_READ_ONLY" envDefault:"true"`
	// MetricsAddr serves /metrics (and /healthz), unauthenticated, apart
	// from the dashboard's own listener so Prometheus needs no credentials
	// and the public listener exposes no metrics.
	MetricsAddr string `env:"DASHBOARD_METRICS_ADDR" envDefault:"127.0.0.1:8083"`
	// PrometheusURL is the Prometheus server asynqmon's metrics charts
	// query (asynqmon's PrometheusAddress); empty hides the charts.
	PrometheusURL string `env:"DASHBOARD_PROMETHEUS_URL"`
	// StateKey signs the OAuth state parameter.
	StateKey Secret `env:"OAUTH_STATE_KEY,required,notEmpty"`
	// GustoEvents configures the webhook intake (POST /gusto/webhooks).
	GustoEvents
	// SyncInterval and SyncFullEvery are the scheduler's SYNC_INTERVAL and
	// SYNC_FULL_EVERY: the syncs the webhook intake enqueues are chosen
	// incremental or full as the scheduler would.
	SyncInterval  time.Duration `env:"SYNC_INTERVAL" envDefault:"1h"`
	SyncFullEvery time.Duration `env:"SYNC_FULL_EVERY" envDefault:"168h"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
}

// DefaultWorkerID is WORKER_ID's default: the host name and the process id,
// "host-pid", unique among the processes of a fleet.
func DefaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

func (w *Worker) validate() error {
	if w.ID == "" {
		w.ID = DefaultWorkerID()
	}
	switch {
	case w.Concurrency < 1:
		return &Error{Var: "WORKER_CONCURRENCY", Reason: "must be at least 1"}
	case w.ShutdownTimeout <= 0:
		return &Error{Var: "WORKER_SHUTDOWN_TIMEOUT", Reason: "must be positive"}
	case w.TaskTimeout <= 0:
		return &Error{Var: "SYNC_TASK_TIMEOUT", Reason: "must be positive"}
	case w.BatchSize < 1 || w.BatchSize > 10000:
		return &Error{Var: "SYNC_BATCH_SIZE", Reason: "must be between 1 and 10000"}
	case w.IncrementalPayrollDays < 1 || w.IncrementalPayrollDays > 3650:
		return &Error{Var: "SYNC_INCREMENTAL_PAYROLL_DAYS", Reason: "must be between 1 and 3650"}
	case w.EmployeesMaxAge < 0:
		return &Error{Var: "SYNC_EMPLOYEES_MAX_AGE", Reason: "must not be negative (0 turns skipping the employees off)"}
	case w.EventsFeedStale <= 0:
		return &Error{Var: "SYNC_EVENTS_FEED_STALE", Reason: "must be positive"}
	case w.PageBytesBudget < 1<<20:
		return &Error{Var: "WORKER_PAGE_BYTES_BUDGET", Reason: "must be at least 1MiB"}
	case w.RateLimit < 1:
		return &Error{Var: "GUSTO_RATE_LIMIT", Reason: "must be at least 1"}
	case w.RateLimitKey != RateLimitKeyGrant && w.RateLimitKey != RateLimitKeyOwner:
		return &Error{Var: "GUSTO_RATE_LIMIT_KEY", Reason: "want grant or owner"}
	}
	if err := checkAddr("HTTP_ADDR", w.HTTPAddr); err != nil {
		return err
	}
	return checkLevel(w.LogLevel)
}

func (s *Scheduler) validate() error {
	switch {
	case s.Tick <= 0:
		return &Error{Var: "SCHEDULER_TICK", Reason: "must be positive"}
	case s.Interval <= 0:
		return &Error{Var: "SYNC_INTERVAL", Reason: "must be positive"}
	case s.Jitter < 0 || s.Jitter > 1:
		return &Error{Var: "SYNC_JITTER", Reason: "must be between 0 and 1"}
	case s.FullEvery <= 0:
		return &Error{Var: "SYNC_FULL_EVERY", Reason: "must be positive"}
	case s.RetentionDays < 0 || s.RetentionDays > 36500:
		return &Error{Var: "RETENTION_DAYS", Reason: "must be between 0 (keep everything) and 36500"}
	}
	if s.AlertWebhookURL != "" {
		if u, err := url.Parse(s.AlertWebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &Error{Var: "ALERT_WEBHOOK_URL", Reason: "want an http:// or https:// URL"}
		}
		if s.AlertWebhookSecret == "" {
			return &Error{Var: "ALERT_WEBHOOK_SECRET", Reason: "required when ALERT_WEBHOOK_URL is set"}
		}
	}
	if err := checkAddr("HTTP_ADDR", s.HTTPAddr); err != nil {
		return err
	}
	return checkLevel(s.LogLevel)
}

func (d *Dashboard) validate() error {
	if err := checkAddr("DASHBOARD_ADDR", d.Addr); err != nil {
		return err
	}
	if u, err := url.Parse(d.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &Error{Var: "DASHBOARD_PUBLIC_URL", Reason: "want an http:// or https:// URL"}
	}
	if (d.User == "") != (d.Password == "") {
		return &Error{Var: "DASHBOARD_PASSWORD", Reason: "DASHBOARD_USER and DASHBOARD_PASSWORD go together"}
	}
	if d.User == "" && d.BearerToken == "" {
		return &Error{Var: "DASHBOARD_USER", Reason: "set DASHBOARD_USER/DASHBOARD_PASSWORD or DASHBOARD_BEARER_TOKEN: nothing is served without authentication"}
	}
	if d.Password != "" {
		if reason := WeakPassword(string(d.Password), d.User); reason != "" {
			return &Error{Var: "DASHBOARD_PASSWORD", Reason: reason}
		}
	}
	if len(d.StateKey) < 16 {
		return &Error{Var: "OAUTH_STATE_KEY", Reason: "must be at least 16 characters"}
	}
	return checkLevel(d.LogLevel)
}

// Minimum strength of DASHBOARD_PASSWORD (see WeakPassword).
const (
	// MinPasswordLength is the fewest characters DASHBOARD_PASSWORD may have.
	MinPasswordLength = 16
	// MinPasswordDistinct is the fewest different characters it may have.
	MinPasswordDistinct = 8
)

// WeakPassword returns why password is too weak to guard the dashboard
// (basic auth on every request, so an online guess costs nothing but a
// request), or "" when it is strong enough: at least MinPasswordLength
// characters, at least MinPasswordDistinct of them different, and not
// containing the user name. The reason never quotes the password.
func WeakPassword(password, user string) string {
	const advice = " (generate one: openssl rand -base64 24)"
	distinct := map[rune]bool{}
	n := 0
	for _, r := range password {
		distinct[r] = true
		n++
	}
	switch {
	case n < MinPasswordLength:
		return "too short: " + strconv.Itoa(n) + " characters, at least " + strconv.Itoa(MinPasswordLength) + " needed" + advice
	case len(distinct) < MinPasswordDistinct:
		return "too little variety: " + strconv.Itoa(len(distinct)) + " different characters, at least " + strconv.Itoa(MinPasswordDistinct) + " needed" + advice
	case user != "" && strings.Contains(strings.ToLower(password), strings.ToLower(user)):
		return "must not contain DASHBOARD_USER" + advice
	}
	return ""
}

func checkAddr(name, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return &Error{Var: name, Reason: "want host:port or :port"}
	}
	return nil
}

func checkLevel(level string) error {
	switch level {
	case "debug", "info", "warn", "error":
		return nil
	}
	return &Error{Var: "LOG_LEVEL", Reason: "want debug, info, warn or error"}
}
