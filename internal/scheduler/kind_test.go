package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/scheduler"
)

// kindsOf returns the kind of each company's task that match selects,
// keyed by company.
func kindsOf(t *testing.T, e *env, match func(queuedTask) bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, q := range allTasks(t, e.insp) {
		if match(q) {
			out[q.Company] = q.Kind
		}
	}
	return out
}

// TestFullSyncOnCadence: a company that never completed a full walk gets a
// full sync; one whose last full walk completed inside its current slot
// gets incremental syncs, every window, until its next slot starts
// (SYNC_FULL_EVERY later at most), when it gets a full one again; --full
// forces one whatever the cadence.
func TestFullSyncOnCadence(t *testing.T) {
	e := newEnv(t)
	ids := addCompanies(t, e.db.Gorm, 3, "active")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: start}
	const every = 7 * 24 * time.Hour
	s := e.scheduler(t, c, time.Hour, 0)
	ctx := context.Background()
	inWindow := func(at time.Time) func(queuedTask) bool {
		return func(q queuedTask) bool {
			return q.ID == scheduler.TaskID(q.Company, scheduler.WindowAt(q.Company, time.Hour, 0, at).Index)
		}
	}

	if _, err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if k := kindsOf(t, e, inWindow(start))[id]; k != "full" {
			t.Fatalf("company %s never fully synced: kind %q, want full", id, k)
		}
	}

	// ids[0] and ids[1] complete their full walk now; ids[2] never does.
	if err := e.db.Gorm.Exec(`INSERT INTO company_full_syncs (company_uuid, run_id, completed_at) SELECT u, gen_random_uuid(), ? FROM unnest(?::uuid[]) AS u`,
		start.Add(time.Minute), "{"+ids[0]+","+ids[1]+"}").Error; err != nil {
		t.Fatal(err)
	}
	// Every later window before the next slot of a company is incremental
	// for it; the first window at or after that slot start is full.
	slot := func(id string) time.Time { return scheduler.WindowAt(id, every, 1, start.Add(time.Minute)).End }
	fulls := map[string]int{}
	for h := 1; h <= 7*24+1; h++ {
		at := start.Add(time.Duration(h) * time.Hour)
		c.Set(at)
		if _, err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		kinds := kindsOf(t, e, inWindow(at))
		for _, id := range ids[:2] {
			want := "incremental"
			if !at.Before(slot(id)) {
				want = "full"
			}
			if kinds[id] != want {
				t.Fatalf("hour %d, company %s (slot starts %s): kind %q, want %q", h, id, slot(id).Format(time.RFC3339), kinds[id], want)
			}
			if want == "full" {
				fulls[id]++
			}
		}
		if kinds[ids[2]] != "full" {
			t.Fatalf("hour %d: the company that never completed a full walk got %q", h, kinds[ids[2]])
		}
	}
	for _, id := range ids[:2] {
		if fulls[id] == 0 {
			t.Fatalf("company %s got no full sync within %s of its last one", id, every)
		}
	}

	// A forced full sync, although the cadence says incremental.
	c.Set(start.Add(2 * time.Minute))
	if err := e.db.Gorm.Exec(`UPDATE company_full_syncs SET completed_at = ?`, start.Add(2*time.Minute)).Error; err != nil {
		t.Fatal(err)
	}
	before := map[string]bool{}
	for _, q := range allTasks(t, e.insp) {
		before[q.ID] = true
	}
	if _, err := s.EnqueueCompany(ctx, ids[0], true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueCompany(ctx, ids[1], false); err != nil {
		t.Fatal(err)
	}
	manual := kindsOf(t, e, func(q queuedTask) bool { return !before[q.ID] })
	if manual[ids[0]] != "full" || manual[ids[1]] != "incremental" || len(manual) != 2 {
		t.Fatalf("sync now: %v; want full for %s (forced), incremental for %s (fully synced a minute ago)", manual, ids[0], ids[1])
	}
}

// TestFullDueSpreadsAndBounds: FullDue spreads companies' full walks over the
// period, and never lets a company go more than the period (plus the walk)
// without one.
func TestFullDueSpreadsAndBounds(t *testing.T) {
	const every = 7 * 24 * time.Hour
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	perDay := make([]int, 7)
	for i := range 700 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		if !scheduler.FullDue(id, time.Time{}, every, t0) {
			t.Fatal("a company without a full walk is not due")
		}
		// Every company synced fully at t0: when is it next due?
		at := t0
		for !scheduler.FullDue(id, t0, every, at) {
			at = at.Add(time.Hour)
			if at.Sub(t0) > every {
				t.Fatalf("company %s not due %s after its last full walk", id, every)
			}
		}
		perDay[int(at.Sub(t0)/(24*time.Hour))%7]++
	}
	for d, n := range perDay {
		if n < 50 || n > 150 { // 100 expected per day
			t.Fatalf("full walks per day of the week %v: day %d has %d, not spread", perDay, d, n)
		}
	}
}
