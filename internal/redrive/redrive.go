package redrive

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/jobs"
)

// TakeOverer fences dead attempts and returns their runs.
// *checkpoint.Store implements it.
type TakeOverer interface {
	TakeOver(ctx context.Context, by string, limit int) ([]checkpoint.TakenOver, error)
}

// Enqueuer puts tasks on the queue. *asynq.Client implements it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Defaults applied by New to zero Config fields.
const (
	// DefaultInterval is how often a Redriver looks for dead attempts.
	DefaultInterval = 2 * time.Second
	// DefaultLimit is how many runs one pass takes over at most.
	DefaultLimit = 100
)

// Config configures a Redriver. Required fields are marked.
type Config struct {
	// Store takes dead attempts over. Required.
	Store TakeOverer
	// Queue receives the re-driving tasks. Required.
	Queue Enqueuer
	// By names this replica in the taken-over runs' reason. Required.
	By string
	// Interval is how often Run looks; the configuration sets it to
	// SYNC_HEARTBEAT, so a dead attempt is re-driven at most a heartbeat
	// after its lease ran out. Default DefaultInterval.
	Interval time.Duration
	// Limit bounds the runs one pass takes over (the rest wait for the next
	// pass, or another replica). Default DefaultLimit.
	Limit int
	// Logger receives one line per run re-driven, and errors. Default: discard.
	Logger *slog.Logger
	// Metrics, when set, counts the takeovers (NewMetrics).
	Metrics *Metrics
}

// Redriver re-drives the runs of dead attempts. It is safe for concurrent
// use; any number of Redrivers may run over one database and queue.
type Redriver struct {
	cfg Config
}

// New validates cfg, applies defaults and returns a Redriver.
func New(cfg Config) (*Redriver, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("redrive: config: Store is required")
	case cfg.Queue == nil:
		return nil, errors.New("redrive: config: Queue is required")
	case cfg.By == "":
		return nil, errors.New("redrive: config: By is required")
	case cfg.Interval < 0 || cfg.Limit < 0:
		return nil, errors.New("redrive: config: Interval and Limit must not be negative")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Limit == 0 {
		cfg.Limit = DefaultLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Redriver{cfg: cfg}, nil
}

// Run looks for dead attempts every Interval until ctx ends, then returns
// nil. A failed pass is logged and the next one tries again.
func (r *Redriver) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "looking for dead sync attempts failed", slog.String("error", err.Error()))
		}
	}
}

// Once takes over the dead attempts it finds (up to Limit) and enqueues a
// task re-driving each run; it returns how many were enqueued. A run whose
// enqueue fails stays pending: its original task's recovery by asynq
// resumes it (see the package comment); the error says which.
func (r *Redriver) Once(ctx context.Context) (int, error) {
	taken, err := r.cfg.Store.TakeOver(ctx, r.cfg.By, r.cfg.Limit)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, t := range taken {
		log := r.cfg.Logger.With(slog.String("company", t.Company), slog.String("run", t.RunID), slog.Int64("epoch", t.Epoch))
		task, err := jobs.RedriveTask(t.Company, t.RunID, t.Epoch)
		if err == nil {
			_, err = r.cfg.Queue.EnqueueContext(ctx, task)
		}
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			log.LogAttrs(ctx, slog.LevelError, "re-driving a run taken over failed; asynq's recovery of its task will resume it",
				slog.String("error", err.Error()))
			errs = append(errs, err)
			r.cfg.Metrics.tookOver("error")
			continue
		}
		n++
		r.cfg.Metrics.tookOver("redriven")
		log.LogAttrs(ctx, slog.LevelWarn, "sync attempt went silent; run taken over and re-driven",
			slog.String("dead_worker", t.DeadOwner), slog.Duration("silent", t.Silent))
	}
	return n, errors.Join(errs...)
}
