package gusto

import (
	"encoding/json"
	"slices"
	"strings"
)

// Company is GET /v1/companies/{company_id}: the fields gustosync stores,
// plus the exact JSON for the payload column.
type Company struct {
	UUID      string `json:"uuid"`
	Name      string `json:"name"`
	TradeName string `json:"trade_name"` // null decodes as ""
	EIN       string `json:"ein"`
	// CompanyStatus is "Approved", "Not Approved" or "Suspended".
	CompanyStatus string `json:"company_status"`
	// Raw is the company object exactly as Gusto sent it.
	Raw json.RawMessage `json:"-"`
}

func (c *Company) setRaw(raw json.RawMessage) { c.Raw = raw }

func (c *Company) validate(companyUUID string) error {
	return ownRecord(c.UUID, "uuid", c.UUID, companyUUID)
}

// Employee is one item of GET /v1/companies/{company_id}/employees.
type Employee struct {
	UUID        string `json:"uuid"`
	CompanyUUID string `json:"company_uuid"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Email       string `json:"email"` // null decodes as ""
	Terminated  bool   `json:"terminated"`
	// Version is Gusto's optimistic-locking version of the record.
	Version   string `json:"version"`
	Onboarded bool   `json:"onboarded"`
	// OnboardingStatus is e.g. "onboarding_completed"; null decodes as "".
	OnboardingStatus string `json:"onboarding_status"`
	// Raw is the employee object exactly as Gusto sent it.
	Raw json.RawMessage `json:"-"`
}

func (e *Employee) setRaw(raw json.RawMessage) { e.Raw = raw }

func (e *Employee) validate(companyUUID string) error {
	return ownRecord(e.UUID, "company_uuid", e.CompanyUUID, companyUUID)
}

// PayPeriod is a payroll's pay period.
type PayPeriod struct {
	StartDate       string `json:"start_date"`
	EndDate         string `json:"end_date"`
	PayScheduleUUID string `json:"pay_schedule_uuid"`
}

// PayrollTotals are a payroll's subtotals (Payroll-Totals-Type in Gusto's
// reference, where every amount is a decimal string; Money also takes the
// numbers of older versions). Fields Gusto did not send are empty.
type PayrollTotals struct {
	GrossPay      Money `json:"gross_pay"`
	NetPay        Money `json:"net_pay"`
	CompanyDebit  Money `json:"company_debit"`
	EmployerTaxes Money `json:"employer_taxes"`
	EmployeeTaxes Money `json:"employee_taxes"`
}

// PayrollStatusMeta is a payroll's payroll_status_meta
// (Payroll-Payroll-Status-Meta-Type). Since API version 2026-06-15
// initial_check_date and payroll_late are null for off-cycle payrolls:
// InitialCheckDate is then "" and PayrollLate nil.
type PayrollStatusMeta struct {
	Cancellable *bool `json:"cancellable"`
	// ExpectedCheckDate is the payday if the payroll is submitted now.
	ExpectedCheckDate string `json:"expected_check_date"`
	// InitialCheckDate is the normal payday of the pay period; "" when null.
	InitialCheckDate string `json:"initial_check_date"`
	// PayrollLate is expected_check_date > initial_check_date; nil when null.
	PayrollLate *bool `json:"payroll_late"`
}

// Payroll is one item of GET /v1/companies/{company_id}/payrolls. Gusto
// sends the id as payroll_uuid and as uuid; UUID holds whichever is present.
type Payroll struct {
	// UUID is payroll_uuid, or uuid when payroll_uuid is absent.
	UUID        string `json:"-"`
	CompanyUUID string `json:"company_uuid"`
	// CheckDate is the payday, YYYY-MM-DD.
	CheckDate     string    `json:"check_date"`
	Processed     bool      `json:"processed"`
	ProcessedDate string    `json:"processed_date"` // null decodes as ""
	OffCycle      bool      `json:"off_cycle"`
	PayPeriod     PayPeriod `json:"pay_period"`
	// CreatedAt is an RFC 3339 timestamp, kept as sent.
	CreatedAt string `json:"created_at"`
	// Totals are the payroll's subtotals; nil unless asked for with
	// include=totals.
	Totals *PayrollTotals `json:"totals"`
	// StatusMeta is payroll_status_meta; nil unless asked for with
	// include=payroll_status_meta.
	StatusMeta *PayrollStatusMeta `json:"payroll_status_meta"`
	// Raw is the payroll object exactly as Gusto sent it.
	Raw json.RawMessage `json:"-"`

	payrollUUID, altUUID string // the two id fields as sent, for validate
}

// UnmarshalJSON decodes a payroll, keeping both id fields for validation.
func (p *Payroll) UnmarshalJSON(b []byte) error {
	type plain Payroll
	var w struct {
		plain
		PayrollUUID string `json:"payroll_uuid"`
		UUID        string `json:"uuid"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = Payroll(w.plain)
	p.payrollUUID, p.altUUID = w.PayrollUUID, w.UUID
	return nil
}

func (p *Payroll) setRaw(raw json.RawMessage) { p.Raw = raw }

func (p *Payroll) validate(companyUUID string) error {
	switch {
	case p.payrollUUID == "" && p.altUUID == "":
		return errMissing("payroll_uuid")
	case p.payrollUUID != "" && p.altUUID != "" && !strings.EqualFold(p.payrollUUID, p.altUUID):
		return decodeError("payroll_uuid and uuid differ")
	case p.payrollUUID != "":
		p.UUID = p.payrollUUID
	default:
		p.UUID = p.altUUID
	}
	return ownRecord(p.UUID, "company_uuid", p.CompanyUUID, companyUUID)
}

// Me is GET /v1/me (app integrations): the user and the companies it can
// reach. The response shape is not in Gusto's embedded reference, so it is
// decoded tolerantly: fields of an unexpected type are ignored, companies are
// gathered from a top-level "companies" array and from every
// "roles".{role}."companies" array, and Raw keeps the whole object.
type Me struct {
	UUID      string
	Email     string
	Companies []MeCompany
	// Raw is the object exactly as Gusto sent it.
	Raw json.RawMessage
}

// MeCompany is a company reachable by the user, with the roles it holds
// there (e.g. "payroll_admin").
type MeCompany struct {
	UUID  string
	Name  string
	Roles []string
}

// decodeMe decodes /v1/me tolerantly; only a non-object body is malformed.
func decodeMe(b []byte) (Me, error) {
	var top map[string]json.RawMessage
	if err := unmarshalObject(b, &top); err != nil {
		return Me{}, err
	}
	m := Me{Raw: json.RawMessage(b)}
	m.UUID = looseString(top["uuid"])
	m.Email = looseString(top["email"])
	index := map[string]int{}
	add := func(raw json.RawMessage, role string) {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return
		}
		for _, item := range list {
			var c map[string]json.RawMessage
			if json.Unmarshal(item, &c) != nil {
				continue
			}
			id := looseString(c["uuid"])
			if id == "" {
				continue
			}
			i, ok := index[strings.ToLower(id)]
			if !ok {
				i = len(m.Companies)
				index[strings.ToLower(id)] = i
				m.Companies = append(m.Companies, MeCompany{UUID: id})
			}
			if n := looseString(c["name"]); n != "" && m.Companies[i].Name == "" {
				m.Companies[i].Name = n
			}
			if role != "" {
				m.Companies[i].Roles = append(m.Companies[i].Roles, role)
			}
		}
	}
	add(top["companies"], "")
	var roles map[string]json.RawMessage
	if json.Unmarshal(top["roles"], &roles) == nil {
		names := make([]string, 0, len(roles))
		for name := range roles {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			var role map[string]json.RawMessage
			if json.Unmarshal(roles[name], &role) == nil {
				add(role["companies"], name)
			}
		}
	}
	return m, nil
}

// looseString returns raw as a string when it is a JSON string, else "".
func looseString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// decodeTokenInfo decodes /v1/token_info. Gusto's reference marks no field
// required (resource is null for system tokens); wrong types are malformed.
func decodeTokenInfo(b []byte) (TokenInfo, error) {
	var ti TokenInfo
	err := unmarshalObject(b, &ti)
	return ti, err
}
