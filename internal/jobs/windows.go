package jobs

import (
	"time"
)

// Payroll history is read through GET /v1/companies/{id}/payrolls with
// start_date and end_date. Gusto documents the filter as "payrolls whose pay
// period is after the start date" and "before the end date", which leaves
// open whether a pay period straddling a bound is returned (GUSTO.md,
// "Payroll date filters"). Under the literal reading, a payroll comes back
// only when its whole pay period lies inside the range, so back-to-back
// windows would drop every payroll whose pay period straddles a seam.
//
// The windows below are correct under every reading (whole period inside,
// period start inside, any overlap, check date inside): consecutive windows
// overlap by payrollWindowOverlapDays, more than the longest pay period
// (monthly: 31 days) plus the days a check date may trail its period's end,
// so every pay period, and its check date, lies wholly inside at least one
// window. A payroll seen in two windows is upserted twice under its uuid,
// which is harmless (checkpoint.Attempt.Commit writes unchanged rows not at
// all).
const (
	// payrollWindowOverlapDays is how many days consecutive windows share.
	payrollWindowOverlapDays = 45
	// payrollHorizonMargin keeps end_date safely inside Gusto's "at most 3
	// months ahead": Gusto's calendar day may be a day behind ours.
	payrollHorizonMargin = 2 // days
)

// PayrollWindow is one [Start, End] request range, both inclusive dates.
type PayrollWindow struct{ Start, End time.Time }

// PayrollWindows holds invariant 11 (docs/invariants.md): it returns the
// windows a sync started on today requests, in order, for years of
// history: each at most a year long, overlapping the next by
// payrollWindowOverlapDays, the last ending at the horizon. Tests
// use it to tell the payrolls an uninterrupted sync fetches twice by design
// from those an interruption fetches again.
func PayrollWindows(today time.Time, years int) []PayrollWindow {
	var out []PayrollWindow
	horizon := payrollHorizon(today)
	for start := payrollHistoryStart(today, years); ; {
		w, last := windowAt(start, horizon)
		out = append(out, w)
		if last {
			return out
		}
		start = nextWindowStart(w)
	}
}

// payrollHorizon is the last date a payroll window may end on: three months
// after today (Gusto's limit for end_date) less payrollHorizonMargin days.
func payrollHorizon(today time.Time) time.Time {
	return today.AddDate(0, 3, -payrollHorizonMargin)
}

// payrollHistoryStart is where the walk of a company's payroll history
// begins: the first of this month, years ago.
func payrollHistoryStart(today time.Time, years int) time.Time {
	return time.Date(today.Year()-years, today.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// windowAt returns the window that starts at start: at most a year long
// (Gusto refuses longer ranges) and never past horizon. last reports that it
// reaches the horizon, so no window follows.
func windowAt(start, horizon time.Time) (w PayrollWindow, last bool) {
	end := start.AddDate(1, 0, -1)
	if !end.Before(horizon) {
		return PayrollWindow{Start: start, End: horizon}, true
	}
	return PayrollWindow{Start: start, End: end}, false
}

// nextWindowStart is where the window after w starts: overlapping w by
// payrollWindowOverlapDays.
func nextWindowStart(w PayrollWindow) time.Time {
	return w.End.AddDate(0, 0, 1-payrollWindowOverlapDays)
}
