package gustosim

import "sort"

// Payroll history layout. Payroll j (0 = oldest) belongs to pay schedule
// j%k and biweekly pay period j/k, where k grows with the number of payrolls
// so that history never goes back more than ~5 years (130 periods). Pay
// periods are aligned on a 14-day grid; the schedules' periods are shifted
// by less than a week so that both the pay-period start and the check date
// are non-decreasing in j. Unless the company is plain, the last period is
// the current one (it contains the creation day) and its payrolls are
// unprocessed, and about one processed payroll in eight is off-cycle.

const periodsPerSchedule = 130

// payrollLayout returns the number of schedules and of periods.
func (c *company) payrollLayout() (k, periods int) {
	n := c.payrolls
	if n == 0 {
		return 1, 0
	}
	k = (n + periodsPerSchedule - 1) / periodsPerSchedule
	return k, (n + k - 1) / k
}

// payrollSlot describes payroll j without generating it.
type payrollSlot struct {
	schedule  int
	start     int64 // pay period start day
	processed bool
	offCycle  bool
}

func (s payrollSlot) end() int64       { return s.start + 13 }
func (s payrollSlot) checkDate() int64 { return s.start + 18 }

func (c *company) payrollSlot(j int) payrollSlot {
	k, periods := c.payrollLayout()
	p, sched := j/k, j%k
	shift := int64(sched * 7 / k)
	g0 := c.day - ((c.day-4)%14+14)%14 // 1970-01-05 was a Monday
	last := periods - 1                // the current period, unless plain
	if c.plain {
		last = periods
	}
	s := payrollSlot{schedule: sched, start: g0 - 14*int64(last-p) + shift}
	s.processed = c.plain || p < periods-1
	if !c.plain && s.processed {
		r := c.stream(kindPayrollFlags, j)
		s.offCycle = r.next()%8 == 0
	}
	return s
}

// payrollView selects the optional parts of a payroll object (include=…).
type payrollView struct {
	totals, statusMeta, taxes, blockers bool
}

// fullPayrollView is what Records serves: include=totals.
var fullPayrollView = payrollView{totals: true}

// appendPayroll appends payroll j as a JSON object.
func (c *company) appendPayroll(b []byte, j int, v payrollView) []byte {
	s := c.payrollSlot(j)
	r := c.stream(kindPayroll, j)
	id := r.uuid()
	createdSec := r.intn(86400)
	staff := int64(max(c.employees, 1))
	gross := staff * int64(150000+r.intn(250000))
	if s.offCycle {
		gross = staff * int64(10000+r.intn(90000))
	}
	reimb := int64(r.intn(50000))
	check := s.checkDate()

	b = append(b, `{"payroll_deadline":`...)
	b = appendDateTime(b, check-2, 23*3600)
	b = append(b, `,"check_date":`...)
	b = appendDate(b, check)
	b = append(b, `,"processed":`...)
	b = appendBool(b, s.processed)
	if s.processed {
		b = append(b, `,"processed_date":`...)
		b = appendDate(b, check-3)
		b = append(b, `,"calculated_at":`...)
		b = appendDateTime(b, check-3, createdSec)
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
	b = append(b, `,"auto_pilot":false,"external":false,"final_termination_payroll":false,"withholding_pay_period":"Every other week","skip_regular_deductions":`...)
	b = appendBool(b, s.offCycle)
	b = append(b, `,"fixed_withholding_rate":`...)
	b = appendBool(b, s.offCycle)
	b = append(b, `,"pay_period":{"start_date":`...)
	b = appendDate(b, s.start)
	b = append(b, `,"end_date":`...)
	b = appendDate(b, s.end())
	b = append(b, `,"pay_schedule_uuid":`...)
	b = appendUUID(b, c.uuidOf(kindSchedule, s.schedule))
	b = append(b, '}')
	if v.statusMeta {
		b = append(b, `,"payroll_status_meta":{"cancellable":`...)
		b = appendBool(b, !s.processed)
		b = append(b, `,"expected_check_date":`...)
		b = appendDate(b, check)
		b = append(b, `,"initial_check_date":`...)
		b = appendDate(b, check)
		b = append(b, `,"expected_debit_time":`...)
		b = appendDateTime(b, check-2, 23*3600)
		b = append(b, `,"payroll_late":false,"initial_debit_cutoff_time":`...)
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
	if s.processed {
		b = appendDateTime(b, check-4, createdSec)
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
	from, to               int64 // inclusive day range of the filter date
	byCheckDate            bool
	processed, unprocessed bool
	regular, offCycle      bool
	desc                   bool
	view                   payrollView
}

// filterDay is payroll j's date for the start_date/end_date filter.
func (q *payrollQuery) filterDay(s payrollSlot) int64 {
	if q.byCheckDate {
		return s.checkDate()
	}
	return s.start
}

func (q *payrollQuery) match(s payrollSlot) bool {
	if s.processed && !q.processed || !s.processed && !q.unprocessed {
		return false
	}
	return s.offCycle && q.offCycle || !s.offCycle && q.regular
}

// payrollPage returns the indices of page (1-based) of per payrolls
// matching q, in the requested order.
func (c *company) payrollPage(q *payrollQuery, page, per int) []int {
	n := c.payrolls
	// The filter day is non-decreasing in j: binary search the window.
	lo := sort.Search(n, func(j int) bool { return q.filterDay(c.payrollSlot(j)) >= q.from })
	hi := sort.Search(n, func(j int) bool { return q.filterDay(c.payrollSlot(j)) > q.to })
	skip, ok := pageSkip(page, per)
	if !ok {
		return nil
	}
	out := make([]int, 0, min(per, max(hi-lo, 0)))
	for x := 0; x < hi-lo && len(out) < per; x++ {
		j := lo + x
		if q.desc {
			j = hi - 1 - x
		}
		if !q.match(c.payrollSlot(j)) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, j)
	}
	return out
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
// matching q.
func (c *company) employeePage(q *employeeQuery, page, per int) []int {
	n := c.employees
	skip, ok := pageSkip(page, per)
	if !ok {
		return nil
	}
	if q.terminated == nil && q.onboarded == nil {
		if skip >= int64(n) {
			return nil
		}
		from := int(skip)
		to := min(n, from+per)
		out := make([]int, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	}
	flags := c.allEmployeeFlags()
	var out []int
	for i := 0; i < n && len(out) < per; i++ {
		f := flags[i]
		if q.terminated != nil && (f&flagTerminated != 0) != *q.terminated {
			continue
		}
		if q.onboarded != nil && (f&flagOnboarded != 0) != *q.onboarded {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, i)
	}
	return out
}
