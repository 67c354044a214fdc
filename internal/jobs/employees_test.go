package jobs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
)

// feed is the events feed the scheduler runs, polled on demand: GET
// /v1/events at the simulator with a system token, each event handled
// (claimed in gusto_events) by the real Handler.
func (e *env) feed() func() {
	e.t.Helper()
	store := gustoevents.NewStore(e.db.Gorm, nil)
	h, err := gustoevents.NewHandler(gustoevents.Config{Store: store, Revoker: e.store, By: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	f, err := gustoevents.NewFeed(gustoevents.FeedConfig{DB: e.db.Gorm, Handler: h, Store: store,
		Events: systemEvents{e.client, gusto.NewSystemTokens(e.client)}})
	if err != nil {
		e.t.Fatal(err)
	}
	return func() {
		e.t.Helper()
		if _, err := f.Poll(context.Background()); err != nil {
			e.t.Fatal(err)
		}
	}
}

type systemEvents struct {
	c   *gusto.Client
	src *gusto.SystemTokens
}

func (s systemEvents) Events(ctx context.Context, q gusto.EventsQuery) ([]gusto.Event, error) {
	return s.c.Events(ctx, s.src, q)
}

// employeeRequests counts the employee list requests among reqs.
func employeeRequests(reqs []*http.Request) int {
	n := 0
	for _, r := range reqs {
		if strings.HasSuffix(r.URL.Path, "/employees") {
			n++
		}
	}
	return n
}

// TestIncrementalEmployeesOnGustosWord (invariant "an incremental sync
// skips the employees only on Gusto's word"): after a full sync, an
// incremental sync reads no employee while the events feed is healthy and
// no employee event came; an employee changed in Gusto with its
// employee.updated event is read by the next incremental sync (and, the
// event being within the margin of that read's start, by the one after);
// a change Gusto sends no event for is read once the last read is older
// than the max age; a stale feed, and every full sync, read every employee.
func TestIncrementalEmployeesOnGustosWord(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}, wrap: log.wrap})
	ctx := testCtx(t, 2*time.Minute)
	company := e.company(120, 40, nil)
	poll := e.feed()
	h := e.handler(func(c *jobs.Config) {
		c.EmployeeEvents = gustoevents.NewEmployeeWatch(e.db.Gorm, gustoevents.WatchOptions{})
		c.PageSize = 25 // several employee pages
	})
	sync := func(kind checkpoint.Kind) int {
		t.Helper()
		log.take()
		if err := h.ProcessTask(ctx, kindTask(t, company, uuid.NewString(), kind)); err != nil {
			t.Fatal(err)
		}
		return employeeRequests(log.take())
	}

	poll()
	e.onboardedLongAgo(company)
	if n := sync(checkpoint.KindFull); n == 0 {
		t.Fatal("the full sync read no employee")
	}
	e.requireExact(company)
	poll()
	if n := sync(checkpoint.KindIncremental); n != 0 {
		t.Fatalf("incremental sync with a healthy feed and no employee event: %d employee requests, want 0", n)
	}
	e.requireExact(company)

	// Changed in Gusto, with its event: the next incremental sync reads it.
	ids, err := e.sim.Records(company, "employees")
	if err != nil {
		t.Fatal(err)
	}
	changed := uuidOf(t, ids[7])
	if _, err := e.sim.UpdateEmployee(company, changed, false); err != nil {
		t.Fatal(err)
	}
	poll()
	if n := sync(checkpoint.KindIncremental); n == 0 {
		t.Fatal("an employee changed with its event was not read by the next incremental sync")
	}
	e.requireExact(company)
	// The event was recorded just before that read began: within the margin,
	// so it forces the next read too (a change Gusto made visible after its
	// event may have been missed).
	if n := sync(checkpoint.KindIncremental); n == 0 {
		t.Fatal("an event within the margin of the last read's start did not force a read")
	}
	// An hour on, the event is older than the read less the margin.
	e.exec(`UPDATE gusto_events SET claimed_at = claimed_at - interval '1 hour' WHERE company_uuid = ?`, company)
	if n := sync(checkpoint.KindIncremental); n != 0 {
		t.Fatalf("no employee event since the last read: %d employee requests, want 0", n)
	}

	// A change Gusto sends no event for: unseen until the read is too old.
	quiet := uuidOf(t, ids[11])
	if _, err := e.sim.UpdateEmployee(company, quiet, true); err != nil {
		t.Fatal(err)
	}
	poll()
	if n := sync(checkpoint.KindIncremental); n != 0 {
		t.Fatalf("no event, read younger than the max age: %d employee requests, want 0", n)
	}
	if e.employeeVersion(quiet) == e.simEmployeeVersion(company, quiet) {
		t.Fatal("the quietly changed employee is already up to date: the test shows nothing")
	}
	e.exec(`UPDATE company_employee_reads SET started_at = started_at - ? * interval '1 second' WHERE company_uuid = ?`,
		jobs.DefaultEmployeesMaxAge.Seconds(), company)
	if n := sync(checkpoint.KindIncremental); n == 0 {
		t.Fatal("a read older than the max age did not force a read")
	}
	e.requireExact(company)

	// The feed stale: every incremental sync reads the employees.
	poll()
	if n := sync(checkpoint.KindIncremental); n != 0 {
		t.Fatalf("healthy again: %d employee requests, want 0", n)
	}
	e.exec(`UPDATE gusto_events_cursor SET polled_at = polled_at - ? * interval '1 second'`, (gustoevents.DefaultFeedStale + time.Second).Seconds())
	if n := sync(checkpoint.KindIncremental); n == 0 {
		t.Fatal("a stale events feed did not force a read")
	}

	// A full sync always reads everything.
	poll()
	if n := sync(checkpoint.KindFull); n == 0 {
		t.Fatal("a full sync skipped the employees")
	}
	e.requireExact(company)
}

func uuidOf(t testing.TB, rec json.RawMessage) string {
	t.Helper()
	var v struct{ UUID string }
	if err := json.Unmarshal(rec, &v); err != nil || v.UUID == "" {
		t.Fatalf("record without a uuid: %v", err)
	}
	return v.UUID
}

// onboardedLongAgo ages the company's events (company.provisioned, from
// the grant) by an hour: onboarding happened long before its first sync,
// beyond the margin of its first employees read.
func (e *env) onboardedLongAgo(company string) {
	e.t.Helper()
	e.exec(`UPDATE gusto_events SET claimed_at = claimed_at - interval '1 hour' WHERE company_uuid = ?`, company)
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	res := e.db.Gorm.Exec(q, args...)
	if res.Error != nil || res.RowsAffected == 0 {
		e.t.Fatalf("%s: %v (%d rows)", q, res.Error, res.RowsAffected)
	}
}

func (e *env) employeeVersion(id string) string {
	e.t.Helper()
	return e.scalar(`SELECT version FROM gusto_employees WHERE uuid = ?`, id)
}

func (e *env) simEmployeeVersion(company, id string) string {
	e.t.Helper()
	recs, err := e.sim.Records(company, "employees")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range recs {
		var v struct{ UUID, Version string }
		if err := json.Unmarshal(r, &v); err != nil {
			e.t.Fatal(err)
		}
		if v.UUID == id {
			return v.Version
		}
	}
	e.t.Fatalf("employee %s not in the simulator", id)
	return ""
}

// TestMismatchedEmployeesWalkIsNoRead: a full walk whose employee pages
// disagree with Gusto's pagination headers records no read, so the next
// incremental sync, with a healthy feed and no event, reads the employees
// all the same.
func TestMismatchedEmployeesWalkIsNoRead(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	e := newEnv(t, envOptions{sim: gustosim.Config{RateLimit: -1}, wrap: func(next http.Handler) http.Handler { return log.wrap(overstateTotal(next)) }})
	ctx := testCtx(t, time.Minute)
	company := e.company(120, 10, nil)
	poll := e.feed()
	poll()
	e.onboardedLongAgo(company)
	h := e.handler(func(c *jobs.Config) {
		c.EmployeeEvents = gustoevents.NewEmployeeWatch(e.db.Gorm, gustoevents.WatchOptions{})
	})
	if err := h.ProcessTask(ctx, kindTask(t, company, uuid.NewString(), checkpoint.KindFull)); err != nil {
		t.Fatal(err)
	}
	if n := e.scalar(`SELECT count(*)::text FROM company_employee_reads WHERE company_uuid = ?`, company); n != "0" {
		t.Fatal("a walk that disagreed with Gusto's headers was recorded as a read")
	}
	poll()
	log.take()
	if err := h.ProcessTask(ctx, kindTask(t, company, uuid.NewString(), checkpoint.KindIncremental)); err != nil {
		t.Fatal(err)
	}
	if n := employeeRequests(log.take()); n == 0 {
		t.Fatal("the incremental sync skipped the employees after a walk that disagreed with Gusto's headers")
	}
}
