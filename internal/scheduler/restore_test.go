package scheduler_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/scheduler"
)

// TestTickRestoresWindowsRedisLost: after a FLUSHALL, the next tick in the
// same window enqueues again, under the same task id, every recorded window
// whose run has not finished, and nothing for a finished run or a company
// paused meanwhile (invariant 15: a window recorded as enqueued is on the
// queue until its run finishes). A scheduler without a Lookup does not.
func TestTickRestoresWindowsRedisLost(t *testing.T) {
	e := newEnv(t)
	cos := addCompanies(t, e.db.Gorm, 6, "active")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: start}
	s, err := scheduler.New(e.db.Gorm, e.cli, scheduler.Config{Interval: time.Hour, Now: c.Now, Workers: 4, Lookup: e.insp})
	if err != nil {
		t.Fatal(err)
	}
	blind, err := scheduler.New(e.db.Gorm, e.cli, scheduler.Config{Interval: time.Hour, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tick := func(s *scheduler.Scheduler) scheduler.Result {
		t.Helper()
		res, err := s.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := tick(s); res.Enqueued != 6 || res.Restored != 0 {
		t.Fatalf("first tick %+v, want 6 enqueued, none restored", res)
	}
	if res := tick(s); res.Enqueued != 0 || res.Restored != 0 {
		t.Fatalf("second tick, tasks all there: %+v, want nothing", res)
	}
	window := func(co string) int64 { return scheduler.WindowAt(co, time.Hour, 0, start).Index }
	run := func(co string) string { return scheduler.RunID(scheduler.TaskID(co, window(co))).String() }
	// cos[0]'s run finished, cos[1]'s is running; cos[2] is paused below.
	for co, status := range map[string]string{cos[0]: "succeeded", cos[1]: "running"} {
		if err := e.db.Gorm.Exec(`INSERT INTO sync_runs (id, company_uuid, status) VALUES (?, ?, ?)`, run(co), co, status).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := e.redis.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET status = 'paused' WHERE company_uuid = ?`, cos[2]).Error; err != nil {
		t.Fatal(err)
	}
	if res := tick(blind); res.Enqueued != 0 || res.Restored != 0 {
		t.Fatalf("a scheduler without Lookup: %+v, want nothing", res)
	}
	c.Set(start.Add(10 * time.Minute)) // the same window
	res := tick(s)
	if res.Restored != 4 || res.Enqueued != 0 {
		t.Fatalf("tick after FLUSHALL %+v, want 4 restored", res)
	}
	// Read from Redis directly: asynq's client registers a queue once per
	// process, so after a FLUSHALL its Inspector no longer lists "default"
	// although the tasks are there and workers serve them.
	var got, want []string
	keys, err := e.redis.Client().Keys(ctx, "asynq:{default}:t:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		runID, err := e.redis.Client().HGet(ctx, k, "msg").Result()
		if err != nil {
			t.Fatal(err)
		}
		id := k[len("asynq:{default}:t:"):]
		got = append(got, id+" "+strconv.FormatBool(strings.Contains(runID, run(companyOfTaskID(id)))))
	}
	for _, co := range []string{cos[1], cos[3], cos[4], cos[5]} {
		want = append(want, scheduler.TaskID(co, window(co))+" true")
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("tasks after restore (id, carries the window's run id):\n%v\nwant\n%v", got, want)
	}
	if res := tick(s); res.Restored != 0 || res.Enqueued != 0 {
		t.Fatalf("tick after the restore %+v, want nothing", res)
	}
	// The next window is enqueued as usual.
	c.Set(start.Add(time.Hour))
	if res := tick(s); res.Enqueued != 5 || res.Restored != 0 {
		t.Fatalf("next window %+v, want 5 enqueued", res)
	}
}

// slowLookup looks tasks up through next after moving the clock to after,
// as a lookup that outlasts its window's end does.
type slowLookup struct {
	next  scheduler.TaskLookup
	clock *clock
	after time.Time
}

func (l slowLookup) GetTaskInfo(queue, id string) (*asynq.TaskInfo, error) {
	l.clock.Set(l.after)
	return l.next.GetTaskInfo(queue, id)
}

// TestRestoreSkipsWindowsClosedDuringLookup: a task found missing by a
// lookup that ran past its window's end (a completed task's retention,
// which counts from its completion, ran out with the window) is not
// enqueued again: that window is over, and re-enqueuing it ran it twice
// (cmd/scheduler TestTwoProcessesWithWorker, 2 tasks for one window).
func TestRestoreSkipsWindowsClosedDuringLookup(t *testing.T) {
	e := newEnv(t)
	addCompanies(t, e.db.Gorm, 3, "active")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: start}
	ctx := context.Background()
	first, err := scheduler.New(e.db.Gorm, e.cli, scheduler.Config{Interval: time.Hour, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := first.Tick(ctx); err != nil || res.Enqueued != 3 {
		t.Fatalf("first tick %+v %v, want 3 enqueued", res, err)
	}
	if err := e.redis.Client().FlushAll(ctx).Err(); err != nil { // as if every retention ran out
		t.Fatal(err)
	}
	c.Set(start.Add(59 * time.Minute))
	s, err := scheduler.New(e.db.Gorm, e.cli, scheduler.Config{Interval: time.Hour, Now: c.Now,
		Lookup: slowLookup{next: e.insp, clock: c, after: start.Add(61 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Tick(ctx)
	if err != nil || res.Restored != 0 {
		t.Fatalf("tick whose lookups ran past the windows' end: %+v %v, want nothing restored", res, err)
	}
}
