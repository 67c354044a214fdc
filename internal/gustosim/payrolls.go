package gustosim

import (
	"cmp"
	"slices"
)

// Payroll history. A company's payrolls are a pure function of the seed,
// its uuid, its payroll count, its pay schedules, its history length and its
// creation day (Gusto's clock), like the rest of its data; the table of
// their dates is built once, when first served, and each payroll is encoded
// on demand.
//
// By default each company has a biweekly pay schedule (14-day periods
// starting on a company-specific weekday), a monthly one (the 16th to the
// 15th of the next month), or both, drawn from its key: four companies in
// ten have both, four only the biweekly one, two only the monthly one.
// CompanyOptions.PaySchedules (or Config.PaySchedules) gives a company
// schedules of any of Gusto's frequencies instead (schedules.go). Pay
// periods therefore straddle month boundaries (every monthly period, about
// half of the biweekly ones) and year boundaries (December 16 to January
// 15; the biweekly period around New Year); quarterly and annual ones span
// a quarter and a whole year. A weekly, biweekly, semimonthly or monthly
// payroll's check date is a few days after its period's end; a quarterly
// or annual one's lies inside the period. A payroll is processed two days
// before its check date, so the current pay period's payroll (and, near a
// period's end, the previous one's) is unprocessed. About one processed
// regular payroll in eight has an off-cycle payroll (a bonus) for the same
// pay period, paid before or on the regular check date.
//
// Config.Payrolls (or CompanyOptions.Payrolls) is the exact number of
// these payrolls: the most recent ones by check date, back from the current
// pay periods. History reaches back HistoryMonths (default
// DefaultHistoryMonths, three years): when the company's schedules do not
// fill the count in that time, further schedules are added (a company
// paying by location, say): biweekly ones for the default mix, the asked-for
// frequencies in turn otherwise. Every schedule has at least its current
// period. With PlainPayrolls there are neither off-cycle nor unprocessed
// payrolls.
//
// LongPayrolls adds, beyond that count, the long payrolls Gusto also
// serves on the payrolls list: an off-cycle payroll for every half-year of
// the history that has ended (January 1 to June 30, July 1 to December 31;
// withholding_pay_period "Semiannually", a bonus paid 1 to 14 days after the
// half ends; unprocessed until two days before), and the external payrolls of a company that switched to Gusto
// when its history starts: one per calendar quarter of that year before the
// switch (or of the year before, when the switch is on January 1), paid on
// the quarter's (or the switch's eve's) date, with external true and
// payroll_types=external (operation get-v1-companies-company_id-payrolls;
// "External payrolls" in Gusto's reference are payrolls run outside Gusto
// before the switch). PlainPayrolls does not apply to them.

// DefaultHistoryMonths bounds how far back a company's pay periods start
// unless HistoryMonths says otherwise.
const DefaultHistoryMonths = 36

// MaxHistoryMonths is the longest history a company can have.
const MaxHistoryMonths = 240

// MaxPayrolls is the largest payroll count a company can have.
const MaxPayrolls = 1_000_000

// Schedule numbers of the long payrolls (slotID), beyond any real schedule.
const (
	semiannualSchedule int32 = 1<<15 - 1
	externalSchedule   int32 = 1<<15 - 2
)

// payrollSlot describes one payroll without generating it.
type payrollSlot struct {
	start, end int64  // pay period, days since the epoch
	check      int64  // check date
	id         uint64 // identity in the company: schedule, period, off-cycle bit
	schedule   int32  // index in the company's schedules, or a long payroll's number
	kind       scheduleKind
	processed  bool
	offCycle   bool
	external   bool
}

// processedDay is the day a processed payroll was processed.
func (s payrollSlot) processedDay() int64 { return s.check - 2 }

// onSchedule reports whether the payroll belongs to one of the company's
// pay schedules (pay_period.pay_schedule_uuid is then set).
func (s payrollSlot) onSchedule() bool { return s.schedule < externalSchedule }

func slotID(schedule int32, period int64) uint64 {
	return uint64(schedule)<<48 | uint64(period)&(1<<47-1)<<1
}

// payrollTable returns the company's payrolls in page order: ascending check
// date (then pay-period start, then identity). It is built once.
func (c *company) payrollTable() []payrollSlot {
	c.payrollsOnce.Do(func() { c.payrollSlots, c.paySchedules = c.buildPayrolls() })
	return c.payrollSlots
}

// oldestDay is the first day of the company's history.
func (c *company) oldestDay() int64 { return addMonths(c.day, -c.historyMonths) }

func (c *company) buildPayrolls() ([]payrollSlot, []paySchedule) {
	n := c.payrolls
	r := c.stream(kindPayrollLayout, 0)
	scheds, next := c.schedules(&r)
	if n == 0 {
		return nil, scheds
	}
	oldest := c.oldestDay()
	var all []payrollSlot
	for i := 0; i < len(scheds) || len(all) < n; i++ {
		if i == len(scheds) {
			scheds = append(scheds, drawSchedule(&r, next(i)))
		}
		all = c.appendScheduleSlots(all, int32(i), scheds[i], oldest)
	}
	order := func(a, b payrollSlot) int {
		return cmp.Or(cmp.Compare(a.check, b.check), cmp.Compare(a.start, b.start), cmp.Compare(a.id, b.id))
	}
	slices.SortFunc(all, order)
	all = all[len(all)-n:]
	if c.long {
		all = c.appendLongSlots(all, oldest)
		slices.SortFunc(all, order)
	}
	return slices.Clip(all), scheds
}

// appendScheduleSlots appends the payrolls of one schedule whose pay period
// starts on or after oldest, up to the current period, and at least one.
func (c *company) appendScheduleSlots(out []payrollSlot, si int32, p paySchedule, oldest int64) []payrollSlot {
	had := len(out)
	for k := p.periodOf(c.day); ; k-- {
		start, end := p.period(k)
		if start < oldest && len(out) > had {
			return out
		}
		reg := payrollSlot{start: start, end: end, check: p.check(start, end), id: slotID(si, k), schedule: si, kind: p.kind}
		reg.processed = reg.processedDay() <= c.day
		if c.plain {
			if reg.processed {
				out = append(out, reg)
			}
			continue
		}
		out = append(out, reg)
		if !reg.processed {
			continue
		}
		r := c.stream(kindPayrollFlags, int(reg.id))
		if r.next()%8 != 0 {
			continue
		}
		off := reg
		off.offCycle, off.id = true, reg.id|1
		if p.kind == biweekly || p.kind == monthly {
			off.check = end + 1 + int64(r.intn(int(p.lag))) // the original draw
		} else {
			off.check = max(start, reg.check-int64(r.intn(4)))
		}
		off.processed = true // before the regular one, which is processed
		out = append(out, off)
	}
}

// appendLongSlots appends the LongPayrolls: a semiannual off-cycle
// payroll for every half-year since oldest that has ended, and the external
// payrolls of the quarters before the switch to Gusto on oldest.
func (c *company) appendLongSlots(out []payrollSlot, oldest int64) []payrollSlot {
	half := paySchedule{kind: semiannual}
	for k := half.periodOf(oldest); ; k++ {
		start, end := half.period(k)
		if end >= c.day {
			break
		}
		if start < oldest {
			continue
		}
		id := slotID(semiannualSchedule, k) | 1
		r := c.stream(kindPayrollFlags, int(id))
		s := payrollSlot{start: start, end: end, check: end + 1 + int64(r.intn(14)), id: id, schedule: semiannualSchedule, kind: semiannual, offCycle: true}
		s.processed = s.processedDay() <= c.day
		out = append(out, s)
	}
	switchDay := oldest
	quarter := paySchedule{kind: quarterly}
	y, _, _ := civil(switchDay - 1)
	for k := y * 4; k < y*4+4; k++ {
		start, end := quarter.period(k)
		if start >= switchDay {
			break
		}
		end = min(end, switchDay-1)
		out = append(out, payrollSlot{start: start, end: end, check: end, id: slotID(externalSchedule, k), schedule: externalSchedule,
			kind: quarterly, processed: true, external: true})
	}
	return out
}

// payrollView selects the optional parts of a payroll object (include=…).
type payrollView struct {
	totals, statusMeta, taxes, blockers bool
	// offCycleMetaNull: payroll_status_meta.initial_check_date and
	// .payroll_late are null for off-cycle payrolls (version 2026-06-15,
	// https://docs.gusto.com/embedded-payroll/changelog/v2026-06-15).
	offCycleMetaNull bool
}

// fullPayrollView is what Records serves: include=totals.
var fullPayrollView = payrollView{totals: true}

// appendPayroll appends payroll j as a JSON object.
func (c *company) appendPayroll(b []byte, j int, v payrollView) []byte {
	s := c.payrollTable()[j]
	r := c.stream(kindPayroll, int(s.id))
	id := r.uuid()
	createdSec := r.intn(86400)
	staff := int64(max(c.employees, 1))
	gross := staff * int64(150000+r.intn(250000))
	if num, den := s.kind.grossScale(); num != den {
		gross = gross * num / den
	}
	if s.offCycle {
		gross = staff * int64(10000+r.intn(90000))
	}
	reimb := int64(r.intn(50000))
	check := s.check

	b = append(b, `{"payroll_deadline":`...)
	b = appendDateTime(b, check-2, 23*3600)
	b = append(b, `,"check_date":`...)
	b = appendDate(b, check)
	b = append(b, `,"processed":`...)
	b = appendBool(b, s.processed)
	if s.processed {
		b = append(b, `,"processed_date":`...)
		b = appendDate(b, s.processedDay())
		b = append(b, `,"calculated_at":`...)
		b = appendDateTime(b, s.processedDay(), createdSec)
	} else {
		b = append(b, `,"processed_date":null,"calculated_at":null`...)
	}
	b = append(b, `,"uuid":`...)
	b = appendUUID(b, id)
	b = append(b, `,"payroll_uuid":`...)
	b = appendUUID(b, id)
	b = append(b, `,"company_uuid":`...)
	b = appendStr(b, c.uuid)
	b = append(b, `,"off_cycle":`...)
	b = appendBool(b, s.offCycle)
	if s.offCycle {
		b = append(b, `,"off_cycle_reason":"Bonus"`...)
	} else {
		b = append(b, `,"off_cycle_reason":null`...)
	}
	b = append(b, `,"auto_pilot":false,"external":`...)
	b = appendBool(b, s.external)
	b = append(b, `,"final_termination_payroll":false,"withholding_pay_period":`...)
	b = appendStr(b, s.kind.frequency())
	b = append(b, `,"skip_regular_deductions":`...)
	b = appendBool(b, s.offCycle)
	b = append(b, `,"fixed_withholding_rate":`...)
	b = appendBool(b, s.offCycle)
	b = append(b, `,"pay_period":{"start_date":`...)
	b = appendDate(b, s.start)
	b = append(b, `,"end_date":`...)
	b = appendDate(b, s.end)
	b = append(b, `,"pay_schedule_uuid":`...)
	if s.onSchedule() {
		b = appendUUID(b, c.uuidOf(kindSchedule, int(s.schedule)))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, '}')
	if v.statusMeta {
		b = append(b, `,"payroll_status_meta":{"cancellable":`...)
		b = appendBool(b, !s.processed)
		b = append(b, `,"expected_check_date":`...)
		b = appendDate(b, check)
		nullMeta := s.offCycle && v.offCycleMetaNull
		b = append(b, `,"initial_check_date":`...)
		if nullMeta {
			b = append(b, "null"...)
		} else {
			b = appendDate(b, check)
		}
		b = append(b, `,"expected_debit_time":`...)
		b = appendDateTime(b, check-2, 23*3600)
		if nullMeta {
			b = append(b, `,"payroll_late":null`...)
		} else {
			b = append(b, `,"payroll_late":false`...)
		}
		b = append(b, `,"initial_debit_cutoff_time":`...)
		b = appendDateTime(b, check-2, 23*3600)
		b = append(b, '}')
	}
	employeeTaxes, employerTaxes := gross*22/100, gross*765/10000
	deductions := gross * 2 / 100
	net := gross - employeeTaxes - deductions
	if v.totals && s.processed {
		money := func(b []byte, key string, cents int64) []byte {
			b = append(b, ',', '"')
			b = append(b, key...)
			b = append(b, '"', ':')
			return appendMoney(b, cents)
		}
		b = append(b, `,"totals":{"company_debit":`...)
		b = appendMoney(b, net+employeeTaxes+employerTaxes+reimb)
		b = money(b, "net_pay_debit", net)
		b = money(b, "tax_debit", employeeTaxes+employerTaxes)
		b = money(b, "reimbursement_debit", reimb)
		b = money(b, "child_support_debit", 0)
		b = money(b, "reimbursements", reimb)
		b = money(b, "net_pay", net)
		b = money(b, "gross_pay", gross)
		b = money(b, "employee_bonuses", 0)
		b = money(b, "employee_commissions", 0)
		b = money(b, "employee_cash_tips", 0)
		b = money(b, "employee_paycheck_tips", 0)
		b = money(b, "additional_earnings", 0)
		b = money(b, "owners_draw", 0)
		b = money(b, "check_amount", 0)
		b = money(b, "employer_taxes", employerTaxes)
		b = money(b, "employee_taxes", employeeTaxes)
		b = money(b, "benefits", deductions)
		b = money(b, "employee_benefits_deductions", deductions)
		b = money(b, "imputed_pay", 0)
		b = money(b, "deferred_payroll_taxes", 0)
		b = money(b, "other_deductions", 0)
		b = append(b, '}')
	}
	if v.taxes && s.processed {
		b = append(b, `,"company_taxes":[{"name":"Social Security","employer":true,"amount":`...)
		b = appendMoney(b, gross*62/1000)
		b = append(b, `},{"name":"Medicare","employer":true,"amount":`...)
		b = appendMoney(b, employerTaxes-gross*62/1000)
		b = append(b, `},{"name":"Federal Income Tax","employer":false,"amount":`...)
		b = appendMoney(b, employeeTaxes)
		b = append(b, `}]`...)
	}
	b = append(b, `,"created_at":`...)
	if s.offCycle {
		b = appendDateTime(b, s.end, createdSec)
	} else {
		b = appendDateTime(b, s.start, createdSec)
	}
	if v.blockers {
		b = append(b, `,"submission_blockers":[],"credit_blockers":[]`...)
	}
	if s.processed {
		b = append(b, `,"processing_request":{"status":"submit_success","errors":[]}`...)
	} else {
		b = append(b, `,"processing_request":null`...)
	}
	return append(b, `,"partner_owned_disbursement":null}`...)
}

// payrollQuery is a parsed payrolls request.
type payrollQuery struct {
	from, to int64 // inclusive day range of start_date..end_date
	// reading is Config.PayrollFilter; byCheckDate is date_filter_by=check_date.
	reading                PayrollFilter
	byCheckDate            bool
	processed, unprocessed bool
	regular, offCycle      bool
	external               bool
	desc                   bool
	view                   payrollView
}

// match applies the processing-status and payroll-type filters.
func (q *payrollQuery) match(s payrollSlot) bool {
	if s.processed && !q.processed || !s.processed && !q.unprocessed {
		return false
	}
	switch {
	case s.external:
		return q.external
	case s.offCycle:
		return q.offCycle
	}
	return q.regular
}

// inRange applies start_date and end_date under the query's reading. The
// check-date reading applies "only to regular processed payrolls"
// (date_filter_by in operation get-v1-companies-company_id-payrolls): the
// other payrolls are then filtered by pay period: by Config.PayrollFilter,
// or by the literal reading when that is check_date too.
func (q *payrollQuery) inRange(s payrollSlot) bool {
	reading := q.reading
	if q.byCheckDate || reading == FilterCheckDate {
		if s.processed && !s.offCycle && !s.external {
			return q.from <= s.check && s.check <= q.to
		}
		if reading == FilterCheckDate {
			reading = FilterWithin
		}
	}
	switch reading {
	case FilterStart:
		return q.from <= s.start && s.start <= q.to
	case FilterOverlap:
		return s.start <= q.to && q.from <= s.end
	}
	return q.from <= s.start && s.end <= q.to
}

// payrollPage returns the indices of page (1-based) of per payrolls
// matching q, in the requested order, and how many match in all.
func (c *company) payrollPage(q *payrollQuery, page, per int) ([]int, int) {
	tab := c.payrollTable()
	skip, ok := pageSkip(page, per)
	var out []int
	total := 0
	for x := range tab {
		j := x
		if q.desc {
			j = len(tab) - 1 - x
		}
		if s := tab[j]; !q.match(s) || !q.inRange(s) || c.del.deleted("payrolls", j) {
			continue
		}
		total++
		switch {
		case !ok:
		case skip > 0:
			skip--
		case len(out) < per:
			out = append(out, j)
		}
	}
	return out, total
}

// pageSkip is how many matching records precede page (1-based); false when
// that is beyond any dataset (or would overflow).
func pageSkip(page, per int) (int64, bool) {
	const limit = 1 << 40
	if page < 1 || per < 1 || int64(page-1) > limit/int64(per) {
		return 0, false
	}
	return int64(page-1) * int64(per), true
}

// employeeQuery is a parsed employees request.
type employeeQuery struct {
	terminated, onboarded *bool
	view                  employeeView
}

// employeePage returns the indices of page (1-based) of per employees
// matching q, and how many match in all.
func (c *company) employeePage(q *employeeQuery, page, per int) ([]int, int) {
	n := c.employees
	skip, ok := pageSkip(page, per)
	if q.terminated == nil && q.onboarded == nil && !c.del.any("employees") {
		if !ok || skip >= int64(n) {
			return nil, n
		}
		from := int(skip)
		to := min(n, from+per)
		out := make([]int, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out, n
	}
	flags := c.allEmployeeFlags()
	var out []int
	total := 0
	for i := 0; i < n; i++ {
		f := flags[i]
		if q.terminated != nil && (f&flagTerminated != 0) != *q.terminated {
			continue
		}
		if q.onboarded != nil && (f&flagOnboarded != 0) != *q.onboarded {
			continue
		}
		if c.del.deleted("employees", i) {
			continue
		}
		total++
		switch {
		case !ok:
		case skip > 0:
			skip--
		case len(out) < per:
			out = append(out, i)
		}
	}
	return out, total
}
