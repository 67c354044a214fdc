package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/checkpoint"
)

// plan returns every window of the payroll walk of a full sync on today,
// when the company's stored long periods are known.
func plan(t *testing.T, today time.Time, years int, known []checkpoint.Period) []checkpoint.Window {
	t.Helper()
	w := WindowWalk{Start: payrollHistoryStart(today, years), Horizon: payrollHorizon(today), Today: today,
		Periods: func(context.Context, int) ([]checkpoint.Period, error) { return known, nil }}
	var out []checkpoint.Window
	prev := checkpoint.Window{}
	for {
		next, ok, err := payrollWindows{}.Next(context.Background(), w, prev)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		if len(out) > 200 {
			t.Fatalf("more than 200 windows: %v", out)
		}
		out = append(out, next)
		prev = next
	}
}

// returned reports whether window w returns a payroll of pay period
// [ps, pe] and check date check under a reading of Gusto's date filter
// (the simulator's four, gustosim.PayrollFilter), regularProcessed telling
// the payrolls the check-date filter applies to.
func returned(w checkpoint.Window, reading string, regularProcessed bool, ps, pe, check time.Time) bool {
	in := func(d time.Time) bool { return !d.Before(w.Start) && !d.After(w.End) }
	if w.Kind == checkpoint.WindowCheckDate {
		return regularProcessed && in(check)
	}
	if reading == "check_date" {
		if regularProcessed {
			return in(check)
		}
		reading = "within"
	}
	switch reading {
	case "start":
		return in(ps)
	case "overlap":
		return !ps.After(w.End) && !pe.Before(w.Start)
	}
	return in(ps) && in(pe)
}

// TestPayrollWindowsCoverEveryPayPeriod (invariant 11; issue 19 item 1):
// for pay periods of every length from a day to a year (weekly to annual
// schedules, long off-cycle and external periods) starting on any day of
// the history, with check dates up to 10 days after their end, under each
// of the four readings of Gusto's date filter, a full walk's windows return
// every payroll whose period ends by the horizon: the regular processed
// ones whatever is stored, the others once their long period is known
// (stored, or the period after a stored one of the same pay schedule). It
// also checks Gusto's limits: a window spans at most a year and never ends
// after three months from today.
func TestPayrollWindowsCoverEveryPayPeriod(t *testing.T) {
	lengths := []int{1, 7, 14, 15, 16, 28, 31, 46, 59, 62, 89, 90, 91, 92, 120, 181, 182, 184, 200, 300, 364, 365}
	readings := []string{"within", "start", "overlap", "check_date"}
	for _, today := range []time.Time{
		time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC),
	} {
		horizon := payrollHorizon(today)
		if limit := today.AddDate(0, 3, 0); horizon.After(limit) {
			t.Fatalf("today %s: horizon %s is past Gusto's limit %s", today.Format(time.DateOnly), horizon.Format(time.DateOnly), limit.Format(time.DateOnly))
		}
		from := payrollHistoryStart(today, 3)
		dates := PayrollWindows(today, 3)
		if len(dates) > 20 {
			t.Fatalf("%d date windows for 3 years of history", len(dates))
		}
		if !dates[0].Start.Equal(from) {
			t.Fatalf("first window starts %s, want %s", dates[0].Start.Format(time.DateOnly), from.Format(time.DateOnly))
		}
		check := func(windows []checkpoint.Window) {
			for _, w := range windows {
				if w.End.Before(w.Start) || w.End.After(w.Start.AddDate(1, 0, -1)) || w.End.After(horizon) {
					t.Fatalf("window %s %s..%s: longer than a year, empty, or past the horizon %s", w.Kind,
						w.Start.Format(time.DateOnly), w.End.Format(time.DateOnly), horizon.Format(time.DateOnly))
				}
			}
		}
		check(dates)
		for _, days := range lengths {
			for ps := from; ; ps = ps.AddDate(0, 0, 1) {
				pe := ps.AddDate(0, 0, days-1)
				if pe.After(horizon) {
					break
				}
				if pe.After(ps.AddDate(1, 0, -1)) {
					continue // longer than Gusto's longest (annual) period
				}
				period := checkpoint.Period{Group: "schedule", Start: ps, End: pe}
				var long []checkpoint.Window
				if days > payrollWindowOverlapDays {
					// The walk knows the period (a stored payroll of it),
					// or the one before it in its schedule.
					long = plan(t, today, 3, []checkpoint.Period{period})
					check(long)
				} else {
					long = dates
				}
				for lag := 0; lag <= 10; lag += 5 {
					checkDate := pe.AddDate(0, 0, lag)
					for _, reading := range readings {
						for _, regular := range []bool{true, false} {
							windows := long
							if regular && checkDate.After(horizon) {
								continue // a check date past the horizon: read by a later sync
							}
							if !covers(windows, reading, regular, ps, pe, checkDate) {
								t.Fatalf("today %s, reading %s, regular processed %v: a payroll of pay period %s..%s (%d days) paid %s is returned by no window",
									today.Format(time.DateOnly), reading, regular, ps.Format(time.DateOnly), pe.Format(time.DateOnly), days, checkDate.Format(time.DateOnly))
							}
						}
					}
				}
			}
		}
	}
}

// TestPayrollWindowsOnTheNextPeriod: the period that follows a stored one
// of its pay schedule (its payroll not yet processed, so not found by the
// check-date windows) gets a window of its own once it has begun, for
// quarterly, semiannual and annual schedules starting on any day.
func TestPayrollWindowsOnTheNextPeriod(t *testing.T) {
	today := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	horizon := payrollHorizon(today)
	for _, months := range []int{2, 3, 6, 12} {
		for ps := today.AddDate(-1, 0, 0); !ps.After(today); ps = ps.AddDate(0, 0, 1) {
			pe := ps.AddDate(0, months, -1)
			if pe.After(horizon) {
				continue
			}
			stored := checkpoint.Period{Group: "schedule", Start: ps.AddDate(0, -months, 0), End: ps.AddDate(0, 0, -1)}
			if !covers(plan(t, today, 3, []checkpoint.Period{stored}), "within", false, ps, pe, pe) {
				t.Fatalf("every %d months: the period %s..%s after the stored %s..%s gets no window", months,
					ps.Format(time.DateOnly), pe.Format(time.DateOnly), stored.Start.Format(time.DateOnly), stored.End.Format(time.DateOnly))
			}
		}
	}
}

func covers(windows []checkpoint.Window, reading string, regular bool, ps, pe, check time.Time) bool {
	for _, w := range windows {
		if returned(w, reading, regular, ps, pe, check) {
			return true
		}
	}
	return false
}
