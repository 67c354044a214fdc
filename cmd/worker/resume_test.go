package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/waitfor"
	"github.com/gustosync/gustosync/proof/devstack"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// Liveness settings of the resume tests: short, so that the tests wait
// seconds, not minutes; the logic is the same at the defaults (2 s, 6 s).
const (
	resumeHeartbeat = "SYNC_HEARTBEAT=500ms"
	resumeLease     = "SYNC_LEASE=2s"
	resumeBatch     = 100
)

// fenceEpoch is the company's current epoch, and checkpointEpoch the epoch
// of the attempt that last committed a batch of it.
func (w *world) fenceEpoch(company string) (fence, checkpoint int64) {
	w.t.Helper()
	if err := w.db.Gorm.Raw(`SELECT (SELECT epoch FROM sync_fences WHERE company_uuid = ?),
       (SELECT COALESCE(max(epoch), 0) FROM sync_checkpoints WHERE company_uuid = ?)`, company, company).Row().Scan(&fence, &checkpoint); err != nil {
		w.t.Fatal(err)
	}
	return fence, checkpoint
}

// holder is the worker whose attempt holds run.
func (w *world) holder(run string, procs ...*proc) *proc {
	w.t.Helper()
	var owner string
	if err := w.db.Gorm.Raw(`SELECT attempt_owner FROM sync_runs WHERE id = ?`, run).Row().Scan(&owner); err != nil {
		w.t.Fatal(err)
	}
	for _, p := range procs {
		if p.name == owner {
			return p
		}
	}
	w.t.Fatalf("run %s held by %q, not one of the workers", run, owner)
	return nil
}

// taskState is asynq's state of the task id in queue.
func (w *world) taskState(queue, id string) asynq.TaskState {
	w.t.Helper()
	info, err := asynq.NewInspectorFromRedisClient(w.redis.Client()).GetTaskInfo(queue, id)
	if err != nil {
		w.t.Fatalf("task %s in %s: %v", id, queue, err)
	}
	return info.State
}

// guardFences installs, on the world's database, the triggers the chaos
// suite judges fencing with (devstack.Database.InstallGuards): every
// checkpoint write is compared, inside the writing transaction, with the
// company's fence, so a batch committed under an epoch older than the
// fence (a zombie's write after a takeover) is recorded exactly, whenever
// its log line is written. Call it before the workers start.
func (w *world) guardFences() *devstack.Database {
	w.t.Helper()
	d := &devstack.Database{Name: w.db.Name, URL: w.db.URL, SQL: w.pool()}
	if err := d.InstallGuards(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	return d
}

// requireFenced fails the test if the guards recorded any write that a
// fence should have stopped: a checkpoint committed under a stale epoch,
// or a checkpoint, fence or token version moving backwards.
func requireFenced(t *testing.T, d *devstack.Database) {
	t.Helper()
	regs, err := d.Regressions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range regs {
		t.Errorf("%s %s: %s (at %s)", r.Kind, r.Company, r.Detail, r.At.Format("15:04:05.000"))
	}
	if len(regs) > 0 {
		t.FailNow()
	}
}

// Must show (b): the worker holding a long sync is frozen (SIGSTOP), then
// later its heir is killed (kill -9). Each time another worker commits the
// run's next batch under a newer epoch while the dead attempt's task is
// still active in asynq: asynq's lease (30 s) had not run out, so the
// takeover came through the re-drive path (package redrive), not asynq's
// recoverer. The frozen worker, woken (SIGCONT), commits nothing more. The
// run finishes exact, fetching at most one batch twice per interruption.
func TestDeadHolderIsTakenOverBeforeAsynqNotices(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{RateLimit: 600})
	guards := w.guardFences()
	company := w.company(16000, 100)
	env := []string{"GUSTO_RATE_LIMIT=600", fmt.Sprintf("SYNC_BATCH_SIZE=%d", resumeBatch), resumeHeartbeat, resumeLease}
	procs := []*proc{w.start("b1", env...), w.start("b2", env...), w.start("b3", env...)}
	run := uuid.NewString()
	w.enqueue(company, run)

	// 1. Freeze the holder.
	waitfor.Condition(t, 2*time.Minute, "1000 records committed", func() bool { return w.committed(company) >= 1000 })
	frozen := w.holder(run, procs...)
	sendSignal(t, frozen, syscall.SIGSTOP)
	t.Cleanup(func() { _ = frozen.cmd.Process.Signal(syscall.SIGCONT) })
	epochAtStop, _ := w.fenceEpoch(company)
	waitfor.Condition(t, time.Minute, "another worker to commit a batch under a newer epoch", func() bool {
		_, cp := w.fenceEpoch(company)
		return cp > epochAtStop
	})
	if s := w.taskState(jobs.QueueDefault, "sync:"+run); s != asynq.TaskStateActive {
		t.Fatalf("the frozen worker's task is %s when the heir committed: asynq, not the re-drive, recovered it", s)
	}
	heir := w.holder(run, procs...)
	if heir == frozen {
		t.Fatal("the frozen worker still holds the run")
	}
	// Wake the frozen worker: its attempt (epoch epochAtStop) may hold a
	// page fetched before SIGSTOP and try to commit it. Whether it commits
	// is judged from the database at the end (the guards), never from its
	// log: a batch committed just before SIGSTOP may log after SIGCONT.
	sendSignal(t, frozen, syscall.SIGCONT)
	waitfor.Condition(t, time.Minute, "the woken worker to learn it was fenced", func() bool {
		return frozen.has(`"msg":"attempt fenced by a newer one; stopping"`, `"run":"`+run)
	})

	// 2. Kill the heir.
	atKill := w.committed(company)
	waitfor.Condition(t, time.Minute, "the heir to commit 1000 more records", func() bool { return w.committed(company) >= atKill+1000 })
	epochAtKill, _ := w.fenceEpoch(company)
	sendSignal(t, heir, syscall.SIGKILL)
	if !heir.exited(10 * time.Second) {
		t.Fatal("worker survived kill -9")
	}
	waitfor.Condition(t, time.Minute, "a third worker to commit a batch under a newer epoch", func() bool {
		_, cp := w.fenceEpoch(company)
		return cp > epochAtKill
	})
	// The heir ran the task the first takeover enqueued.
	redriven := fmt.Sprintf("sync:%s:redrive:%d", run, epochAtStop+1)
	if s := w.taskState(jobs.QueueCritical, redriven); s != asynq.TaskStateActive {
		t.Fatalf("the killed heir's task %s is %s when the next worker committed: asynq, not the re-drive, recovered it", redriven, s)
	}

	r := w.waitRun(run, "succeeded", 3*time.Minute)
	rowcheck.Require(t, w.pool(), w.sim, company)
	// The woken attempt committed nothing after the takeover: the guards
	// saw no checkpoint written under an epoch older than the company's
	// fence (the fence only moves forward, so any commit of epoch
	// epochAtStop after the takeover is one).
	requireFenced(t, guards)
	var takeovers int
	if err := w.db.Gorm.Raw(`SELECT takeovers FROM sync_runs WHERE id = ?`, run).Row().Scan(&takeovers); err != nil {
		t.Fatal(err)
	}
	// Two interruptions, two takeovers, each re-driving exactly one
	// attempt. A live worker whose heartbeat is held up for longer than
	// the 2 s lease (a loaded CI machine) is presumed dead and taken over
	// too, correctly: such extra takeovers are allowed, each with its one
	// attempt and its one batch of refetch.
	if takeovers < 2 || r.Attempts != takeovers+1 {
		t.Fatalf("run %+v with %d takeovers, want at least 2 takeovers and one attempt more than takeovers", r, takeovers)
	}
	served, clean := w.sim.Counters().RecordsServed[company], w.cleanServed(company)
	t.Logf("%d records served for %d (%d fetched twice over %d takeovers)", served, w.total(company), served-clean, takeovers)
	// One batch per interruption, plus the page the frozen worker may have
	// fetched when it woke, before it learnt it was fenced.
	if served-clean > int64(takeovers*resumeBatch+resumeBatch) {
		t.Fatalf("%d records fetched twice over %d takeovers: more than one batch (%d) each", served-clean, takeovers, resumeBatch)
	}
}

// Must show (a): a sync much longer than the sync interval, rate limited,
// with 10% of Gusto's answers a 5xx, and interrupted twice (a drain by
// SIGTERM, then kill -9 of the holder). A new run is enqueued every
// window, as the scheduler does, while the sync is under way: each one
// finds the live sync and is coalesced into it, or finds it interrupted and
// continues from its checkpoints; none starts over. The company's sync
// finishes, every row exact, with at most one batch fetched twice per
// interruption.
func TestLongFlakySyncFinishesAcrossWindows(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{RateLimit: 600, ErrorRate: 0.1})
	company := w.company(14000, 100)
	total := w.total(company)
	env := []string{"GUSTO_RATE_LIMIT=600", fmt.Sprintf("SYNC_BATCH_SIZE=%d", resumeBatch), resumeHeartbeat, resumeLease}
	procs := []*proc{w.start("a1", env...), w.start("a2", env...)}

	// The windows: a new run every second (the scheduler's interval is
	// shorter than the sync), until the sync is near its end, so that no
	// window can start a second sync after this one succeeds.
	const window = time.Second
	queue := asynq.NewClientFromRedisClient(w.redis.Client())
	var runs []string
	next := func() string {
		run := uuid.NewString()
		task, err := jobs.NewSyncTask(company, run, checkpoint.KindFull)
		if err == nil {
			_, err = queue.Enqueue(task)
		}
		if err != nil {
			t.Errorf("enqueuing window run %s: %v", run, err)
		}
		runs = append(runs, run)
		return run
	}
	first := next()
	stopWindows := make(chan struct{})
	windowsDone := make(chan struct{})
	go func() {
		defer close(windowsDone)
		tk := time.NewTicker(window)
		defer tk.Stop()
		for {
			select {
			case <-stopWindows:
				return
			case <-tk.C:
			}
			if w.committed(company) >= total*8/10 {
				return
			}
			next()
		}
	}()
	holderOf := func() *proc {
		var owner string
		if err := w.db.Gorm.Raw(`SELECT attempt_owner FROM sync_runs WHERE company_uuid = ? AND status = 'running'`, company).Row().Scan(&owner); err != nil {
			return nil
		}
		for _, p := range procs {
			if p.name == owner {
				return p
			}
		}
		return nil
	}

	// Interruption 1: the holder drains (SIGTERM), a fresh worker joins.
	waitfor.Condition(t, 2*time.Minute, "3000 records committed", func() bool { return w.committed(company) >= 3000 })
	var p *proc
	waitfor.Condition(t, time.Minute, "a worker to hold the sync", func() bool { p = holderOf(); return p != nil })
	sendSignal(t, p, syscall.SIGTERM)
	if !p.exited(30 * time.Second) {
		t.Fatal("worker still running 30 s after SIGTERM")
	}
	procs = append(procs, w.start("a3", env...))

	// Interruption 2: kill -9 of the holder.
	atDrain := w.committed(company)
	waitfor.Condition(t, 2*time.Minute, "3000 more records committed", func() bool { return w.committed(company) >= atDrain+3000 })
	waitfor.Condition(t, time.Minute, "a worker to hold the sync", func() bool { p = holderOf(); return p != nil })
	sendSignal(t, p, syscall.SIGKILL)
	if !p.exited(10 * time.Second) {
		t.Fatal("worker survived kill -9")
	}

	var doneAt time.Time // when the company's sync succeeded (PostgreSQL's clock)
	waitfor.Condition(t, 4*time.Minute, "the company's sync to succeed", func() bool {
		var at []time.Time
		_ = w.db.Gorm.Raw(`SELECT finished_at FROM sync_runs WHERE company_uuid = ? AND status = 'succeeded'`, company).Scan(&at).Error
		if len(at) == 1 {
			doneAt = at[0]
		}
		return len(at) == 1
	})
	// What this sync cost, taken the moment it succeeded: a window task
	// that was in flight on the killed worker is recovered by asynq only
	// after its lease (30 s or more), and if that comes after the success
	// it is rightly the company's next sync, from the first page; before
	// the success it would have been coalesced into this one.
	c := w.sim.Counters()
	served, clean := c.RecordsServed[company], w.cleanServed(company)
	close(stopWindows)
	<-windowsDone
	// Every window's run claimed before the success ends: succeeded (one),
	// or stopped (coalesced or carried over). A run first claimed after it is the
	// company's next sync (the recovered task above), not this one.
	waitfor.Condition(t, time.Minute, "every run to end", func() bool {
		var n int64
		_ = w.db.Gorm.Raw(`SELECT count(*) FROM sync_runs WHERE company_uuid = ? AND created_at <= ? AND status NOT IN ('succeeded', 'stopped')`, company, doneAt).Scan(&n).Error
		return n == 0
	})
	rowcheck.Require(t, w.pool(), w.sim, company)

	var coalesced, carried, succeeded int64
	if err := w.db.Gorm.Raw(`SELECT count(*) FILTER (WHERE error LIKE 'coalesced:%'), count(*) FILTER (WHERE error LIKE '%carried its progress over'),
       count(*) FILTER (WHERE status = 'succeeded') FROM sync_runs WHERE company_uuid = ? AND created_at <= ?`, company, doneAt).Row().Scan(&coalesced, &carried, &succeeded); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d runs (first %s): %d coalesced into the live sync, %d carried over, %d succeeded; %d 5xx injected; %d records served for %d (%d fetched twice)",
		len(runs), first, coalesced, carried, succeeded, c.InjectedErrors, served, total, served-clean)
	if succeeded != 1 || coalesced == 0 {
		t.Fatalf("%d runs succeeded and %d were coalesced: want one sync, and windows that found it live", succeeded, coalesced)
	}
	if c.InjectedErrors == 0 {
		t.Fatal("no 5xx was injected")
	}
	if served-clean > 2*resumeBatch {
		t.Fatalf("%d records fetched twice over 2 interruptions: more than one batch (%d) each", served-clean, resumeBatch)
	}
}
