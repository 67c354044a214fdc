package jobs

import (
	"context"
	"slices"
	"time"

	"github.com/gustosync/gustosync/internal/checkpoint"
)

// Payroll history is read through GET /v1/companies/{id}/payrolls with
// start_date and end_date, at most a year apart, end_date at most three
// months ahead. Gusto documents the filter as "payrolls whose pay period
// is after the start date" and "before the end date", which leaves open
// whether a pay period straddling a bound is returned (GUSTO.md, "Payroll
// date filters"). Under the literal reading ("within") a payroll comes back
// only when its whole pay period lies inside the range; the simulator also
// implements "period start inside", "any overlap" and "check date inside".
// Gusto's pay schedules run from weekly to annually, and off-cycle and
// external payrolls may cover any period: a pay period can be a year long,
// and a window of at most a year holds a year-long period only when it is
// placed exactly on it. So a walk is three kinds of windows, in order:
//
//  1. Pay-period windows (checkpoint.WindowPayPeriod): one year each,
//     consecutive ones overlapping by payrollWindowOverlapDays, more than
//     the longest short pay period (monthly, 31 days) plus the days a check
//     date trails its period's end: every payroll of such a period, its
//     check date included, lies wholly inside one of them under every
//     reading. Every status and payroll type.
//  2. Check-date windows (checkpoint.WindowCheckDate, date_filter_by=
//     check_date, which Gusto applies to regular processed payrolls):
//     tiling the same range, they return every regular processed payroll
//     by its check date, whatever the length of its pay period (quarterly,
//     semiannual, annual), under every reading.
//  3. Long-period windows (checkpoint.WindowLongPeriod): placed on the
//     long pay periods (over payrollWindowOverlapDays days) the company is
//     known to have: those of its stored payrolls (the check-date windows
//     have just stored its regular processed ones), and the period after
//     each pay schedule's latest one (its current payroll, unprocessed). A
//     window starts on such a period and spans a year from it (capped at
//     the horizon), so it holds every long period that fits. They bring in
//     the payrolls the first two kinds cannot under the literal reading:
//     unprocessed payrolls and off-cycle or external payrolls on a long
//     period.
//
// What no window can bring in under the literal reading: a payroll whose
// pay period ends after the horizon (an unprocessed annual payroll ends up
// to a year ahead; Gusto refuses an end_date more than three months ahead),
// and an off-cycle or external payroll on a long period the company has no
// regular payroll for. They are read once their period ends within the
// horizon, or (any other reading) by the pay-period windows. And a full
// walk marks a payroll deleted only when it lies wholly inside a window it
// walked, by that window's rule (checkpoint.PayrollsTable's Windows): a
// payroll the walk could not have seen is never marked.
//
// A payroll seen in several windows is upserted under its uuid each time,
// which is harmless (checkpoint.Attempt.Commit writes unchanged rows not at
// all).
const (
	// payrollWindowOverlapDays is how many days consecutive pay-period
	// windows share; periods longer than this are placed (kind 3).
	payrollWindowOverlapDays = 45
	// payrollHorizonMargin keeps end_date safely inside Gusto's "at most 3
	// months ahead": Gusto's calendar day may be a day behind ours.
	payrollHorizonMargin = 2 // days
	// dateOnly is Gusto's date format.
	dateOnly = time.DateOnly
)

// PayrollWindow is one request range, [Start, End] both inclusive dates,
// of a kind (checkpoint.WindowPayPeriod, WindowCheckDate, WindowLongPeriod).
type PayrollWindow = checkpoint.Window

// PayrollWindows holds invariant 11 (docs/invariants.md): it returns the
// date windows (kinds 1 and 2 above) a full sync started on today requests,
// in order, for years of history: each at most a year long, the pay-period
// ones overlapping the next by payrollWindowOverlapDays, the check-date ones
// tiling, each series ending at the horizon. Tests use it to tell the
// payrolls an uninterrupted sync fetches twice by design from those an
// interruption fetches again.
func PayrollWindows(today time.Time, years int) []PayrollWindow {
	return dateWindows(payrollHistoryStart(today, years), payrollHorizon(today))
}

// dateWindows are the windows of kinds 1 and 2 from start to horizon.
func dateWindows(start, horizon time.Time) []PayrollWindow {
	var out []PayrollWindow
	for w, ok := nextDateWindow(PayrollWindow{}, start, horizon); ok; w, ok = nextDateWindow(w, start, horizon) {
		out = append(out, w)
	}
	return out
}

// nextDateWindow is the date window after prev (the zero Window: the first)
// of a walk from start to horizon, and false after the last.
func nextDateWindow(prev PayrollWindow, start, horizon time.Time) (PayrollWindow, bool) {
	switch {
	case prev.Kind == "":
		return windowAt(checkpoint.WindowPayPeriod, start, horizon), true
	case prev.End.Before(horizon) && prev.Kind == checkpoint.WindowPayPeriod:
		return windowAt(checkpoint.WindowPayPeriod, prev.End.AddDate(0, 0, 1-payrollWindowOverlapDays), horizon), true
	case prev.Kind == checkpoint.WindowPayPeriod:
		return windowAt(checkpoint.WindowCheckDate, start, horizon), true
	case prev.End.Before(horizon) && prev.Kind == checkpoint.WindowCheckDate:
		return windowAt(checkpoint.WindowCheckDate, prev.End.AddDate(0, 0, 1), horizon), true
	}
	return PayrollWindow{}, false
}

// payrollHorizon is the last date a payroll window may end on: three months
// after today (Gusto's limit for end_date) less payrollHorizonMargin days.
func payrollHorizon(today time.Time) time.Time {
	d := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, 3, -payrollHorizonMargin)
}

// payrollHistoryStart is where the walk of a company's payroll history
// begins: the first of this month, years ago.
func payrollHistoryStart(today time.Time, years int) time.Time {
	return time.Date(today.Year()-years, today.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// windowAt returns the window of kind that starts at start: at most a year
// long (Gusto refuses longer ranges) and never past horizon.
func windowAt(kind string, start, horizon time.Time) PayrollWindow {
	end := start.AddDate(1, 0, -1)
	if end.After(horizon) {
		end = horizon
	}
	return PayrollWindow{Kind: kind, Start: start, End: end}
}

// WindowPolicy splits a resource's walk into date windows.
type WindowPolicy interface {
	// Next returns the window after prev (the zero Window: the first) of
	// the walk w, and false after the last.
	Next(ctx context.Context, w WindowWalk, prev checkpoint.Window) (checkpoint.Window, bool, error)
}

// WindowWalk is what a window policy knows of the walk it splits.
type WindowWalk struct {
	// Start is where the walk begins (the history a full run walks, or the
	// recent range of an incremental one), Horizon the last day a window
	// may end on, Today the day the run's walk is computed for.
	Start, Horizon, Today time.Time
	// Periods returns the company's stored periods of at least minDays
	// days (checkpoint.Store.Periods).
	Periods func(ctx context.Context, minDays int) ([]checkpoint.Period, error)
}

// payrollWindows is PayrollsResource's window policy (the three kinds
// above).
type payrollWindows struct{}

// Next implements WindowPolicy.
func (payrollWindows) Next(ctx context.Context, w WindowWalk, prev checkpoint.Window) (checkpoint.Window, bool, error) {
	if prev.Kind != checkpoint.WindowLongPeriod {
		if next, ok := nextDateWindow(prev, w.Start, w.Horizon); ok {
			return next, true, nil
		}
	}
	periods, err := w.Periods(ctx, payrollWindowOverlapDays)
	if err != nil {
		return checkpoint.Window{}, false, err
	}
	long := longPeriods(periods, w.Start, w.Horizon, w.Today)
	for _, p := range long {
		// The first period not held by the previous window (windows start
		// on periods, in order, and span as much as Gusto allows).
		if prev.Kind == checkpoint.WindowLongPeriod && (!p.Start.After(prev.Start) || !p.End.After(prev.End)) {
			continue
		}
		return windowAt(checkpoint.WindowLongPeriod, p.Start, w.Horizon), true, nil
	}
	return checkpoint.Window{}, false, nil
}

// longPeriods are the periods to place windows on, by start: the stored
// ones, and each series' next period after its latest when that has
// begun by today; only those a window can hold (at most a year, ending by
// the horizon) and that end on or after start.
func longPeriods(stored []checkpoint.Period, start, horizon, today time.Time) []checkpoint.Period {
	latest := map[string]checkpoint.Period{}
	for _, p := range stored {
		if l, ok := latest[p.Group]; p.Group != "" && (!ok || p.Start.After(l.Start)) {
			latest[p.Group] = p
		}
	}
	all := slices.Clone(stored)
	for _, l := range latest {
		if next := nextPeriod(l); !next.Start.After(today) {
			all = append(all, next)
		}
	}
	var out []checkpoint.Period
	for _, p := range all {
		if p.End.After(horizon) || p.End.Before(start) || p.End.After(p.Start.AddDate(1, 0, -1)) {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b checkpoint.Period) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	return slices.CompactFunc(out, func(a, b checkpoint.Period) bool { return a.Start.Equal(b.Start) && a.End.Equal(b.End) })
}

// nextPeriod is the period following p in its series: as many whole
// months later when p spans whole months (quarterly: the first of a month
// to the last of the third), else as many days.
func nextPeriod(p checkpoint.Period) checkpoint.Period {
	start := p.End.AddDate(0, 0, 1)
	for m := 1; m <= 12; m++ {
		if p.Start.AddDate(0, m, 0).Equal(start) {
			return checkpoint.Period{Group: p.Group, Start: start, End: start.AddDate(0, m, -1)}
		}
	}
	days := int(p.End.Sub(p.Start).Hours()/24) + 1
	return checkpoint.Period{Group: p.Group, Start: start, End: start.AddDate(0, 0, days-1)}
}
