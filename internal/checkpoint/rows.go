package checkpoint

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/postgres"
)

// Resource names what a checkpoint tracks and which table a batch fills.
type Resource string

// The resources a company sync walks, in order.
const (
	// ResourceCompany is the company record (gusto_companies).
	ResourceCompany Resource = "company"
	// ResourceEmployees is the company's employees (gusto_employees).
	ResourceEmployees Resource = "employees"
	// ResourcePayrolls is the company's payrolls (gusto_payrolls).
	ResourcePayrolls Resource = "payrolls"
)

// Resources lists every resource, in the order a sync walks them.
var Resources = []Resource{ResourceCompany, ResourceEmployees, ResourcePayrolls}

func (r Resource) valid() bool {
	switch r {
	case ResourceCompany, ResourceEmployees, ResourcePayrolls:
		return true
	}
	return false
}

// Row is one record to upsert: a *CompanyRow, *EmployeeRow or *PayrollRow.
// The key columns are copies of fields of Payload, kept for queries.
type Row interface {
	resource() Resource
	key() string
}

// CompanyRow is a row of gusto_companies.
type CompanyRow struct {
	UUID          string
	Name          string
	TradeName     string
	CompanyStatus string
	// Payload is the company object exactly as Gusto sent it.
	Payload json.RawMessage
}

// EmployeeRow is a row of gusto_employees.
type EmployeeRow struct {
	UUID       string
	FirstName  string
	LastName   string
	Email      string
	Terminated bool
	Version    string
	// Payload is the employee object exactly as Gusto sent it.
	Payload json.RawMessage
}

// PayrollRow is a row of gusto_payrolls. Dates are YYYY-MM-DD; anything
// else (including "") is stored as NULL, the payload keeping what Gusto sent.
type PayrollRow struct {
	UUID           string
	CheckDate      string
	Processed      bool
	OffCycle       bool
	PayPeriodStart string
	PayPeriodEnd   string
	// Payload is the payroll object exactly as Gusto sent it.
	Payload json.RawMessage
}

func (*CompanyRow) resource() Resource  { return ResourceCompany }
func (*EmployeeRow) resource() Resource { return ResourceEmployees }
func (*PayrollRow) resource() Resource  { return ResourcePayrolls }
func (r *CompanyRow) key() string       { return r.UUID }
func (r *EmployeeRow) key() string      { return r.UUID }
func (r *PayrollRow) key() string       { return r.UUID }

// The upserts take one array per column (unnest, each bound whole with
// postgres.Array), so a statement has a fixed number of parameters whatever
// the batch size. A conflicting row is
// rewritten only when its payload changed: a sync of an unchanged company
// writes no new row versions.
const (
	upsertCompanies = `
INSERT INTO gusto_companies (uuid, name, trade_name, company_status, payload, synced_at)
SELECT u, n, t, s, p::jsonb, now()
FROM unnest(?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[]) AS x(u, n, t, s, p)
ON CONFLICT (uuid) DO UPDATE SET
    name = excluded.name, trade_name = excluded.trade_name,
    company_status = excluded.company_status,
    payload = excluded.payload, synced_at = excluded.synced_at
WHERE gusto_companies.payload IS DISTINCT FROM excluded.payload`

	upsertEmployees = `
INSERT INTO gusto_employees (uuid, company_uuid, first_name, last_name, email, terminated, version, payload, synced_at)
SELECT u, ?::uuid, f, l, e, t, v, p::jsonb, now()
FROM unnest(?::uuid[], ?::text[], ?::text[], ?::text[], ?::bool[], ?::text[], ?::text[]) AS x(u, f, l, e, t, v, p)
ON CONFLICT (uuid) DO UPDATE SET
    company_uuid = excluded.company_uuid, first_name = excluded.first_name,
    last_name = excluded.last_name, email = excluded.email,
    terminated = excluded.terminated, version = excluded.version,
    payload = excluded.payload, synced_at = excluded.synced_at
WHERE gusto_employees.payload IS DISTINCT FROM excluded.payload`

	upsertPayrolls = `
INSERT INTO gusto_payrolls (uuid, company_uuid, check_date, processed, off_cycle, pay_period_start, pay_period_end, payload, synced_at)
SELECT u, ?::uuid, NULLIF(c, '')::date, pr, oc, NULLIF(s, '')::date, NULLIF(e, '')::date, p::jsonb, now()
FROM unnest(?::uuid[], ?::text[], ?::bool[], ?::bool[], ?::text[], ?::text[], ?::text[]) AS x(u, c, pr, oc, s, e, p)
ON CONFLICT (uuid) DO UPDATE SET
    company_uuid = excluded.company_uuid, check_date = excluded.check_date,
    processed = excluded.processed, off_cycle = excluded.off_cycle,
    pay_period_start = excluded.pay_period_start, pay_period_end = excluded.pay_period_end,
    payload = excluded.payload, synced_at = excluded.synced_at
WHERE gusto_payrolls.payload IS DISTINCT FROM excluded.payload`
)

// prepared is a batch checked and turned into the upsert's arguments.
type prepared struct {
	query string
	args  []any
	n     int // distinct rows
}

// prepare validates rows (all of resource r, uuids that parse, payloads
// that are JSON) and builds the column arrays. A uuid repeated inside the
// batch keeps its last occurrence: Gusto's offset pagination can repeat a
// record when data shifts, and one statement cannot update a row twice.
func prepare(company string, r Resource, rows []Row) (*prepared, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	index := make(map[string]int, len(rows))
	keep := make([]Row, 0, len(rows))
	ids := make([]string, 0, len(rows))
	for i, row := range rows {
		if row == nil || row.resource() != r {
			return nil, &BatchError{Resource: r, Reason: fmt.Sprintf("row %d is not a %s row", i, r)}
		}
		id, err := uuid.Parse(row.key())
		if err != nil {
			return nil, &BatchError{Resource: r, Reason: fmt.Sprintf("row %d: uuid %q does not parse", i, truncate(row.key()))}
		}
		k := id.String()
		if j, dup := index[k]; dup {
			keep[j] = row
			continue
		}
		index[k] = len(keep)
		keep = append(keep, row)
		ids = append(ids, k)
	}
	n := len(keep)
	payloads := make([]string, n)
	for i, row := range keep {
		p := payloadOf(row)
		if len(p) == 0 {
			return nil, &BatchError{Resource: r, Reason: fmt.Sprintf("record %s: empty payload", ids[i])}
		}
		// Not re-validated here: the client decoded it, and PostgreSQL's
		// jsonb cast refuses anything else (the whole batch then fails).
		payloads[i] = string(p)
	}
	switch r {
	case ResourceCompany:
		name, trade, status := make([]string, n), make([]string, n), make([]string, n)
		for i, row := range keep {
			c := row.(*CompanyRow)
			name[i], trade[i], status[i] = c.Name, c.TradeName, c.CompanyStatus
		}
		return &prepared{query: upsertCompanies, args: []any{postgres.Array(ids), postgres.Array(name), postgres.Array(trade), postgres.Array(status), postgres.Array(payloads)}, n: n}, nil
	case ResourceEmployees:
		first, last, email, term, ver := make([]string, n), make([]string, n), make([]string, n), make([]bool, n), make([]string, n)
		for i, row := range keep {
			e := row.(*EmployeeRow)
			first[i], last[i], email[i], term[i], ver[i] = e.FirstName, e.LastName, e.Email, e.Terminated, e.Version
		}
		return &prepared{query: upsertEmployees, args: []any{company, postgres.Array(ids), postgres.Array(first), postgres.Array(last), postgres.Array(email), postgres.Array(term), postgres.Array(ver), postgres.Array(payloads)}, n: n}, nil
	default: // ResourcePayrolls; r was checked by the caller
		check, proc, off, start, end := make([]string, n), make([]bool, n), make([]bool, n), make([]string, n), make([]string, n)
		for i, row := range keep {
			p := row.(*PayrollRow)
			check[i], proc[i], off[i] = date(p.CheckDate), p.Processed, p.OffCycle
			start[i], end[i] = date(p.PayPeriodStart), date(p.PayPeriodEnd)
		}
		return &prepared{query: upsertPayrolls, args: []any{company, postgres.Array(ids), postgres.Array(check), postgres.Array(proc), postgres.Array(off), postgres.Array(start), postgres.Array(end), postgres.Array(payloads)}, n: n}, nil
	}
}

func payloadOf(row Row) json.RawMessage {
	switch r := row.(type) {
	case *CompanyRow:
		return r.Payload
	case *EmployeeRow:
		return r.Payload
	case *PayrollRow:
		return r.Payload
	}
	return nil
}

// date returns s when it is a YYYY-MM-DD date, else "" (stored as NULL).
func date(s string) string {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return ""
	}
	return s
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
