package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/backoff"
	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/membudget"
)

// API is what a sync needs from Gusto. *gusto.Client implements it: it
// waits on its Limiter and asks the TokenSource before every request, and
// retries once after a 401 through the source's Invalidate.
type API interface {
	Company(ctx context.Context, src gusto.TokenSource, companyUUID string) (gusto.Company, error)
	Employees(ctx context.Context, src gusto.TokenSource, companyUUID string, o gusto.PageOptions) iter.Seq2[gusto.Page[gusto.Employee], error]
	Payrolls(ctx context.Context, src gusto.TokenSource, companyUUID string, o gusto.PayrollOptions) iter.Seq2[gusto.Page[gusto.Payroll], error]
	// List reads a collection whose items a descriptor decodes itself
	// (ListRows).
	List(ctx context.Context, src gusto.TokenSource, companyUUID string, r gusto.ListRequest) iter.Seq2[gusto.Page[json.RawMessage], error]
}

// APIVersionRecorder records Gusto refusing the API version (406), a
// fleet-wide configuration error, and clears it once a sync with that
// version succeeds. *apiversion.Store implements it.
type APIVersionRecorder interface {
	Rejected(ctx context.Context, version, message, worker string) error
	Accepted(ctx context.Context, version string) error
}

// Reauthorizer settles what a refused data call means. *tokens.Manager
// implements it.
type Reauthorizer interface {
	// VerifyGrant asks the token endpoint whether company's grant is alive
	// after Gusto refused a data call: *tokens.ReauthRequiredError when
	// it refused the grant (the company is then marked needs_reauth, once,
	// version-guarded), nil when the grant refreshed, another error when
	// the question could not be asked (transient).
	VerifyGrant(ctx context.Context, company string) error
	// MarkMissingScope marks a company whose grant lacks a scope (not a
	// revocation), naming the scopes when Gusto did.
	MarkMissingScope(ctx context.Context, company string, scopes []string, cause string) (bool, error)
}

// EmployeeEvents says whether Gusto's events vouch that a company's
// employees are unchanged since a time on PostgreSQL's clock.
// *gustoevents.EmployeeWatch implements it.
type EmployeeEvents interface {
	// EmployeesQuiet reports true when they vouch for it, and why not
	// otherwise; an error means the question could not be asked.
	EmployeesQuiet(ctx context.Context, company string, since time.Time) (quiet bool, why string, err error)
}

// Defaults applied by NewHandler to zero Config fields.
const (
	DefaultBatchSize = 500
	// DefaultPayrollHistory is how far back payrolls are walked.
	DefaultPayrollHistory = 6 // years
	// DefaultPageAttempts is how many times one request is tried inside an
	// attempt before the task goes back to asynq.
	DefaultPageAttempts = 6
	// DefaultMaxInlineWait is the longest Retry-After waited inside an
	// attempt; a longer one hands the task back to asynq with that delay.
	DefaultMaxInlineWait = 2 * time.Minute
	// DefaultEmployeesMaxAge is Config.EmployeesMaxAge's default.
	DefaultEmployeesMaxAge = 24 * time.Hour
	// DefaultDrainGrace is Config.DrainGrace's default.
	DefaultDrainGrace = 5 * time.Second
	// APIVersionRetryDelay is how long a task waits after Gusto refused the
	// API version (406), jittered by up to a fifth: long, because only an
	// operator's configuration change fixes it, and the attempt does not
	// count against the task's retries, so the fleet resumes by itself
	// once the version is fixed.
	APIVersionRetryDelay = 5 * time.Minute
)

// Config configures a Handler. Required fields are marked; the zero value
// of every other field has a documented default. NewHandler validates it once.
type Config struct {
	// API is the Gusto client. Required.
	API API
	// Tokens supplies access tokens (the token manager). Required.
	Tokens gusto.TokenSource
	// Checkpoints claims runs and commits batches. Required; it must know
	// the table of every selected resource.
	Checkpoints *checkpoint.Store
	// Resources are what a sync walks, in order, and whether each is
	// optional (SYNC_RESOURCES, ParseSelection). Default DefaultSelection().
	Resources []Selection
	// Reauth asks the token endpoint about a grant after Gusto refused a
	// data call (VerifyGrant), and marks missing scopes. Required.
	Reauth Reauthorizer
	// APIVersions records 406 answers and clears them after a success;
	// nil records nothing (the attempt still backs off).
	APIVersions APIVersionRecorder
	// APIVersion is the X-Gusto-API-Version the client sends, cleared in
	// APIVersions after a successful sync.
	APIVersion string
	// WorkerID names this process in sync_runs, audit rows and logs.
	// Required: the binary's configuration defaults it (config.Worker.ID).
	WorkerID string
	// BatchSize is how many records one checkpointed transaction holds, at
	// least (batches end on page boundaries). Default DefaultBatchSize.
	BatchSize int
	// PageSize is Gusto's per. Default min(BatchSize, gusto.DefaultPer), so
	// that with the defaults a batch is exactly five pages.
	PageSize int
	// RunTimeout bounds one attempt (SYNC_TASK_TIMEOUT); zero leaves only
	// the task's asynq deadline.
	RunTimeout time.Duration
	// PayrollHistory is how many years of payrolls are walked, in windows of
	// a year (Gusto's maximum). Default DefaultPayrollHistory.
	PayrollHistory int
	// IncrementalPayrollDays is how far back an incremental run re-reads
	// payrolls, by check date (SYNC_INCREMENTAL_PAYROLL_DAYS). Default
	// DefaultIncrementalPayrollDays.
	IncrementalPayrollDays int
	// EmployeeEvents, when set, lets an incremental run skip the employees
	// walk on the word of Gusto's events (*gustoevents.EmployeeWatch; see
	// the package comment, "Employees on Gusto's word"). Nil: every run
	// reads every employee.
	EmployeeEvents EmployeeEvents
	// EmployeesMaxAge bounds how old a company's last complete employees
	// read may be for an incremental run to skip the employees walk
	// (SYNC_EMPLOYEES_MAX_AGE): the safety net for changes Gusto sends no
	// event for. Default DefaultEmployeesMaxAge.
	EmployeesMaxAge time.Duration
	// PageAttempts is how many times a request failing transiently (429,
	// 5xx, transport) is tried inside an attempt. Default
	// DefaultPageAttempts.
	PageAttempts int
	// PageBackoff is the wait between those tries when Gusto sent no
	// Retry-After (see backoff.Policy). Default Base 500 ms, Max 10 s.
	PageBackoff backoff.Policy
	// MaxInlineWait is the longest Retry-After waited inside an attempt.
	// Default DefaultMaxInlineWait.
	MaxInlineWait time.Duration
	// Heartbeat is how often a running attempt tells other runs it is alive
	// and learns whether it was fenced. Default a quarter of the
	// checkpoint store's lease.
	Heartbeat time.Duration
	// DrainGrace is how long after Drain a request still in flight may take
	// to answer; then it is abandoned, the pages already fetched are
	// committed, and the attempt stops. Keep it well inside the worker's
	// shutdown timeout. Default DefaultDrainGrace.
	DrainGrace time.Duration
	// Logger receives JSON-friendly structured logs with company, run and
	// batch; never a token. Default: discard.
	Logger *slog.Logger
	// Metrics, when set, receives the sync metrics (NewMetrics).
	Metrics *Metrics
	// PageBudget, when set, bounds the page bytes all attempts of this
	// worker hold at once (WORKER_PAGE_BYTES_BUDGET): each attempt's pages
	// are reserved by the Gusto client before they are read and released
	// when their batch commits or the attempt ends. Nil: unbounded.
	PageBudget *membudget.Budget
	// Now is the clock (durations, lag, payroll windows). Default time.Now.
	Now func() time.Time
	// Hooks are for tests only.
	Hooks Hooks
}

// Hooks let tests stop an attempt where zombies and crashes matter.
type Hooks struct {
	// BeforeCommit runs before each batch commit, from the sync goroutine,
	// with the attempt's epoch and the batch's number within the attempt.
	BeforeCommit func(ctx context.Context, run string, epoch int64, resource checkpoint.Resource, batch int)
}

// Handler processes sync:company tasks. It is safe for concurrent use: each
// task runs in its own goroutine with its own state.
type Handler struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	drainOnce sync.Once
	drainCh   chan struct{} // closed by Drain
}

// NewHandler validates cfg, applies defaults and returns a Handler.
func NewHandler(cfg Config) (*Handler, error) {
	switch {
	case cfg.API == nil:
		return nil, errors.New("jobs: config: API is required")
	case cfg.Tokens == nil:
		return nil, errors.New("jobs: config: Tokens is required")
	case cfg.Checkpoints == nil:
		return nil, errors.New("jobs: config: Checkpoints is required")
	case cfg.Reauth == nil:
		return nil, errors.New("jobs: config: Reauth is required")
	case cfg.WorkerID == "":
		return nil, errors.New("jobs: config: WorkerID is required")
	case cfg.BatchSize < 0 || cfg.PageSize < 0 || cfg.RunTimeout < 0 || cfg.PayrollHistory < 0 || cfg.IncrementalPayrollDays < 0 ||
		cfg.PageAttempts < 0 || cfg.MaxInlineWait < 0 || cfg.Heartbeat < 0 || cfg.EmployeesMaxAge < 0 ||
		cfg.DrainGrace < 0:
		return nil, errors.New("jobs: config: sizes and durations must not be negative")
	}
	if cfg.Resources == nil {
		cfg.Resources = DefaultSelection()
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = min(cfg.BatchSize, gusto.DefaultPer)
	}
	if cfg.PayrollHistory == 0 {
		cfg.PayrollHistory = DefaultPayrollHistory
	}
	if cfg.IncrementalPayrollDays == 0 {
		cfg.IncrementalPayrollDays = DefaultIncrementalPayrollDays
	}
	if cfg.EmployeesMaxAge == 0 {
		cfg.EmployeesMaxAge = DefaultEmployeesMaxAge
	}
	if cfg.PageAttempts == 0 {
		cfg.PageAttempts = DefaultPageAttempts
	}
	if cfg.PageBackoff.Base == 0 {
		cfg.PageBackoff.Base = 500 * time.Millisecond
	}
	if cfg.PageBackoff.Max == 0 {
		cfg.PageBackoff.Max = 10 * time.Second
	}
	if err := cfg.PageBackoff.Validate(); err != nil {
		return nil, fmt.Errorf("jobs: config: PageBackoff: %w", err)
	}
	if cfg.MaxInlineWait == 0 {
		cfg.MaxInlineWait = DefaultMaxInlineWait
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = cfg.Checkpoints.Lease() / 4
	}
	if cfg.DrainGrace == 0 {
		cfg.DrainGrace = DefaultDrainGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, log: cfg.Logger, now: cfg.Now, drainCh: make(chan struct{})}, nil
}

// Drain asks every running sync to stop at the next page boundary after
// committing what it has fetched (its batch and checkpoint), abandoning a
// request that has not answered within DrainGrace, and every new task to go
// back to the queue at once. Call it when SIGTERM arrives, before
// asynq's Shutdown, so that the commits land inside the shutdown timeout.
// Drain is idempotent.
func (h *Handler) Drain() {
	h.drainOnce.Do(func() { close(h.drainCh) })
}

// draining reports whether Drain was called.
func (h *Handler) draining() bool {
	select {
	case <-h.drainCh:
		return true
	default:
		return false
	}
}

// errDraining stops an attempt because the worker is shutting down.
var errDraining = errors.New("jobs: worker shutting down; the run resumes from its checkpoint")

// ProcessTask runs one attempt of a sync:company task; see the package
// comment for how its errors map to asynq.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	started := h.now()
	p, err := ParsePayload(t.Payload())
	if err != nil {
		taskID, _ := asynq.GetTaskID(ctx)
		h.log.LogAttrs(ctx, slog.LevelError, "malformed sync task archived", slog.String("task_id", taskID), slog.String("error", err.Error()))
		h.cfg.Metrics.attempt("malformed", 0)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	log := h.log.With(slog.String("company", p.CompanyUUID), slog.String("run", p.RunID))
	if h.draining() {
		h.cfg.Metrics.attempt("drained", 0)
		return &RetryError{Err: errDraining, Delay: time.Second}
	}
	if h.cfg.RunTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.RunTimeout)
		defer cancel()
	}
	a, err := h.cfg.Checkpoints.Claim(ctx, p.RunID, p.CompanyUUID, h.cfg.WorkerID, p.Kind)
	if err != nil {
		return h.claimFailed(ctx, log, err, started)
	}
	log = log.With(slog.Int64("epoch", a.Epoch), slog.Int("attempt", a.Number))
	log.LogAttrs(ctx, slog.LevelInfo, "sync attempt started", slog.Bool("resumed", a.Resumed()))
	s := &syncRun{h: h, a: a, log: log, tracker: h.cfg.Metrics.start(started), requested: p.Kind}
	defer h.cfg.Metrics.stop(s.tracker)
	if h.cfg.PageBudget != nil {
		hold := h.cfg.PageBudget.Holder()
		defer hold.Release() // whatever the attempt still holds is dropped with it
		ctx = membudget.WithHolder(ctx, hold)
	}
	err = s.runWithHeartbeat(ctx)
	return h.outcome(ctx, s, err, started)
}
