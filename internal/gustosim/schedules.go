package gustosim

import (
	"fmt"
	"strings"
	"time"
)

// Pay schedules. Gusto's pay schedule frequencies are, in its reference,
// "Every week", "Every other week", "Twice per month", "Monthly",
// "Quarterly" and "Annually" (schema Pay-Schedule-Frequency of
// gusto/openapi.yaml; PayScheduleFrequency, a closed enum, in the
// 2026-06-15 SDK @gusto/embedded-api-v-2026-06-15), the six Gusto's help
// center lists ("We support the following pay schedule frequencies: weekly,
// biweekly, semimonthly, monthly, quarterly, and annual schedules",
// https://support.gusto.com/payroll/payroll-settings/Payroll-Schedules/1066219721/Change-your-pay-schedule.htm).
// "Semiannually" is no pay-schedule frequency: it is only a
// withholding_pay_period, the tax rate an off-cycle payroll is computed at
// (schema Payroll-Withholding-Pay-Period-Type; the off-cycle payroll
// request of operation post-v1-companies-company_id-payrolls). The
// simulator serves half-year pay periods as such off-cycle payrolls
// (CompanyOptions.LongPayrolls), never as a schedule.
//
// How each frequency lays out its pay periods and check dates follows
// Gusto's help center, "Pay schedule frequencies"
// (https://support.gusto.com/payroll/payroll-settings/Payroll-Schedules/1007588061/Pay-schedule-frequencies.htm):
//
//   - Every week, Every other week: 7- and 14-day periods from an anchor
//     day; the check date 3 to 6 days after the period ends ("paying in
//     arrears").
//   - Twice per month: the 1st to the 15th and the 16th to the month's last
//     day ("twice per month on two specific dates of the month", e.g. the
//     15th and the last day: day_1 and day_2); the check date 0 to 5 days
//     after the period ends.
//   - Monthly: the 16th to the 15th of the next month, the check date 3 to
//     6 days after (day_1).
//   - Quarterly: "Quarterly pay schedules align to calendar quarters, a check
//     date in a given month will apply to the wages earned for the pay
//     period it fell in" (a January 2nd check date pays January 1 - March
//     31): the check date lies inside the period, 1 to 80 days after its
//     start.
//   - Annually: "The pay period will always be defined as January 1 through
//     December 31. The check date will be determined by the payroll
//     administrator" (a June 30th check date): inside the year, 0 to 360
//     days after January 1.
//
// So the check date of a quarterly or annual payroll comes before its pay
// period ends, and a payroll is often processed before its period is over.

// Frequency is a pay schedule's frequency, named as Gusto names it.
type Frequency string

// Gusto's pay schedule frequencies (schema Pay-Schedule-Frequency).
const (
	EveryWeek      Frequency = "Every week"
	EveryOtherWeek Frequency = "Every other week"
	TwicePerMonth  Frequency = "Twice per month"
	Monthly        Frequency = "Monthly"
	Quarterly      Frequency = "Quarterly"
	Annually       Frequency = "Annually"
)

// Semiannually is a withholding pay period, not a schedule frequency (see
// above): the withholding_pay_period of the half-year off-cycle payrolls
// of CompanyOptions.LongPayrolls.
const Semiannually = "Semiannually"

// Frequencies are every pay schedule frequency, weekly to annually.
var Frequencies = []Frequency{EveryWeek, EveryOtherWeek, TwicePerMonth, Monthly, Quarterly, Annually}

// frequencyAliases are the short names ParseFrequency accepts too.
var frequencyAliases = map[string]Frequency{
	"weekly": EveryWeek, "biweekly": EveryOtherWeek, "semimonthly": TwicePerMonth,
	"monthly": Monthly, "quarterly": Quarterly, "annually": Annually, "annual": Annually,
}

// ParseFrequency parses a frequency: Gusto's name ("Every other week") or
// a short one (weekly, biweekly, semimonthly, monthly, quarterly,
// annually), case-insensitively.
func ParseFrequency(s string) (Frequency, error) {
	v := strings.TrimSpace(s)
	if f, ok := frequencyAliases[strings.ToLower(v)]; ok {
		return f, nil
	}
	for _, f := range Frequencies {
		if strings.EqualFold(v, string(f)) {
			return f, nil
		}
	}
	why := ""
	if strings.EqualFold(v, Semiannually) {
		why = " (Gusto has no semiannual pay schedule, only semiannual withholding on off-cycle payrolls: see LongPayrolls)"
	}
	return "", fmt.Errorf("%w: unknown pay schedule frequency %q%s; want one of weekly, biweekly, semimonthly, monthly, quarterly, annually", ErrInvalidOptions, s, why)
}

// ParseFrequencies parses a comma-separated list of frequencies; empty
// means nil (the default mix).
func ParseFrequencies(s string) ([]Frequency, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Frequency
	for _, part := range strings.Split(s, ",") {
		f, err := ParseFrequency(part)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// scheduleKind is a frequency as the generator knows it. biweekly and
// monthly keep the values they had when they were the only two, so the
// default data does not change.
type scheduleKind uint8

const (
	biweekly scheduleKind = iota
	monthly
	weekly
	semimonthly
	quarterly
	annually
	// semiannual is the half-year period of a LongPayrolls off-cycle
	// payroll; no schedule has it.
	semiannual
)

// kindOf maps a frequency to its kind.
var kindOf = map[Frequency]scheduleKind{
	EveryWeek: weekly, EveryOtherWeek: biweekly, TwicePerMonth: semimonthly,
	Monthly: monthly, Quarterly: quarterly, Annually: annually,
}

// frequency is Gusto's name of the kind (withholding_pay_period, a pay
// schedule's frequency).
func (k scheduleKind) frequency() string {
	switch k {
	case weekly:
		return string(EveryWeek)
	case biweekly:
		return string(EveryOtherWeek)
	case semimonthly:
		return string(TwicePerMonth)
	case monthly:
		return string(Monthly)
	case quarterly:
		return string(Quarterly)
	case annually:
		return string(Annually)
	}
	return Semiannually
}

// checkInside reports whether the kind's check date lies inside its pay
// period (quarterly, annually) rather than after it.
func (k scheduleKind) checkInside() bool { return k == quarterly || k == annually }

// grossScale is a kind's gross pay against a biweekly period's, as a
// fraction num/den (by the number of periods a year).
func (k scheduleKind) grossScale() (num, den int64) {
	switch k {
	case weekly:
		return 1, 2
	case semimonthly:
		return 13, 12
	case monthly:
		return 13, 6
	case quarterly:
		return 13, 2
	case semiannual:
		return 13, 1
	case annually:
		return 26, 1
	}
	return 1, 1
}

// paySchedule is one of a company's pay schedules.
type paySchedule struct {
	kind   scheduleKind
	anchor int64 // weekly, biweekly: the start day of period 0 (a day of 1970-01-05..18)
	// lag places the check date: the period's end plus lag days, or, when
	// the kind's check date lies inside the period, its start plus lag.
	lag int64
}

// drawSchedule draws a schedule of kind from r. The biweekly and monthly
// draws are those of the original generator.
func drawSchedule(r *rng, k scheduleKind) paySchedule {
	switch k {
	case biweekly:
		return paySchedule{kind: biweekly, anchor: 4 + int64(r.intn(14)), lag: 3 + int64(r.intn(4))}
	case weekly:
		return paySchedule{kind: weekly, anchor: 4 + int64(r.intn(7)), lag: 3 + int64(r.intn(4))}
	case semimonthly:
		return paySchedule{kind: semimonthly, lag: int64(r.intn(6))}
	case quarterly:
		return paySchedule{kind: quarterly, lag: 1 + int64(r.intn(80))}
	case annually:
		return paySchedule{kind: annually, lag: int64(r.intn(361))}
	}
	return paySchedule{kind: monthly, lag: 3 + int64(r.intn(4))}
}

// date is the day number of a calendar date (days since the epoch, UTC);
// out-of-range months and days normalize as in time.Date.
func date(y int64, m time.Month, d int) int64 {
	return dayOf(time.Date(int(y), m, d, 0, 0, 0, 0, time.UTC))
}

// period returns the first and last day of period k.
func (p paySchedule) period(k int64) (start, end int64) {
	switch p.kind {
	case weekly:
		start = p.anchor + 7*k
		return start, start + 6
	case biweekly:
		start = p.anchor + 14*k
		return start, start + 13
	case semimonthly: // k = (year*12 + month-1)*2 + half
		y, m := k/24, time.Month(k/2%12+1)
		if k%2 == 0 {
			return date(y, m, 1), date(y, m, 15)
		}
		return date(y, m, 16), date(y, m+1, 0)
	case quarterly: // k = year*4 + quarter
		y, m := k/4, time.Month(k%4*3+1)
		return date(y, m, 1), date(y, m+3, 0)
	case semiannual: // k = year*2 + half
		y, m := k/2, time.Month(k%2*6+1)
		return date(y, m, 1), date(y, m+6, 0)
	case annually: // k = year
		return date(k, 1, 1), date(k, 12, 31)
	}
	// monthly: k = year*12 + month-1, the period starting on its 16th
	y, m := k/12, time.Month(k%12+1)
	return date(y, m, 16), date(y, m+1, 15)
}

// periodOf returns the number of the period containing day.
func (p paySchedule) periodOf(day int64) int64 {
	step := map[scheduleKind]int64{weekly: 7, biweekly: 14}[p.kind]
	if step > 0 {
		k := day - p.anchor
		if k < 0 {
			return (k - step + 1) / step
		}
		return k / step
	}
	y, m, d := civil(day)
	mi := y*12 + int64(m-1)
	switch p.kind {
	case semimonthly:
		k := mi * 2
		if d > 15 {
			k++
		}
		return k
	case quarterly:
		return y*4 + int64(m-1)/3
	case semiannual:
		return y*2 + int64(m-1)/6
	case annually:
		return y
	}
	if d < 16 {
		mi--
	}
	return mi
}

// check returns the check date of the period start..end.
func (p paySchedule) check(start, end int64) int64 {
	if p.kind.checkInside() {
		return min(start+p.lag, end)
	}
	return end + p.lag
}

// companySchedules is how a company's pay schedules are chosen: the
// default mix drawn from its key, or the frequencies asked for.
type companySchedules struct {
	kinds []scheduleKind // nil: the default mix
}

// schedules returns the company's first schedules, and the kind of the
// next schedule to add when they do not fill the payroll count: for the
// default mix, four companies in ten have a biweekly and a monthly
// schedule, four a biweekly one, two a monthly one, and further schedules
// are biweekly; asked-for frequencies are added again in turn.
func (c *company) schedules(r *rng) (scheds []paySchedule, next func(i int) scheduleKind) {
	if c.sched.kinds != nil {
		for _, k := range c.sched.kinds {
			scheds = append(scheds, drawSchedule(r, k))
		}
		kinds := c.sched.kinds
		return scheds, func(i int) scheduleKind { return kinds[i%len(kinds)] }
	}
	switch mix := r.intn(10); {
	case mix < 4:
		scheds = append(scheds, drawSchedule(r, biweekly), drawSchedule(r, monthly))
	case mix < 8:
		scheds = append(scheds, drawSchedule(r, biweekly))
	default:
		scheds = append(scheds, drawSchedule(r, monthly))
	}
	return scheds, func(int) scheduleKind { return biweekly }
}

// scheduleKinds validates frequencies and returns their kinds; nil for
// nil (the default mix).
func scheduleKinds(fs []Frequency) ([]scheduleKind, error) {
	if fs == nil {
		return nil, nil
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("%w: an empty list of pay schedules (nil means the default mix)", ErrInvalidOptions)
	}
	out := make([]scheduleKind, len(fs))
	for i, f := range fs {
		k, ok := kindOf[f]
		if !ok {
			_, err := ParseFrequency(string(f))
			if err == nil {
				err = fmt.Errorf("%w: pay schedule frequency %q is not spelled as Gusto spells it (%q)", ErrInvalidOptions, f, frequencyAliases[strings.ToLower(string(f))])
			}
			return nil, err
		}
		out[i] = k
	}
	return out, nil
}
