package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/scheduler"
)

// BenchmarkRequestsPerCompanyDay counts the Gusto API requests one company
// costs per day on an hourly schedule: every sync full (what every sync was
// before incremental syncs), against incremental syncs with the weekly full
// reconciliation amortized. The fulls per day come from the scheduler's own
// cadence (scheduler.FullDue, SYNC_FULL_EVERY=168h) over four weeks of
// hourly windows. Requests are counted by the simulator (real HTTP, real
// PostgreSQL), per sync kind, for each company shape: employees, and the
// simulator's default payroll history (three years, ~43 payrolls a year)
// walked over the worker's default six years of windows.
func BenchmarkRequestsPerCompanyDay(b *testing.B) {
	for _, shape := range []struct {
		name      string
		employees int
	}{{"employees=20", 20}, {"employees=200", 200}} {
		b.Run(shape.name, func(b *testing.B) {
			e := newEnv(b, envOptions{sim: gustosim.Config{RateLimit: -1}, logLevel: slog.LevelWarn})
			h := e.handler(nil)
			ctx := context.Background()
			var full, inc int64
			for b.Loop() {
				company := e.company(shape.employees, gustosim.DefaultPayrolls, nil)
				count := func(kind checkpoint.Kind) int64 {
					before := e.sim.Counters().Requests[company]
					if err := h.ProcessTask(ctx, kindTask(b, company, uuid.NewString(), kind)); err != nil {
						b.Fatal(err)
					}
					return e.sim.Counters().Requests[company] - before
				}
				full = count(checkpoint.KindFull)
				inc = count(checkpoint.KindIncremental)
			}
			fullsPerDay := fullSyncsPerDay(uuid.NewString(), scheduler.DefaultFullEvery)
			perDayFull := 24 * float64(full)
			perDayInc := fullsPerDay*float64(full) + (24-fullsPerDay)*float64(inc)
			b.ReportMetric(float64(full), "full-requests/sync")
			b.ReportMetric(float64(inc), "incremental-requests/sync")
			b.ReportMetric(fullsPerDay, "fulls/day")
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
