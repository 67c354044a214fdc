package gustosim_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// Pay schedules of every frequency (issue 19 item 1): how each lays out its
// periods and check dates, long periods under every reading of the payroll
// date filter, and the long off-cycle and external payrolls.

func day(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wantPeriod checks that a regular payroll of frequency f has one of f's
// pay periods and a check date where Gusto's help center puts it.
func wantPeriod(t *testing.T, f gustosim.Frequency, p payrollRec) {
	t.Helper()
	start, end, check := day(t, p.Start), day(t, p.End), day(t, p.Check)
	lastOfMonth := func(d time.Time) time.Time { return time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC) }
	ok := true
	switch f {
	case gustosim.EveryWeek:
		ok = end.Sub(start) == 6*24*time.Hour
	case gustosim.EveryOtherWeek:
		ok = end.Sub(start) == 13*24*time.Hour
	case gustosim.TwicePerMonth:
		ok = start.Day() == 1 && end.Day() == 15 && start.Month() == end.Month() ||
			start.Day() == 16 && end.Equal(lastOfMonth(start))
	case gustosim.Monthly:
		ok = start.Day() == 16 && end.Day() == 15 && end.Equal(start.AddDate(0, 1, -1))
	case gustosim.Quarterly:
		ok = start.Day() == 1 && (start.Month()-1)%3 == 0 && end.Equal(start.AddDate(0, 3, -1))
	case gustosim.Annually:
		ok = start.Month() == 1 && start.Day() == 1 && end.Equal(start.AddDate(1, 0, -1))
	}
	if !ok {
		t.Fatalf("%s payroll %+v: not one of its pay periods", f, p)
	}
	switch f {
	case gustosim.Quarterly, gustosim.Annually: // the check date falls inside the period
		ok = !check.Before(start) && !check.After(end)
	case gustosim.TwicePerMonth:
		ok = !check.Before(end) && !check.After(end.AddDate(0, 0, 5))
	default:
		ok = check.After(end.AddDate(0, 0, 2)) && !check.After(end.AddDate(0, 0, 6))
	}
	if !ok {
		t.Fatalf("%s payroll %+v: check date not where Gusto puts it", f, p)
	}
}

func TestEveryPayScheduleFrequency(t *testing.T) {
	e := newEnv(t, nil) // Gusto's today: 2026-12-10
	today := "2026-12-10"
	for _, f := range gustosim.Frequencies {
		t.Run(string(f), func(t *testing.T) {
			g := e.company(gustosim.CompanyOptions{Employees: 1, Payrolls: 60, PaySchedules: []gustosim.Frequency{f}, HistoryMonths: 72})
			recs := payrollRecords(t, e.sim, g.CompanyUUID)
			if len(recs) != 60 {
				t.Fatalf("%d payrolls, want 60", len(recs))
			}
			bySchedule := map[string][]payrollRec{}
			current := false
			for _, p := range recs {
				if p.Frequency != string(f) || p.External || p.Schedule == "" {
					t.Fatalf("payroll %+v: want withholding_pay_period %q on a schedule", p, f)
				}
				if p.Processed != (addDays(t, p.Check, -2) <= today) {
					t.Fatalf("payroll %+v: processed two days before the check date, today %s", p, today)
				}
				if p.OffCycle {
					continue
				}
				wantPeriod(t, f, p)
				current = current || p.Start <= today && today <= p.End
				bySchedule[p.Schedule] = append(bySchedule[p.Schedule], p)
			}
			if !current {
				t.Fatal("no payroll for the current pay period")
			}
			// Each schedule's periods follow one another without gap or
			// overlap.
			for id, ps := range bySchedule {
				slices.SortFunc(ps, func(a, b payrollRec) int { return strings.Compare(a.Start, b.Start) })
				for i := 1; i < len(ps); i++ {
					if addDays(t, ps[i-1].End, 1) != ps[i].Start {
						t.Fatalf("schedule %s: period %s..%s then %s..%s", id, ps[i-1].Start, ps[i-1].End, ps[i].Start, ps[i].End)
					}
				}
			}
			// 60 annual or quarterly payrolls (at most two a period) do not fit one schedule's six
			// years: further schedules of the frequency fill the count.
			if want := map[gustosim.Frequency]bool{gustosim.Quarterly: true, gustosim.Annually: true}[f]; want != (len(bySchedule) > 1) {
				t.Fatalf("%d schedules for 60 payrolls in six years", len(bySchedule))
			}
		})
	}

	// A quarterly and an annual schedule; frequencies that Gusto lacks or
	// does not spell so are refused.
	g := e.company(gustosim.CompanyOptions{Employees: 1, Payrolls: 12, PaySchedules: []gustosim.Frequency{gustosim.Quarterly, gustosim.Annually}})
	seen := map[string]int{}
	for _, p := range payrollRecords(t, e.sim, g.CompanyUUID) {
		seen[p.Frequency]++
	}
	if len(seen) != 2 || seen["Quarterly"] == 0 || seen["Annually"] == 0 {
		t.Fatalf("quarterly and annual schedules: withholding pay periods %v", seen)
	}
	for _, bad := range []gustosim.Frequency{"Semiannually", "quarterly", "Daily"} {
		if _, err := e.sim.CreateCompany(gustosim.CompanyOptions{PaySchedules: []gustosim.Frequency{bad}}); !errors.Is(err, gustosim.ErrInvalidOptions) {
			t.Fatalf("schedule %q: %v", bad, err)
		}
	}
	if _, err := e.sim.CreateCompany(gustosim.CompanyOptions{HistoryMonths: gustosim.MaxHistoryMonths + 1}); !errors.Is(err, gustosim.ErrInvalidOptions) {
		t.Fatalf("history too long: %v", err)
	}
	if fs, err := gustosim.ParseFrequencies("weekly, Every other week,SEMIMONTHLY,monthly,quarterly,annually"); err != nil || !slices.Equal(fs, gustosim.Frequencies) {
		t.Fatalf("ParseFrequencies: %v %v", fs, err)
	}
	if _, err := gustosim.ParseFrequency("semiannually"); err == nil || !strings.Contains(err.Error(), "LongPayrolls") {
		t.Fatalf("ParseFrequency(semiannually): %v", err)
	}
}

// longCompany is a company with a schedule of every frequency, six years of
// history and the long off-cycle and external payrolls.
func (e *env) longCompany() (gustosim.Grant, []payrollRec) {
	e.t.Helper()
	g := e.company(gustosim.CompanyOptions{Employees: 2, Payrolls: 400, HistoryMonths: 72, LongPayrolls: true,
		PaySchedules: []gustosim.Frequency{gustosim.Quarterly, gustosim.Annually, gustosim.EveryWeek, gustosim.TwicePerMonth}})
	return g, payrollRecords(e.t, e.sim, g.CompanyUUID)
}

func TestLongPayrolls(t *testing.T) {
	e := newEnv(t, nil)
	_, recs := e.longCompany()
	var semi, external, schedule int
	for _, p := range recs {
		switch {
		case p.External:
			external++
			quarterStart := slices.Contains([]string{"01-01", "04-01", "07-01", "10-01"}, p.Start[5:])
			if !p.Processed || p.OffCycle || p.Schedule != "" || p.Check != p.End || !quarterStart || p.End >= "2020-12-10" {
				t.Fatalf("external payroll %+v: want a processed calendar quarter (up to the switch) paid on its last day, on no schedule", p)
			}
		case p.Frequency == gustosim.Semiannually:
			semi++
			h1 := p.Start[5:] == "01-01" && p.End[5:] == "06-30"
			h2 := p.Start[5:] == "07-01" && p.End[5:] == "12-31"
			if !p.OffCycle || p.Schedule != "" || !(h1 || h2) || p.Start[:4] != p.End[:4] || p.Check <= p.End || p.Check > addDays(t, p.End, 14) {
				t.Fatalf("semiannual payroll %+v: want an off-cycle half-year paid up to 14 days after", p)
			}
		default:
			schedule++
		}
	}
	// Six years back from 2026-12-10: the halves from 2021-H1 (2020-12-10 is
	// the switch) to 2026-H1; the external quarters of 2020 before the
	// switch.
	if semi != 11 || external != 4 || schedule != 400 {
		t.Fatalf("%d semiannual, %d external, %d scheduled payrolls; want 11, 4, 400", semi, external, schedule)
	}
}

// Long pay periods under every reading of the date filter: the simulator
// answers exactly what the reading says, for windows at every seam,
// back-to-back years and windows of every length, payroll types included.
func TestLongPeriodsUnderEveryReading(t *testing.T) {
	for reading, in := range readings {
		t.Run(string(reading), func(t *testing.T) {
			e := newEnv(t, func(c *gustosim.Config) { c.PayrollFilter = reading })
			g, recs := e.longCompany()
			var windows [][2]string
			for y := 2021; y <= 2026; y++ {
				windows = append(windows, [2]string{fmt.Sprintf("%d-01-01", y), fmt.Sprintf("%d-12-31", y)}) // a whole annual period
				windows = append(windows, [2]string{fmt.Sprintf("%d-02-15", y), fmt.Sprintf("%d-02-14", y+1)})
				windows = append(windows, [2]string{fmt.Sprintf("%d-05-01", y), fmt.Sprintf("%d-09-30", y)})
			}
			windows = append(windows, [2]string{"2020-06-01", "2021-05-31"}, [2]string{"2026-12-01", "2027-03-10"})
			types := "processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle,external"
			var annualWhole, straddling int
			for _, w := range windows {
				from, to := w[0], w[1]
				if to > "2027-03-10" {
					to = "2027-03-10" // Gusto's limit: three months ahead
				}
				got := e.payrollUUIDs(g, types+"&start_date="+from+"&end_date="+to)
				var want []string
				for _, p := range recs {
					if in(p, from, to) {
						want = append(want, p.UUID)
						annualWhole += btoi(p.Frequency == "Annually" && !p.OffCycle && p.Start == from)
					}
					straddling += btoi(p.Start < from && from <= p.End)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("window %s..%s: %d payrolls, want %d: %s", from, to, len(got), len(want), diff(got, want))
				}
			}
			if annualWhole == 0 || straddling == 0 {
				t.Fatalf("%d annual periods found whole, %d straddling a window's start: the test proves nothing", annualWhole, straddling)
			}
		})
	}
}
