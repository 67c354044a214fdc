package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/scheduler"
	"github.com/gustosync/gustosync/internal/waitfor"
)

func TestWindows(t *testing.T) {
	const interval = time.Hour
	company := "6b1f8a52-7d0e-4c37-9a4b-1f2e3d4c5b6a"
	off := scheduler.Offset(company, interval, 0.1)
	if off < 0 || off >= 6*time.Minute {
		t.Fatalf("offset %s outside [0, 6m)", off)
	}
	if again := scheduler.Offset(company, interval, 0.1); again != off {
		t.Fatalf("offset not deterministic: %s then %s", off, again)
	}
	if scheduler.Offset(company, interval, 0) != 0 {
		t.Fatal("jitter 0 must give offset 0")
	}
	// Offsets of many companies spread over the jitter span.
	var lo, hi time.Duration = interval, 0
	for i := range 1000 {
		o := scheduler.Offset(fmt.Sprintf("company-%d", i), interval, 0.5)
		lo, hi = min(lo, o), max(hi, o)
		if o < 0 || o >= 30*time.Minute {
			t.Fatalf("offset %s outside [0, 30m)", o)
		}
	}
	if lo > 2*time.Minute || hi < 28*time.Minute {
		t.Fatalf("1000 offsets span only [%s, %s] of [0, 30m)", lo, hi)
	}

	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := scheduler.WindowAt(company, interval, 0.1, base)
	if w.End.Sub(w.Start) != interval || base.Before(w.Start) || !base.Before(w.End) {
		t.Fatalf("window %+v does not contain %s", w, base)
	}
	if got := w.Start.Sub(w.Start.Truncate(interval)); got != off {
		t.Fatalf("window starts %s into the hour, want the offset %s", got, off)
	}
	next := scheduler.WindowAt(company, interval, 0.1, w.End)
	if next.Index != w.Index+1 || !next.Start.Equal(w.End) {
		t.Fatalf("next window %+v does not follow %+v", next, w)
	}
	if last := scheduler.WindowAt(company, interval, 0.1, w.End.Add(-time.Nanosecond)); last.Index != w.Index {
		t.Fatalf("the instant before End is in window %d, want %d", last.Index, w.Index)
	}
	if id := scheduler.TaskID(company, w.Index); id != fmt.Sprintf("sync:%s:%d", company, w.Index) {
		t.Fatalf("task id %q", id)
	}
	if a1, a2 := scheduler.RunID("a"), scheduler.RunID("a"); a1 != a2 || a1 == scheduler.RunID("b") {
		t.Fatal("run ids must be a function of the task id")
	}
}

type env struct {
	db    *pgtest.DB
	redis *redistest.Server
	cli   *asynq.Client
	insp  *asynq.Inspector
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{db: pgtest.New(t), redis: redistest.Start(t)}
	opt := asynq.RedisClientOpt{Addr: e.redis.Addr}
	e.cli = asynq.NewClient(opt)
	e.insp = asynq.NewInspector(opt)
	t.Cleanup(func() { _ = e.cli.Close(); _ = e.insp.Close() })
	return e
}

func (e *env) scheduler(t *testing.T, c *clock, interval time.Duration, jitter float64) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(e.db.Gorm, e.cli, scheduler.Config{Interval: interval, Jitter: jitter, Now: c.Now, Workers: 8})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runServer processes every task at once with a no-op handler, so completed
// tasks live only as long as their Retention: without it, a late replica
// could enqueue the same window again.
func (e *env) runServer(t *testing.T) {
	t.Helper()
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: e.redis.Addr}, asynq.Config{
		Concurrency: 4, TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.ErrorLevel,
	})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

// TestTwoReplicasOneTaskPerWindow: two schedulers tick concurrently, several
// times per window, over four windows and 200 companies while a server
// completes the tasks: the Inspector finds exactly one task per active
// company per window, and none for paused or needs_reauth companies.
func TestTwoReplicasOneTaskPerWindow(t *testing.T) {
	e := newEnv(t)
	e.runServer(t)
	const interval = time.Hour
	active := addCompanies(t, e.db.Gorm, 200, "active")
	paused := addCompanies(t, e.db.Gorm, 5, "paused")
	reauth := addCompanies(t, e.db.Gorm, 5, "needs_reauth")

	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	replicas := []*scheduler.Scheduler{e.scheduler(t, c, interval, 0.5), e.scheduler(t, c, interval, 0.5)}

	want := map[string]bool{} // expected task ids
	ctx := context.Background()
	var total scheduler.Result
	var mu sync.Mutex
	for step := range 4 * 6 { // 4 windows, a tick every 10 minutes
		now := c.Now()
		for _, co := range active {
			want[scheduler.TaskID(co, scheduler.WindowAt(co, interval, 0.5, now).Index)] = true
		}
		var wg sync.WaitGroup
		for _, s := range replicas {
			wg.Go(func() {
				res, err := s.Tick(ctx)
				if err != nil {
					t.Errorf("step %d: %v", step, err)
				}
				mu.Lock()
				total.Enqueued += res.Enqueued
				total.Duplicates += res.Duplicates
				mu.Unlock()
			})
		}
		wg.Wait()
		c.Set(now.Add(10 * time.Minute))
	}
	if total.Enqueued != len(want) {
		t.Fatalf("replicas enqueued %d tasks, want %d (one per company per window); duplicates refused: %d",
			total.Enqueued, len(want), total.Duplicates)
	}

	// Let the server finish, so no task moves between states while listed.
	waitfor.Condition(t, 30*time.Second, "every task to complete", func() bool { return settled(t, e.insp) })
	tasks := allTasks(t, e.insp)
	got := map[string]int{}
	runs := map[string]bool{}
	for _, task := range tasks {
		got[task.ID]++
		runs[task.RunID] = true
	}
	if len(tasks) != len(want) || len(runs) != len(want) {
		t.Fatalf("Inspector: %d tasks with %d distinct runs, want %d", len(tasks), len(runs), len(want))
	}
	perCompany := map[string]int{}
	for id := range want {
		if got[id] != 1 {
			t.Fatalf("task %s found %d times, want once", id, got[id])
		}
		perCompany[companyOfTaskID(id)]++
	}
	for _, co := range active {
		if perCompany[co] < 4 || perCompany[co] > 5 {
			t.Fatalf("company %s has %d windows over 4 hours", co, perCompany[co])
		}
	}
	for _, co := range append(paused, reauth...) {
		for _, task := range tasks {
			if task.Company == co {
				t.Fatalf("company %s is not active but task %s was enqueued", co, task.ID)
			}
		}
	}
	completed := 0
	for _, task := range tasks {
		if task.State == "completed" {
			completed++
		}
	}
	t.Logf("%d tasks (%d completed and retained), %d duplicate enqueues refused", len(tasks), completed, total.Duplicates)
}

// TestRetentionStopsLateDuplicate: a replica whose read of due companies is
// stale (it missed the sibling's record) still cannot enqueue a window again
// after the sibling's task has completed.
func TestRetentionStopsLateDuplicate(t *testing.T) {
	e := newEnv(t)
	e.runServer(t)
	cos := addCompanies(t, e.db.Gorm, 3, "active")
	c := &clock{t: time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)}
	s := e.scheduler(t, c, time.Hour, 0.5)
	ctx := context.Background()
	if res, err := s.Tick(ctx); err != nil || res.Enqueued != 3 {
		t.Fatalf("first tick: %+v %v", res, err)
	}
	waitfor.Condition(t, 20*time.Second, "tasks to complete", func() bool { return settled(t, e.insp) })
	// Forget the schedule, as a replica with a stale read would.
	if err := e.db.Gorm.Exec(`DELETE FROM company_schedules`).Error; err != nil {
		t.Fatal(err)
	}
	res, err := s.Tick(ctx)
	if err != nil || res.Enqueued != 0 || res.Duplicates != 3 {
		t.Fatalf("late tick: %+v %v; want 3 duplicates and nothing enqueued", res, err)
	}
	if n := len(allTasks(t, e.insp)); n != len(cos) {
		t.Fatalf("%d tasks, want %d", n, len(cos))
	}
}

// TestTickReadsOnlyDue: a second tick in the same window finds nothing due;
// the next window makes every company due again; a per-company interval is
// honoured; pause and resume take effect at the next tick.
func TestTickReadsOnlyDue(t *testing.T) {
	e := newEnv(t)
	cos := addCompanies(t, e.db.Gorm, 10, "active")
	if err := e.db.Gorm.Exec(`INSERT INTO company_schedules (company_uuid, interval_seconds) VALUES (?, 600)`, cos[0]).Error; err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: start}
	s := e.scheduler(t, c, time.Hour, 0) // windows on the hour
	ctx := context.Background()
	tick := func() scheduler.Result {
		t.Helper()
		res, err := s.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := tick(); res.Due != 10 || res.Enqueued != 10 {
		t.Fatalf("first tick %+v, want 10 due and enqueued", res)
	}
	if res := tick(); res.Due != 0 {
		t.Fatalf("second tick in the same window %+v, want nothing due", res)
	}
	var next time.Time
	if err := e.db.Gorm.Raw(`SELECT next_due_at FROM company_schedules WHERE company_uuid = ?`, cos[1]).Row().Scan(&next); err != nil {
		t.Fatal(err)
	}
	if w := scheduler.WindowAt(cos[1], time.Hour, 0, start); !next.Equal(w.End) {
		t.Fatalf("next due %s, want the window's end %s", next, w.End)
	}
	// Twenty minutes on, only the 10-minute company is due (maybe twice over).
	c.Set(start.Add(20 * time.Minute))
	if res := tick(); res.Due != 1 || res.Enqueued != 1 {
		t.Fatalf("tick after 20 minutes %+v, want only the 10-minute company", res)
	}
	// Pause one company: the next window skips it. Resume: it is due again.
	if err := e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET status = 'paused' WHERE company_uuid = ?`, cos[2]).Error; err != nil {
		t.Fatal(err)
	}
	c.Set(start.Add(2 * time.Hour))
	if res := tick(); res.Due != 9 || res.Enqueued != 9 {
		t.Fatalf("tick after 2 hours %+v, want 9 (one paused)", res)
	}
	if err := e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET status = 'active' WHERE company_uuid = ?`, cos[2]).Error; err != nil {
		t.Fatal(err)
	}
	if res := tick(); res.Due != 1 || res.Enqueued != 1 {
		t.Fatalf("tick after resume %+v, want the resumed company", res)
	}
}

// TestRedisDown: enqueues that fail leave the companies due, and the next
// tick after Redis is back enqueues them.
func TestRedisDown(t *testing.T) {
	e := newEnv(t)
	addCompanies(t, e.db.Gorm, 5, "active")
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	s, err := scheduler.New(e.db.Gorm, e.cli, scheduler.Config{Interval: time.Hour, Now: c.Now, EnqueueTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.redis.Stop(t)
	res, err := s.Tick(context.Background())
	var ee *scheduler.EnqueueError
	if !errors.As(err, &ee) || ee.Failed != 5 || res.Failed != 5 {
		t.Fatalf("tick with Redis down: %+v, %v; want an EnqueueError for 5", res, err)
	}
	var due int
	if err := e.db.Gorm.Raw(`SELECT count(*) FROM company_schedules`).Row().Scan(&due); err != nil || due != 0 {
		t.Fatalf("%d windows recorded for failed enqueues (%v), want none", due, err)
	}
	e.redis.Restart(t)
	enqueued := 0
	waitfor.Condition(t, 20*time.Second, "a tick to succeed after Redis restarts", func() bool {
		res, err = s.Tick(context.Background())
		enqueued += res.Enqueued
		return err == nil
	})
	if n := len(allTasks(t, e.insp)); enqueued != 5 || n != 5 {
		t.Fatalf("after restart: %d enqueued, %d tasks in Redis; want 5", enqueued, n)
	}
}

func TestEnqueueCompanyAndAll(t *testing.T) {
	e := newEnv(t)
	active := addCompanies(t, e.db.Gorm, 3, "active")
	paused := addCompanies(t, e.db.Gorm, 1, "paused")
	reauth := addCompanies(t, e.db.Gorm, 1, "needs_reauth")
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	s := e.scheduler(t, c, time.Hour, 0.5)
	ctx := context.Background()

	res, err := s.EnqueueCompany(ctx, active[0], false)
	if err != nil || res.Enqueued != 1 {
		t.Fatalf("enqueue now: %+v %v", res, err)
	}
	if res, err := s.EnqueueCompany(ctx, active[0], false); err != nil || res.Duplicates != 1 {
		t.Fatalf("same second again: %+v %v; want a duplicate", res, err)
	}
	var na *scheduler.NotActiveError
	if _, err := s.EnqueueCompany(ctx, paused[0], false); !errors.As(err, &na) || na.Status != "paused" {
		t.Fatalf("paused company: %v", err)
	}
	if _, err := s.EnqueueCompany(ctx, reauth[0], false); !errors.As(err, &na) || na.Status != "needs_reauth" {
		t.Fatalf("needs_reauth company: %v", err)
	}
	var uc *scheduler.UnknownCompanyError
	if _, err := s.EnqueueCompany(ctx, "00000000-0000-0000-0000-000000000001", false); !errors.As(err, &uc) {
		t.Fatalf("unknown company: %v", err)
	}
	c.Set(c.Now().Add(time.Second))
	if res, err := s.EnqueueAll(ctx, false); err != nil || res.Enqueued != 3 {
		t.Fatalf("enqueue all: %+v %v; want the 3 active companies", res, err)
	}
	if n := len(allTasks(t, e.insp)); n != 4 {
		t.Fatalf("%d tasks, want 4", n)
	}
	// A manual enqueue does not move the schedule: the tick still enqueues.
	if res, err := s.Tick(ctx); err != nil || res.Enqueued != 3 {
		t.Fatalf("tick after manual enqueues: %+v %v", res, err)
	}
}

// gate is an Enqueuer that holds its first call until released.
type gate struct {
	next    scheduler.Enqueuer
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gate) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return g.next.EnqueueContext(ctx, task, opts...)
}

// TestRunDrainsOnShutdown: a shutdown during a tick lets the tick finish,
// so every due company is enqueued and recorded, and Run returns.
func TestRunDrainsOnShutdown(t *testing.T) {
	e := newEnv(t)
	addCompanies(t, e.db.Gorm, 50, "active")
	g := &gate{next: e.cli, entered: make(chan struct{}), release: make(chan struct{})}
	s, err := scheduler.New(e.db.Gorm, g, scheduler.Config{Interval: time.Hour, Tick: time.Hour, Workers: 4, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-g.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the first tick never enqueued")
	}
	cancel() // shutdown while the tick is in flight
	close(g.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after shutdown")
	}
	var recorded int
	if err := e.db.Gorm.Raw(`SELECT count(*) FROM company_schedules`).Row().Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if n := len(allTasks(t, e.insp)); n != 50 || recorded != 50 {
		t.Fatalf("after a shutdown mid-tick: %d tasks, %d windows recorded; want 50 and 50", n, recorded)
	}
}
