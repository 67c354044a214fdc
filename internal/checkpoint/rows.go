package checkpoint

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

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

// table describes one synced-rows table and the columns a batch fills
// beside uuid, company_uuid and synced_at.
type table struct {
	// name is the synced table (gusto_employees).
	name string
	// owned: the table has company_uuid, and a row never changes company.
	owned bool
	// columns are the batch's columns, in the order of a prepared row
	// (after its uuid); payload is last.
	columns []column
}

// column is one column a batch fills.
type column struct {
	name string
	kind kind
}

// kind is how a column's value travels: a prepared row holds a string for
// kindText and kindDate (YYYY-MM-DD or "" for NULL), a bool for kindBool,
// and a json.RawMessage for kindJSON.
type kind int

const (
	kindText kind = iota
	kindBool
	kindDate
	kindJSON
)

// onWrite are assignments made to every row the update path writes,
// whatever the batch holds ({column, SQL value}; new rows get the columns'
// defaults). A row that exists is rewritten when its payload or one of
// these columns differs from what would be written; Result.Changed counts
// those rows. A column added here must exist in every synced table; e.g.
// {"deleted_at", "NULL"} makes a row Gusto returns again undeleted.
var onWrite = []struct{ name, value string }{}

var (
	companiesTable = table{name: "gusto_companies", columns: []column{
		{"name", kindText}, {"trade_name", kindText}, {"company_status", kindText}, {"payload", kindJSON},
	}}
	employeesTable = table{name: "gusto_employees", owned: true, columns: []column{
		{"first_name", kindText}, {"last_name", kindText}, {"email", kindText}, {"terminated", kindBool},
		{"version", kindText}, {"payload", kindJSON},
	}}
	payrollsTable = table{name: "gusto_payrolls", owned: true, columns: []column{
		{"check_date", kindDate}, {"processed", kindBool}, {"off_cycle", kindBool},
		{"pay_period_start", kindDate}, {"pay_period_end", kindDate}, {"payload", kindJSON},
	}}
)

func tableOf(r Resource) *table {
	switch r {
	case ResourceCompany:
		return &companiesTable
	case ResourceEmployees:
		return &employeesTable
	default: // ResourcePayrolls; r was checked by the caller
		return &payrollsTable
	}
}

// existing finds which of a batch's records already have a row, and their
// company (its one parameter is the batch's uuids).
func (t *table) existing() string {
	owner := "NULL"
	if t.owned {
		owner = "company_uuid::text"
	}
	return "SELECT uuid::text AS uuid, " + owner + " AS company FROM " + t.name + " WHERE uuid = ANY(?::uuid[])"
}

// copyColumns are the columns the insert path copies, in a copy row's order.
func (t *table) copyColumns() []string {
	cols := []string{"uuid"}
	if t.owned {
		cols = append(cols, "company_uuid")
	}
	for _, c := range t.columns {
		cols = append(cols, c.name)
	}
	return cols
}

// update is the update path's statement: the batch's records that exist
// and belong to the company, one array parameter per column (after the
// company, for owned tables). For gusto_employees it reads:
//
//	INSERT INTO gusto_employees AS t (uuid, company_uuid, first_name, …, payload, synced_at)
//	SELECT x.uuid, ?::uuid, x.first_name, …, x.payload::jsonb, now()
//	FROM unnest(?::uuid[], ?::text[], …, ?::text[]) AS x(uuid, first_name, …, payload)
//	ON CONFLICT (uuid) DO UPDATE SET first_name = excluded.first_name, …, payload = excluded.payload, synced_at = excluded.synced_at
//	WHERE t.company_uuid = excluded.company_uuid
//	  AND (t.payload) IS DISTINCT FROM (excluded.payload)
//
// A row is rewritten only when its payload (or an onWrite column) changed:
// a sync of an unchanged company writes no new row versions. A row of
// another company is never rewritten (invariant 14: rows never change
// company), whatever raced the existence check.
func (t *table) update() string {
	var cols, vals, types, names, set, old, new []string
	cols, vals = append(cols, "uuid"), append(vals, "x.uuid")
	types, names = append(types, "?::uuid[]"), append(names, "uuid")
	if t.owned {
		cols, vals = append(cols, "company_uuid"), append(vals, "?::uuid")
	}
	for _, c := range t.columns {
		v, typ := "x."+c.name, "text"
		switch c.kind {
		case kindBool:
			typ = "boolean"
		case kindDate:
			v = "NULLIF(x." + c.name + ", '')::date"
		case kindJSON:
			v = "x." + c.name + "::jsonb"
		}
		cols, vals = append(cols, c.name), append(vals, v)
		types, names = append(types, "?::"+typ+"[]"), append(names, c.name)
		set = append(set, c.name+" = excluded."+c.name)
	}
	cols, vals = append(cols, "synced_at"), append(vals, "now()")
	set = append(set, "synced_at = excluded.synced_at")
	old, new = append(old, "t.payload"), append(new, "excluded.payload")
	for _, c := range onWrite {
		cols, vals = append(cols, c.name), append(vals, c.value)
		set = append(set, c.name+" = excluded."+c.name)
		old, new = append(old, "t."+c.name), append(new, "excluded."+c.name)
	}
	where := "(" + strings.Join(old, ", ") + ") IS DISTINCT FROM (" + strings.Join(new, ", ") + ")"
	if t.owned {
		where = "t.company_uuid = excluded.company_uuid\n  AND " + where
	}
	return "INSERT INTO " + t.name + " AS t (" + strings.Join(cols, ", ") + ")\n" +
		"SELECT " + strings.Join(vals, ", ") + "\n" +
		"FROM unnest(" + strings.Join(types, ", ") + ") AS x(" + strings.Join(names, ", ") + ")\n" +
		"ON CONFLICT (uuid) DO UPDATE SET " + strings.Join(set, ", ") + "\n" +
		"WHERE " + where
}

// tableSQL is a table's statements, built once.
type tableSQL struct {
	table            *table
	existing, update string
	copyColumns      []string
}

var statements = func() map[Resource]tableSQL {
	m := map[Resource]tableSQL{}
	for _, r := range Resources {
		t := tableOf(r)
		m[r] = tableSQL{table: t, existing: t.existing(), update: t.update(), copyColumns: t.copyColumns()}
	}
	return m
}()

// prepared is a batch checked and turned into rows: each row is its uuid
// ([16]byte) followed by the table's columns (see kind).
type prepared struct {
	sql  tableSQL
	ids  []string // canonical uuids, in rows' order
	rows [][]any
	n    int // distinct rows
}

// arrays returns the update path's parameters for the rows at idx: the
// company (owned tables), then one array per column.
func (p *prepared) arrays(company string, idx []int) []any {
	var args []any
	if p.sql.table.owned {
		args = append(args, company)
	}
	ids := make([][16]byte, len(idx))
	for i, j := range idx {
		ids[i] = p.rows[j][0].([16]byte)
	}
	args = append(args, postgres.Array(ids))
	for c, col := range p.sql.table.columns {
		switch col.kind {
		case kindBool:
			v := make([]bool, len(idx))
			for i, j := range idx {
				v[i] = p.rows[j][c+1].(bool)
			}
			args = append(args, postgres.Array(v))
		case kindJSON:
			v := make([]string, len(idx))
			for i, j := range idx {
				v[i] = string(p.rows[j][c+1].(json.RawMessage))
			}
			args = append(args, postgres.Array(v))
		default:
			v := make([]string, len(idx))
			for i, j := range idx {
				v[i] = p.rows[j][c+1].(string)
			}
			args = append(args, postgres.Array(v))
		}
	}
	return args
}

// copyRows returns the insert path's COPY rows for the rows at idx, in
// copyColumns order.
func (p *prepared) copyRows(company [16]byte, idx []int) [][]any {
	out := make([][]any, len(idx))
	for i, j := range idx {
		row := p.rows[j]
		r := make([]any, 0, len(row)+1)
		r = append(r, row[0])
		if p.sql.table.owned {
			r = append(r, company)
		}
		for c, col := range p.sql.table.columns {
			v := row[c+1]
			if col.kind == kindDate {
				d := pgtype.Date{}
				if t, err := time.Parse(time.DateOnly, v.(string)); err == nil {
					d = pgtype.Date{Time: t, Valid: true}
				}
				v = d
			}
			r = append(r, v)
		}
		out[i] = r
	}
	return out
}

// prepare validates rows (all of resource r, uuids that parse, non-empty
// payloads) and builds the prepared rows. A uuid repeated inside the batch
// keeps its last occurrence: Gusto's offset pagination can repeat a record
// when data shifts, and one statement cannot write a row twice.
func prepare(r Resource, rows []Row) (*prepared, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	index := make(map[uuid.UUID]int, len(rows))
	keep := make([]Row, 0, len(rows))
	ids := make([]uuid.UUID, 0, len(rows))
	for i, row := range rows {
		if row == nil || row.resource() != r {
			return nil, &BatchError{Resource: r, Reason: fmt.Sprintf("row %d is not a %s row", i, r)}
		}
		id, err := uuid.Parse(row.key())
		if err != nil {
			return nil, &BatchError{Resource: r, Reason: fmt.Sprintf("row %d: uuid %q does not parse", i, truncate(row.key()))}
		}
		if j, dup := index[id]; dup {
			keep[j] = row
			continue
		}
		index[id] = len(keep)
		keep = append(keep, row)
		ids = append(ids, id)
	}
	out := &prepared{sql: statements[r], ids: make([]string, len(keep)), rows: make([][]any, len(keep)), n: len(keep)}
	for i, row := range keep {
		// The payload is not re-validated here: the client decoded it, and
		// PostgreSQL's jsonb input refuses anything else (the whole batch
		// then fails).
		p := payloadOf(row)
		if len(p) == 0 {
			return nil, &BatchError{Resource: r, Reason: fmt.Sprintf("record %s: empty payload", ids[i])}
		}
		id := [16]byte(ids[i])
		out.ids[i] = ids[i].String()
		switch row := row.(type) {
		case *CompanyRow:
			out.rows[i] = []any{id, row.Name, row.TradeName, row.CompanyStatus, p}
		case *EmployeeRow:
			out.rows[i] = []any{id, row.FirstName, row.LastName, row.Email, row.Terminated, row.Version, p}
		case *PayrollRow:
			out.rows[i] = []any{id, date(row.CheckDate), row.Processed, row.OffCycle, date(row.PayPeriodStart), date(row.PayPeriodEnd), p}
		}
	}
	return out, nil
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
