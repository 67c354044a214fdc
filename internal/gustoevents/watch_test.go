package gustoevents_test

import (
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustoevents"
)

// TestEmployeeWatch: nothing is vouched for before the feed completes a
// poll; after one, a company with no employee event is quiet, while
// employee.* and employee_* events (not payroll.* ones) and
// company.provisioned about it end its quiet since before they were
// recorded, less the margin; a feed whose last complete poll is stale
// vouches for nothing.
func TestEmployeeWatch(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.onboard(), e.onboard(), e.onboard()
	feed, err := gustoevents.NewFeed(gustoevents.FeedConfig{DB: e.db.Gorm, Handler: e.handler, Store: e.store, Events: lister{e.client, e.sys}})
	if err != nil {
		t.Fatal(err)
	}
	poll := func() {
		t.Helper()
		if _, err := feed.Poll(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	w := gustoevents.NewEmployeeWatch(e.db.Gorm, gustoevents.WatchOptions{Margin: time.Minute})
	dbNow := func() time.Time {
		t.Helper()
		var now time.Time
		if err := e.db.Gorm.Raw(`SELECT now()`).Scan(&now).Error; err != nil {
			t.Fatal(err)
		}
		return now
	}
	quiet := func(company string, since time.Time) (bool, string) {
		t.Helper()
		q, why, err := w.EmployeesQuiet(e.ctx, company, since)
		if err != nil {
			t.Fatal(err)
		}
		return q, why
	}

	start := dbNow()
	if q, why := quiet(a, start); q || why == "" {
		t.Fatalf("before any poll: quiet %v (%q), want not quiet, with a reason", q, why)
	}
	poll()
	if q, _ := quiet(a, start); q {
		t.Fatal("company.provisioned (the grant made) recorded after the read began did not end the quiet")
	}
	// A read begun a minute after that: quiet.
	start = dbNow().Add(time.Minute)
	if q, why := quiet(a, start); !q {
		t.Fatalf("after a poll, no employee event: not quiet (%s)", why)
	}
	if _, err := e.sim.EmitEvent(a, "payroll.processed", "Payroll", a); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.EmitEvent(b, "employee_job_compensation.updated", "EmployeeJobCompensation", b); err != nil {
		t.Fatal(err)
	}
	poll()
	if q, why := quiet(a, start); !q {
		t.Fatalf("a payroll event ended the employees' quiet: %s", why)
	}
	if q, _ := quiet(b, start); q {
		t.Fatal("employee_job_compensation.updated did not end the employees' quiet")
	}
	// The event was recorded seconds ago: a read begun now is within the
	// margin of it; one begun two minutes on is not.
	if q, _ := quiet(b, dbNow()); q {
		t.Fatal("an event recorded within the margin before the read counted as older than it")
	}
	if q, why := quiet(b, dbNow().Add(2*time.Minute)); !q {
		t.Fatalf("an event recorded before the read less the margin still counted: %s", why)
	}
	// A reconnection ends the quiet.
	if _, err := e.sim.EmitEvent(a, gustoevents.ReconnectEvent, "", ""); err != nil {
		t.Fatal(err)
	}
	poll()
	if q, _ := quiet(a, start); q {
		t.Fatal("company.provisioned did not end the employees' quiet")
	}
	// Stale.
	if q, why := quiet(c, start); !q {
		t.Fatalf("c, no event: not quiet (%s)", why)
	}
	if err := e.db.Gorm.Exec(`UPDATE gusto_events_cursor SET polled_at = polled_at - interval '6 minutes'`).Error; err != nil {
		t.Fatal(err)
	}
	if q, _ := quiet(c, start); q {
		t.Fatal("a stale feed vouched for quiet")
	}
	poll()
	if q, why := quiet(c, start); !q {
		t.Fatalf("a fresh poll did not restore the feed's word: %s", why)
	}
}
