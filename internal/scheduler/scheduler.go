package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/tokens"
)

// Enqueuer puts tasks on the queue. *asynq.Client implements it; it must be
// safe for concurrent use (the scheduler enqueues from several goroutines).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Config configures a Scheduler. Zero values take the defaults named on each
// field; New validates it once.
type Config struct {
	// Interval is how often each company is synced, unless its
	// company_schedules row says otherwise. Required.
	Interval time.Duration
	// Jitter spreads companies' window starts over Jitter×Interval (0 to 1).
	Jitter float64
	// Tick is how often Run looks for due companies. Default 30s.
	Tick time.Duration
	// Workers is how many enqueues run at once. Default 16.
	Workers int
	// EnqueueTimeout bounds one enqueue. Default 10s.
	EnqueueTimeout time.Duration
	// Drain is how long Run lets a tick in progress finish after its context
	// ends (a shutdown). Default 20s.
	Drain time.Duration
	// Now is the clock; default time.Now. Windows are computed on it, so
	// replicas' clocks should agree (NTP); a disagreement of less than an
	// interval still yields one task per window.
	Now func() time.Time
	// Logger receives one line per tick that enqueued something, and errors.
	// Default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, are updated by every tick (see NewMetrics).
	Metrics *Metrics
	// Lookup, when set (an *asynq.Inspector on the same Redis), lets each
	// tick re-enqueue the recorded windows whose task Redis lost, e.g. to a
	// FLUSHALL or a restart without persistence (see restore.go). Without
	// it, such windows wait for their next window.
	Lookup TaskLookup
	// FullEvery is how often each company gets a full reconciliation
	// (SYNC_FULL_EVERY; see FullDue); its other syncs are incremental.
	// Default DefaultFullEvery.
	FullEvery time.Duration
}

func (c *Config) setDefaults() error {
	if c.Interval <= 0 {
		return errors.New("scheduler: Interval must be positive")
	}
	if c.Jitter < 0 || c.Jitter > 1 {
		return errors.New("scheduler: Jitter must be between 0 and 1")
	}
	if c.FullEvery < 0 {
		return errors.New("scheduler: FullEvery must not be negative")
	}
	if c.FullEvery == 0 {
		c.FullEvery = DefaultFullEvery
	}
	if c.Tick <= 0 {
		c.Tick = 30 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.EnqueueTimeout <= 0 {
		c.EnqueueTimeout = 10 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 20 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Scheduler enqueues the sync:company tasks of due companies. It is safe for
// concurrent use, and any number of Schedulers (in one process or in many
// replicas) may tick over the same database and Redis at once: each company
// gets one task per window.
type Scheduler struct {
	db        *gorm.DB
	companies *companies.Directory
	q         Enqueuer
	cfg       Config
}

// New returns a Scheduler over db (see postgres.Open), which reads
// companies through package companies, records windows in
// company_schedules, and enqueues through q.
func New(db *gorm.DB, q Enqueuer, cfg Config) (*Scheduler, error) {
	if db == nil || q == nil {
		return nil, errors.New("scheduler: New needs a database and an enqueuer")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Scheduler{db: db, companies: companies.New(db), q: q, cfg: cfg}, nil
}

// drainTick runs one tick that outlives ctx by at most Config.Drain.
func (s *Scheduler) drainTick(ctx context.Context) {
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(s.cfg.Drain)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-tctx.Done():
		}
	})
	defer stop()
	_, _ = s.Tick(tctx) // Tick logs its own failures
}

// Result counts what one tick or one enqueue-all did.
type Result struct {
	// Due is how many companies were due (or asked for).
	Due int
	// Enqueued is how many tasks this call put on the queue.
	Enqueued int
	// Duplicates is how many were already on the queue under the same task
	// id (enqueued by another replica, or by an earlier call).
	Duplicates int
	// Failed is how many could not be enqueued; they stay due.
	Failed int
	// Restored is how many recorded windows whose task Redis had lost were
	// enqueued again (Tick only; see Config.Lookup).
	Restored int
	// Read, Enqueue and Record are how long each phase of a tick took:
	// reading the due companies, enqueuing, and recording the windows.
	Read, Enqueue, Record time.Duration
	// Restore is how long the check for lost tasks took (Tick only).
	Restore time.Duration
}

// Run ticks at once and then every Config.Tick until ctx ends. A failed tick
// is logged (by Tick) and the next one tries again. When ctx ends during a
// tick, the tick still gets Config.Drain to finish, so a shutdown does not
// leave enqueues in flight; Run then returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		s.drainTick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// tickChunk is how many companies a tick enqueues before handing them to
// the recorder, which writes their windows while the next chunk enqueues.
const tickChunk = 2000

// Tick enqueues one task for every active company whose current window has
// not been enqueued yet: it reads the due companies in one query, enqueues
// them with Config.Workers goroutines, and records the windows (one
// statement per 2,000 companies, written while the next 2,000 enqueue). A
// task id already taken counts as a duplicate and as done. When some
// enqueues fail, the others are still recorded and the error is an
// *EnqueueError; the failed companies stay due.
func (s *Scheduler) Tick(ctx context.Context) (Result, error) {
	start := time.Now()
	now := s.cfg.Now()
	// Windows recorded earlier whose task Redis lost, first: the companies
	// due now are not among them (their recorded window has closed).
	restored, restoreErr := s.restore(ctx, now)
	restoreTook := time.Since(start)
	start = time.Now()
	list, err := s.companies.Due(ctx, now)
	if err != nil {
		err = errors.Join(err, restoreErr)
		s.logTick(Result{Restored: restored.Restored, Restore: restoreTook}, err)
		return Result{Restored: restored.Restored, Restore: restoreTook}, err
	}
	items := dues(list, s.cfg.Interval)
	for i := range items {
		items[i].window = WindowAt(items[i].company, items[i].interval, s.cfg.Jitter, now)
	}
	if err := s.chooseKinds(ctx, items, now, false); err != nil {
		s.logTick(Result{}, err)
		return Result{}, err
	}
	res := Result{Due: len(items), Read: time.Since(start), Restored: restored.Restored, Restore: restoreTook}

	type recordResult struct {
		took time.Duration
		err  error
	}
	toRecord := make(chan []due, 1)
	recorded := make(chan recordResult, 1)
	go func() {
		var r recordResult
		for batch := range toRecord {
			t := time.Now()
			if err := markEnqueued(ctx, s.db, now, batch); err != nil {
				r.err = errors.Join(r.err, err)
			}
			r.took += time.Since(t)
		}
		recorded <- r
	}()
	var first error
	enqueueStart := time.Now()
	for off := 0; off < len(items); off += tickChunk {
		part := items[off:min(off+tickChunk, len(items))]
		r, err := s.enqueue(ctx, part, func(d *due) string { return TaskID(d.company, d.window.Index) })
		res.Enqueued += r.Enqueued
		res.Duplicates += r.Duplicates
		res.Failed += r.Failed
		if first == nil {
			first = err
		}
		done := make([]due, 0, len(part))
		for _, d := range part {
			if d.err == nil {
				done = append(done, d)
			}
		}
		toRecord <- done
	}
	res.Enqueue = time.Since(enqueueStart)
	close(toRecord)
	rec := <-recorded
	res.Record = rec.took

	s.cfg.Metrics.ticked(res.Due, time.Since(start))
	if first != nil {
		err = &EnqueueError{Failed: res.Failed, Total: res.Due, Err: first}
	}
	err = errors.Join(err, rec.err, restoreErr)
	s.logTick(res, err)
	if err != nil {
		return res, err
	}
	s.cfg.Metrics.succeeded(now)
	return res, nil
}

// logTick writes one line per tick that enqueued something or failed, with
// the counts even when it failed (the tasks it did enqueue are on the queue).
func (s *Scheduler) logTick(res Result, err error) {
	if err == nil && res.Enqueued == 0 && res.Duplicates == 0 && res.Restored == 0 {
		return
	}
	attrs := []any{"due", res.Due, "enqueued", res.Enqueued, "duplicates", res.Duplicates, "failed", res.Failed, "restored", res.Restored,
		"read", res.Read.Round(time.Millisecond), "enqueue", res.Enqueue.Round(time.Millisecond),
		"record", res.Record.Round(time.Millisecond), "restore", res.Restore.Round(time.Millisecond)}
	if err != nil {
		s.cfg.Logger.Error("scheduler tick", append(attrs, "error", err)...)
		return
	}
	s.cfg.Logger.Info("scheduler tick", attrs...)
}

// EnqueueCompany enqueues a sync of company now, outside its schedule (an
// operator's "sync now"), on the critical queue: a full walk when full is
// set or FullDue says so, else an incremental one. It refuses a company that is not onboarded
// (*UnknownCompanyError) or not active (*NotActiveError). Its task id is one
// per company per second, so a repeated command in the same second enqueues
// once (Result.Duplicates is then 1). It does not move the company's
// schedule.
func (s *Scheduler) EnqueueCompany(ctx context.Context, company string, full bool) (Result, error) {
	c, err := s.companies.Get(ctx, company)
	var nf *companies.NotFoundError
	if errors.As(err, &nf) {
		return Result{}, &UnknownCompanyError{Company: company}
	}
	if err != nil {
		return Result{}, fmt.Errorf("scheduler: %w", err)
	}
	if c.Status != tokens.StatusActive {
		return Result{}, &NotActiveError{Company: company, Status: string(c.Status), Reason: c.StatusReason}
	}
	items := dues([]companies.Schedule{{UUID: c.UUID, Interval: c.Interval}}, s.cfg.Interval)
	return s.enqueueManual(ctx, items, s.cfg.Now(), full)
}

// EnqueueAll enqueues a sync of every active company now, outside their
// schedules, as EnqueueCompany does for one.
func (s *Scheduler) EnqueueAll(ctx context.Context, full bool) (Result, error) {
	list, err := s.companies.Active(ctx)
	if err != nil {
		return Result{}, err
	}
	return s.enqueueManual(ctx, dues(list, s.cfg.Interval), s.cfg.Now(), full)
}

func (s *Scheduler) enqueueManual(ctx context.Context, items []due, now time.Time, full bool) (Result, error) {
	start := time.Now()
	if err := s.chooseKinds(ctx, items, now, full); err != nil {
		return Result{Due: len(items)}, err
	}
	res, err := s.enqueue(ctx, items, func(d *due) string { return manualTaskID(d.company, now) },
		asynq.Queue(jobs.QueueCritical)) // a person is waiting
	res.Enqueue = time.Since(start)
	if err != nil {
		return res, &EnqueueError{Failed: res.Failed, Total: len(items), Err: err}
	}
	return res, nil
}

// enqueue puts one task per item on the queue with Config.Workers
// goroutines, recording each outcome in the item, and returns the counts and
// the first failure. The task is retained for the item's interval after it
// finishes, so its id stays taken at least until the window ends.
func (s *Scheduler) enqueue(ctx context.Context, items []due, taskID func(*due) string, opts ...asynq.Option) (Result, error) {
	res := Result{Due: len(items)}
	if len(items) == 0 {
		return res, nil
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, len(items)) {
		wg.Go(func() {
			for i := range work {
				d := &items[i]
				d.err = s.enqueueOne(ctx, d.company, taskID(d), d.kind, d.interval, opts)
				if errors.Is(d.err, asynq.ErrTaskIDConflict) {
					d.err, d.dup = nil, true
				}
			}
		})
	}
	for i := range items {
		work <- i
	}
	close(work)
	wg.Wait()

	var first error
	for _, d := range items {
		switch {
		case d.err != nil:
			res.Failed++
			if first == nil {
				first = d.err
			}
		case d.dup:
			res.Duplicates++
		default:
			res.Enqueued++
		}
	}
	s.cfg.Metrics.enqueued(res)
	return res, first
}

func (s *Scheduler) enqueueOne(ctx context.Context, company, id string, kind checkpoint.Kind, retention time.Duration, opts []asynq.Option) error {
	task, err := syncTask(company, RunID(id), kind, opts...)
	if err != nil {
		return fmt.Errorf("scheduler: build task for company %s: %w", company, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.EnqueueTimeout)
	defer cancel()
	if _, err := s.q.EnqueueContext(ctx, task, asynq.TaskID(id), asynq.Retention(retention)); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return err
		}
		return fmt.Errorf("scheduler: enqueue %s: %w", id, err)
	}
	return nil
}
