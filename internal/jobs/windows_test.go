package jobs

import (
	"testing"
	"time"
)

// TestPayrollWindowsCoverEveryPayPeriod walks the windows a sync requests and
// checks, for every pay period of up to 31 days starting on any day of the
// history (and its check date up to 10 days later), that at least one window
// holds the whole period and the check date: then no reading of Gusto's
// date filter can drop it at a seam. It also checks Gusto's limits: a window
// spans at most a year and never ends after three months from today.
func TestPayrollWindowsCoverEveryPayPeriod(t *testing.T) {
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
		windows := PayrollWindows(today, 3)
		if len(windows) > 100 {
			t.Fatalf("%d windows for 3 years of history", len(windows))
		}
		if !windows[0].Start.Equal(from) {
			t.Fatalf("first window starts %s, want %s", windows[0].Start.Format(time.DateOnly), from.Format(time.DateOnly))
		}
		for i, w := range windows {
			if w.End.Before(w.Start) {
				t.Fatalf("window %v ends before it starts", w)
			}
			if w.End.After(w.Start.AddDate(1, 0, -1)) {
				t.Fatalf("window %s..%s is longer than a year", w.Start.Format(time.DateOnly), w.End.Format(time.DateOnly))
			}
			if i > 0 && !w.Start.After(windows[i-1].Start) {
				t.Fatalf("window %d starts at %s, not after the previous one: the walk would not advance", i, w.Start.Format(time.DateOnly))
			}
		}
		if last := windows[len(windows)-1]; !last.End.Equal(horizon) {
			t.Fatalf("last window ends %s, want the horizon %s", last.End.Format(time.DateOnly), horizon.Format(time.DateOnly))
		}
		const longestPeriod, longestCheckLag = 31, 10
		for ps := from; ; ps = ps.AddDate(0, 0, 1) {
			last := ps.AddDate(0, 0, longestPeriod-1+longestCheckLag)
			if last.After(horizon) {
				break
			}
			covered := false
			for _, w := range windows {
				if !ps.Before(w.Start) && !last.After(w.End) {
					covered = true
					break
				}
			}
			if !covered {
				t.Fatalf("today %s: a pay period from %s with its check date on %s lies wholly inside no window %v",
					today.Format(time.DateOnly), ps.Format(time.DateOnly), last.Format(time.DateOnly), windows)
			}
		}
	}
}
