package gustosim

import "strconv"

// Employee flags, used by the terminated/onboarded filters.
const (
	flagTerminated uint8 = 1 << iota
	flagOnboarded
)

// employeeFlags computes the filter flags of employee i without generating it.
func (c *company) employeeFlags(i int) uint8 {
	r := c.stream(kindEmployeeFlags, i)
	h := r.next()
	var f uint8
	if h%12 == 0 {
		f |= flagTerminated | flagOnboarded
	} else if (h>>8)%10 != 0 {
		f |= flagOnboarded
	}
	return f
}

// allEmployeeFlags returns every employee's flags, computed once.
func (c *company) allEmployeeFlags() []uint8 {
	c.flagsOnce.Do(func() {
		f := make([]uint8, c.employees)
		for i := range f {
			f[i] = c.employeeFlags(i)
		}
		c.flags = f
	})
	return c.flags
}

// employeeUUID is the uuid of employee i (the first draws of its stream).
func (c *company) employeeUUID(i int) uuid128 {
	r := c.stream(kindEmployee, i)
	return r.uuid()
}

// employeeView selects the optional parts of an employee object.
type employeeView struct {
	compensations    bool // the token has compensations:read
	allCompensations bool // include=all_compensations
	companyName      bool
	currentHome      bool
	allHomes         bool
	customFields     bool
	portal           bool
}

// fullEmployeeView is what Records serves: a token with compensations:read
// and no include.
var fullEmployeeView = employeeView{compensations: true}

// appendEmployee appends employee i as a JSON object. Every random draw is
// made whatever the view, so the view never changes the data.
func (c *company) appendEmployee(b []byte, i int, v employeeView) []byte {
	r := c.stream(kindEmployee, i)
	id := r.uuid()
	flags := c.employeeFlags(i)
	terminated, onboarded := flags&flagTerminated != 0, flags&flagOnboarded != 0
	fi, li := r.intn(len(firstNames)), r.intn(len(lastNames))
	middle := r.intn(30)
	version := [2]uint64{r.next(), r.next()}
	if n := c.edit.of(i); n > 0 {
		// Updated (UpdateEmployee): a new version and a moved middle
		// initial; every draw above and below is unchanged.
		version[1] ^= n * 0x9e3779b97f4a7c15
		middle = (middle + int(n)) % 27
	}
	manager := -1
	if i > 0 && r.intn(5) != 0 {
		manager = r.intn(min(i, 8))
	}
	dept := r.intn(len(departments) + 1)
	deptUUID := c.uuidOf(kindDepartment, dept)
	workEmail := r.intn(3) != 0
	onboarding := []string{"admin_onboarding_incomplete", "self_onboarding_invited", "self_onboarding_pending_invite"}[r.intn(3)]
	hire := c.day - 30 - int64(r.intn(3000))
	raise := r.intn(3) == 0 && hire < c.day-600 // the raise (below) is then in the past
	salaried := r.intn(2) == 0
	var rate, oldRate int64
	if salaried {
		rate = int64(50000+r.intn(150000)) * 100
	} else {
		rate = int64(1800 + r.intn(6200))
	}
	oldRate = rate * 9 / 10
	title := titles[r.intn(len(titles))]
	jobUUID, jobVersion := r.uuid(), [2]uint64{r.next(), r.next()}
	compUUID, compVersion := r.uuid(), [2]uint64{r.next(), r.next()}
	oldUUID, oldVersion := r.uuid(), [2]uint64{r.next(), r.next()}
	raiseDay := hire + 365 + int64(r.intn(200))
	termUUID, termVersion := r.uuid(), [2]uint64{r.next(), r.next()}
	termDay := c.day - 1 - int64(r.intn(int(max(c.day-31-hire, 1)))) // after hire+30
	dob := hire - int64(365*18+r.intn(365*40))
	phone := r.intn(4) != 0
	phoneNum := 2000000000 + r.intn(7999999999)
	check := r.intn(10) == 0
	status := r.intn(6)
	code := r.next()
	home := cities[r.intn(len(cities))]
	homeUUID := r.uuid()
	homeFrom := hire - int64(r.intn(300))

	b = append(b, `{"uuid":`...)
	b = appendUUID(b, id)
	b = append(b, `,"first_name":`...)
	b = appendStr(b, firstNames[fi])
	b = append(b, `,"middle_initial":`...)
	if middle < 26 {
		b = append(b, '"', byte('A'+middle), '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"last_name":`...)
	b = appendStr(b, lastNames[li])
	b = append(b, `,"email":"`...)
	b = append(b, lowerFirst[fi]...)
	b = append(b, '.')
	b = append(b, lowerLast[li]...)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `@example.com","company_uuid":`...)
	b = appendStr(b, c.uuid)
	b = append(b, `,"manager_uuid":`...)
	if manager >= 0 {
		b = appendUUID(b, c.employeeUUID(manager))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"version":"`...)
	b = appendHex(b, version[0], 16)
	b = appendHex(b, version[1], 16)
	b = append(b, `","department":`...)
	if dept < len(departments) {
		b = appendStr(b, departments[dept])
		b = append(b, `,"department_uuid":`...)
		b = appendUUID(b, deptUUID)
	} else {
		b = append(b, `null,"department_uuid":null`...)
	}
	b = append(b, `,"terminated":`...)
	b = appendBool(b, terminated)
	b = append(b, `,"two_percent_shareholder":false,"work_email":`...)
	if workEmail {
		b = append(b, '"')
		b = append(b, lowerFirst[fi]...)
		b = append(b, '.')
		b = append(b, lowerLast[li]...)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, '@')
		b = append(b, c.slug...)
		b = append(b, `.example.com"`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"onboarded":`...)
	b = appendBool(b, onboarded)
	b = append(b, `,"onboarding_status":`...)
	if onboarded {
		b = append(b, `"onboarding_completed"`...)
	} else {
		b = appendStr(b, onboarding)
	}
	b = append(b, `,"onboarding_documents_config":{"uuid":null,"i9_document":false}`...)

	// jobs
	unit, flsa := "Hour", "Nonexempt"
	if salaried {
		unit, flsa = "Year", "Exempt"
	}
	b = append(b, `,"jobs":[{"uuid":`...)
	b = appendUUID(b, jobUUID)
	b = append(b, `,"version":"`...)
	b = appendHex(b, jobVersion[0], 16)
	b = appendHex(b, jobVersion[1], 16)
	b = append(b, `","employee_uuid":`...)
	b = appendUUID(b, id)
	b = append(b, `,"hire_date":`...)
	b = appendDate(b, hire)
	b = append(b, `,"title":`...)
	b = appendStr(b, title)
	b = append(b, `,"primary":true`...)
	if v.compensations {
		b = append(b, `,"rate":`...)
		b = appendMoney(b, rate)
		b = append(b, `,"payment_unit":"`...)
		b = append(b, unit...)
		b = append(b, `","current_compensation_uuid":`...)
		b = appendUUID(b, compUUID)
	}
	b = append(b, `,"two_percent_shareholder":false,"state_wc_covered":null,"state_wc_class_code":null`...)
	if v.compensations {
		b = append(b, `,"compensations":[`...)
		comp := func(b []byte, u uuid128, ver [2]uint64, rate int64, day int64) []byte {
			b = append(b, `{"uuid":`...)
			b = appendUUID(b, u)
			b = append(b, `,"version":"`...)
			b = appendHex(b, ver[0], 16)
			b = appendHex(b, ver[1], 16)
			b = append(b, `","job_uuid":`...)
			b = appendUUID(b, jobUUID)
			b = append(b, `,"employee_uuid":`...)
			b = appendUUID(b, id)
			b = append(b, `,"rate":`...)
			b = appendMoney(b, rate)
			b = append(b, `,"payment_unit":"`...)
			b = append(b, unit...)
			b = append(b, `","flsa_status":"`...)
			b = append(b, flsa...)
			b = append(b, `","effective_date":`...)
			b = appendDate(b, day)
			return append(b, `,"adjust_for_minimum_wage":false,"minimum_wages":[]}`...)
		}
		if raise {
			if v.allCompensations {
				b = comp(b, oldUUID, oldVersion, oldRate, hire)
				b = append(b, ',')
			}
			b = comp(b, compUUID, compVersion, rate, raiseDay)
		} else {
			b = comp(b, compUUID, compVersion, rate, hire)
		}
		b = append(b, ']')
	}
	b = append(b, `,"location_uuid":`...)
	b = appendUUID(b, c.uuidOf(kindLocation, 0))
	b = append(b, `}]`...)

	b = append(b, `,"eligible_paid_time_off":[]`...)

	b = append(b, `,"terminations":[`...)
	if terminated {
		b = append(b, `{"uuid":`...)
		b = appendUUID(b, termUUID)
		b = append(b, `,"version":"`...)
		b = appendHex(b, termVersion[0], 16)
		b = appendHex(b, termVersion[1], 16)
		b = append(b, `","employee_uuid":`...)
		b = appendUUID(b, id)
		b = append(b, `,"active":true,"cancelable":false,"effective_date":`...)
		b = appendDate(b, termDay)
		b = append(b, `,"run_termination_payroll":false}`...)
	}
	b = append(b, `],"garnishments":[],"date_of_birth":`...)
	b = appendDate(b, dob)
	b = append(b, `,"has_ssn":true,"ssn":"","phone":`...)
	if phone {
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(phoneNum), 10)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"preferred_first_name":null,"payment_method":`...)
	if check {
		b = append(b, `"Check"`...)
	} else {
		b = append(b, `"Direct Deposit"`...)
	}
	b = append(b, `,"current_employment_status":`...)
	if terminated || status == 5 {
		b = append(b, "null"...)
	} else {
		b = appendStr(b, []string{"full_time", "full_time", "part_time_twenty_plus_hours", "part_time_under_twenty_hours", "variable"}[status])
	}
	b = append(b, `,"historical":false,"employee_code":"`...)
	b = appendHex(b, code, 6)
	b = append(b, '"')

	if v.companyName {
		b = append(b, `,"company_name":`...)
		b = appendStr(b, c.name)
	}
	addr := func(b []byte) []byte {
		b = append(b, `{"uuid":`...)
		b = appendUUID(b, homeUUID)
		b = append(b, `,"street_1":`...)
		b = appendStr(b, home.street)
		b = append(b, `,"street_2":null,"city":`...)
		b = appendStr(b, home.city)
		b = append(b, `,"state":`...)
		b = appendStr(b, home.state)
		b = append(b, `,"zip":`...)
		b = appendStr(b, home.zip)
		b = append(b, `,"country":"USA","active":true,"effective_from":`...)
		b = appendDate(b, homeFrom)
		return append(b, '}')
	}
	if v.currentHome {
		b = append(b, `,"current_home_address":`...)
		b = addr(b)
	}
	if v.allHomes {
		b = append(b, `,"all_home_addresses":[`...)
		b = addr(b)
		b = append(b, ']')
	}
	if v.customFields {
		b = append(b, `,"custom_fields":[]`...)
	}
	if v.portal {
		b = append(b, `,"member_portal_invitation_status":{"status":"complete","token_expired":false,"welcome_email_sent_at":`...)
		b = appendDateTime(b, hire, 15*3600+1800)
		b = append(b, `,"last_password_resent_at":null},"partner_portal_invitation_sent":false`...)
	}
	return append(b, '}')
}
