package main

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/waitfor"
	"github.com/gustosync/gustosync/proof/rowcheck"
)

// TestEmployeesReadOnGustosWordAcrossProcesses (invariant 27, with real
// processes): a worker and a scheduler whose events feed polls the
// simulator's GET /v1/events. Once the company is fully synced, an
// incremental sync does not request its employees while the feed is healthy
// and no employee event came; after an employee changes in Gusto and the
// feed has recorded its employee.updated, the next incremental sync reads
// the employees and stores the change; with the scheduler stopped and its
// feed stale (SYNC_EVENTS_FEED_STALE), an incremental sync reads them again.
func TestEmployeesReadOnGustosWordAcrossProcesses(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{RateLimit: 600})
	company := w.company(30, 10)
	worker := w.start("employees-worker", "GUSTO_RATE_LIMIT=600", "SYNC_EVENTS_FEED_STALE=5s", "LOG_LEVEL=debug")
	worker.addr(t)
	// The scheduler's first tick enqueues the company's first sync, a full
	// one; its feed polls every 500ms with a system token.
	sched := w.startBin(schedulerBin, "employees-scheduler", "SCHEDULER_TICK=1h", "GUSTO_EVENTS_FEED=true", "GUSTO_EVENTS_POLL=500ms")
	count := func(q string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := w.db.Gorm.Raw(q, args...).Scan(&n).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	waitfor.Condition(t, 60*time.Second, "the scheduler's full sync of the company", func() bool {
		return count(`SELECT count(*) FROM sync_runs WHERE company_uuid = ? AND status = 'succeeded'`, company) == 1
	})
	w.settled(company)
	rowcheck.Require(t, w.pool(), w.sim, company)
	// CreateCompany's company.provisioned (a reconnection, which ends the
	// quiet) was recorded by the feed's first poll, within the margin of the
	// full read's start: date it an hour back, a company connected long
	// before its first sync.
	waitfor.Condition(t, 30*time.Second, "the feed to record company.provisioned", func() bool {
		return count(`SELECT count(*) FROM gusto_events WHERE company_uuid = ? AND event_type = 'company.provisioned'`, company) == 1
	})
	if err := w.db.Gorm.Exec(`UPDATE gusto_events SET claimed_at = claimed_at - interval '1 hour' WHERE company_uuid = ? AND event_type = 'company.provisioned'`, company).Error; err != nil {
		t.Fatal(err)
	}
	employeeRequests := func() int64 { return w.sim.Counters().EmployeeRequests[company] }
	incremental := func() string {
		t.Helper()
		run := uuid.NewString()
		w.enqueueKind(company, run, checkpoint.KindIncremental)
		w.waitRun(run, "succeeded", 60*time.Second)
		w.settled(company)
		return run
	}

	// (1) Feed healthy, no employee event: the employees are not requested.
	waitfor.Condition(t, 30*time.Second, "a poll of the events feed in the last second", func() bool {
		return count(`SELECT count(*) FROM gusto_events_cursor WHERE polled_at > now() - interval '1 second'`) == 1
	})
	before := employeeRequests()
	if before == 0 {
		t.Fatal("the full sync requested no employees")
	}
	quiet := incremental()
	if n := employeeRequests(); n != before {
		t.Fatalf("an incremental sync with a healthy feed and no employee event requested the employees %d time(s)", n-before)
	}
	// Why, from the log: waited for, since the line may reach the pipe
	// after the run's commit (the outcome itself is the simulator's count).
	waitfor.Condition(t, 10*time.Second, "run "+quiet+" to log that it skipped the employees", func() bool {
		return worker.has(`"msg":"employees not walked`, `"run":"`+quiet+`"`)
	})

	// (2) An employee changes in Gusto: once the feed has recorded its
	// employee.updated, the next incremental sync reads the employees. The
	// next one is the sync the scheduler enqueues on the event (a sync
	// enqueued meanwhile would be coalesced into it): wait for the event
	// to be handled, then for that sync.
	records, err := w.sim.Records(company, "employees")
	var employee struct{ UUID string }
	if err != nil || len(records) == 0 || json.Unmarshal(records[0], &employee) != nil || employee.UUID == "" {
		t.Fatalf("employees of %s: %v (%d)", company, err, len(records))
	}
	before = employeeRequests()
	ev, err := w.sim.UpdateEmployee(company, employee.UUID, false)
	if err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 30*time.Second, "the feed to record and handle "+ev.EventType, func() bool {
		return count(`SELECT count(*) FROM gusto_events WHERE uuid = ? AND handled_at IS NOT NULL AND outcome = 'sync'`, ev.UUID) == 1
	})
	w.settled(company)
	var changed string
	if err := w.db.Gorm.Raw(`SELECT id FROM sync_runs WHERE company_uuid = ? AND status = 'succeeded' ORDER BY created_at DESC LIMIT 1`, company).
		Scan(&changed).Error; err != nil || changed == quiet {
		t.Fatalf("no sync after the event (last run %q): %v", changed, err)
	}
	if employeeRequests() == before {
		t.Fatal("no employees request after an employee.updated the feed recorded")
	}
	waitfor.Condition(t, 10*time.Second, "run "+changed+" to log that it walked the employees for the employee event", func() bool {
		return worker.has(`"msg":"employees walked"`, `"run":"`+changed+`"`, "employee or reconnection event")
	})
	rowcheck.Require(t, w.pool(), w.sim, company)

	// (3) The scheduler stopped: once its feed is stale, an incremental
	// sync reads the employees again.
	sendSignal(t, sched, syscall.SIGTERM)
	if !sched.exited(20 * time.Second) {
		t.Fatal("the scheduler did not stop on SIGTERM")
	}
	waitfor.Condition(t, 30*time.Second, "the events feed to be stale", func() bool {
		return count(`SELECT count(*) FROM gusto_events_cursor WHERE polled_at > now() - interval '5 seconds'`) == 0
	})
	before = employeeRequests()
	stale := incremental()
	if employeeRequests() == before {
		t.Fatal("no employees request with the events feed stale")
	}
	waitfor.Condition(t, 10*time.Second, "run "+stale+" to log that it walked the employees for the stale feed", func() bool {
		return worker.has(`"msg":"employees walked"`, `"run":"`+stale+`"`, "(stale)")
	})
	rowcheck.Require(t, w.pool(), w.sim, company)
}

// settled waits until no sync of company is queued or running: every task
// of the queues is done and no run of the company is pending or running
// (the scheduler enqueues syncs of its own, on its first tick and on data
// events).
func (w *world) settled(company string) {
	w.t.Helper()
	insp := asynq.NewInspectorFromRedisClient(w.redis.Client())
	waitfor.Condition(w.t, 60*time.Second, "the syncs of "+company+" to settle", func() bool {
		queues, err := insp.Queues()
		if err != nil {
			w.t.Fatalf("queues: %v", err)
		}
		for _, q := range queues {
			qi, err := insp.GetQueueInfo(q)
			if err != nil {
				w.t.Fatalf("queue %s: %v", q, err)
			}
			if qi.Pending+qi.Active+qi.Scheduled+qi.Retry > 0 {
				return false
			}
		}
		var busy int64
		if err := w.db.Gorm.Raw(`SELECT count(*) FROM sync_runs WHERE company_uuid = ? AND status IN ('pending', 'running')`, company).Scan(&busy).Error; err != nil {
			w.t.Fatal(err)
		}
		return busy == 0
	})
}
