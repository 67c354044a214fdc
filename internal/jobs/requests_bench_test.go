package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/scheduler"
)

// The model of a company's day behind BenchmarkRequestsPerCompanyDay, each
// figure stated, each chosen against the incremental side.
const (
	// benchFleet is the fleet the events feed's requests are shared by.
	benchFleet = 1000
	// benchEmployeesPerChange: a company makes one burst of employee
	// changes a day per this many employees, at least one (20 employees: 1
	// a day; 200: 4 a day). A burst is what one event-driven sync picks up
	// (events within gustoevents.DefaultSyncDebounce of each other).
	benchEmployeesPerChange = 50
	// benchPayrollSyncsPerDay: event-driven syncs a day from payroll.*
	// events (a payroll every week or two emits a handful, debounced).
	benchPayrollSyncsPerDay = 1
	// benchSystemTokensPerDay: the feed's system access tokens (a token
	// lives two hours).
	benchSystemTokensPerDay = 12
)

// BenchmarkRequestsPerCompanyDay counts the Gusto API requests one company
// costs per day on an hourly schedule: every sync full (what every sync was
// before incremental syncs), against incremental syncs with the weekly full
// reconciliation amortized and the employees read only on Gusto's word
// (package jobs, "Employees on Gusto's word"). The fulls per day come from
// the scheduler's own cadence (scheduler.FullDue, SYNC_FULL_EVERY=168h)
// over four weeks of hourly windows. Requests are counted by the simulator
// (real HTTP, real PostgreSQL, the real events feed and watch), per kind of
// sync, for each company shape: employees, and the simulator's default
// payroll history (three years, ~43 payrolls a year) walked over the
// worker's default six years of windows.
//
// The incremental side's day, from those measured costs:
//
//   - the hourly incremental syncs, each reading the recent payroll window
//     and no employee (skip);
//   - per burst of employee changes (benchEmployeesPerChange): one
//     event-driven sync that reads the employees (walk), the next hourly
//     sync reading them again (the event lies within the margin of the
//     first read's start), and, with probability margin/1h, the one after;
//   - one employees read a day for the max age (SYNC_EMPLOYEES_MAX_AGE,
//     24h), counted even on days whose events already refreshed the read;
//   - benchPayrollSyncsPerDay event-driven syncs (skip);
//   - the events feed: a poll every gustoevents.DefaultFeedPeriod and its
//     system tokens, shared by benchFleet companies (the event pages are
//     negligible: a hundred events a page).
//
// The all-full side gets none of the event-driven syncs and no feed.
func BenchmarkRequestsPerCompanyDay(b *testing.B) {
	for _, shape := range []struct {
		name      string
		employees int
	}{{"employees=20", 20}, {"employees=200", 200}} {
		b.Run(shape.name, func(b *testing.B) {
			e := newEnv(b, envOptions{sim: gustosim.Config{RateLimit: -1}, logLevel: slog.LevelWarn})
			h := e.handler(func(c *jobs.Config) {
				c.EmployeeEvents = gustoevents.NewEmployeeWatch(e.db.Gorm, gustoevents.WatchOptions{})
			})
			poll := e.feed()
			ctx := context.Background()
			var full, walk, skip int64
			for b.Loop() {
				company := e.company(shape.employees, gustosim.DefaultPayrolls, nil)
				poll()
				e.onboardedLongAgo(company)
				count := func(kind checkpoint.Kind) int64 {
					before := e.sim.Counters().Requests[company]
					if err := h.ProcessTask(ctx, kindTask(b, company, uuid.NewString(), kind)); err != nil {
						b.Fatal(err)
					}
					return e.sim.Counters().Requests[company] - before
				}
				full = count(checkpoint.KindFull)
				skip = count(checkpoint.KindIncremental)
				recs, err := e.sim.Records(company, "employees")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.sim.UpdateEmployee(company, uuidOf(b, recs[0]), false); err != nil {
					b.Fatal(err)
				}
				poll()
				walk = count(checkpoint.KindIncremental)
			}
			if walk <= skip {
				b.Fatalf("an incremental sync after an employee event made %d requests, one without %d: the walk was not skipped or not made", walk, skip)
			}
			fullsPerDay := fullSyncsPerDay(uuid.NewString(), scheduler.DefaultFullEvery)
			hourly := 24 - fullsPerDay
			changes := max(1, float64(shape.employees)/benchEmployeesPerChange)
			walksPerChange := 2 + float64(gustoevents.DefaultEventMargin)/float64(time.Hour)
			hourlyWalks := changes*(walksPerChange-1) + 1 // the event-driven sync's own walk is its own sync
			eventSyncs := changes + benchPayrollSyncsPerDay
			feed := (float64(24*time.Hour/gustoevents.DefaultFeedPeriod) + benchSystemTokensPerDay) / benchFleet
			perDayFull := 24 * float64(full)
			perDayInc := fullsPerDay*float64(full) + hourly*float64(skip) + hourlyWalks*float64(walk-skip) +
				changes*float64(walk) + benchPayrollSyncsPerDay*float64(skip) + feed
			b.ReportMetric(float64(full), "full-requests/sync")
			b.ReportMetric(float64(walk), "incremental-requests/sync")
			b.ReportMetric(float64(skip), "incremental-skip-requests/sync")
			b.ReportMetric(fullsPerDay, "fulls/day")
			b.ReportMetric(changes*walksPerChange+1, "employee-reads/day")
			b.ReportMetric(eventSyncs, "event-syncs/day")
			b.ReportMetric(feed, "feed-requests/day")
			b.ReportMetric(perDayFull, "full-every-sync-requests/day")
			b.ReportMetric(perDayInc, "incremental-requests/day")
			b.ReportMetric(perDayFull/perDayInc, "reduction")
		})
	}
}

// fullSyncsPerDay replays four weeks of hourly windows of company through
// scheduler.FullDue, each full sync completing in its window, and returns the
// full syncs per day (the first, onboarding, full sync not counted).
func fullSyncsPerDay(company string, every time.Duration) float64 {
	t0 := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
	last := t0 // the onboarding full sync
	fulls := 0
	const hours = 4 * 7 * 24
	for h := 1; h <= hours; h++ {
		at := t0.Add(time.Duration(h) * time.Hour)
		if scheduler.FullDue(company, last, every, at) {
			fulls++
			last = at
		}
	}
	return float64(fulls) / (hours / 24)
}
