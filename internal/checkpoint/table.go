package checkpoint

import (
	"encoding/json"
	"fmt"
	"slices"
)

// This file: the schema half of a synced resource. Package jobs holds the
// list of what gustosync syncs (internal/jobs/resources.go): one descriptor
// per resource, naming how it is fetched from Gusto and which Table below
// it fills. Here is only what PostgreSQL needs to know: the table, its key
// columns, its derived child tables, and how a full walk reconciles it. No
// Gusto wire format: a Row is handed over already decoded.

// Resource names what a checkpoint tracks and which table a batch fills
// (sync_checkpoints.resource; Table.Resource).
type Resource string

// The resources of the built-in tables.
const (
	// ResourceCompany is the company record (gusto_companies).
	ResourceCompany Resource = "company"
	// ResourceEmployees is the company's employees (gusto_employees).
	ResourceEmployees Resource = "employees"
	// ResourcePayrolls is the company's payrolls (gusto_payrolls).
	ResourcePayrolls Resource = "payrolls"
)

// ColumnKind is how a key column's value travels in Row.Values.
type ColumnKind int

// The column kinds. A Row's value for each is:
const (
	// Text: a string.
	Text ColumnKind = iota
	// Bool: a bool.
	Bool
	// Date: a string, YYYY-MM-DD; anything else (including "") is NULL.
	Date
	// Numeric: a string holding a decimal number (money travels as text,
	// never as a float); "" is NULL. PostgreSQL refuses anything else.
	Numeric
	// Int: an int64.
	Int
)

// Column is a key column: a copy of one field of the payload, kept for
// queries.
type Column struct {
	Name string
	Kind ColumnKind
}

// Reconcile is how a full walk marks the rows Gusto no longer returns
// (deleted_at; Attempt.CompleteFull).
type Reconcile int

const (
	// ReconcileNone: never marked (a record read by its uuid: the company).
	ReconcileNone Reconcile = iota
	// ReconcileAll: every live row of the company that the walk did not
	// return is marked.
	ReconcileAll
	// ReconcileWindows: only rows lying wholly inside one of the windows
	// the walk recorded as walked (Batch.Windows), by the rule the table
	// declares for that window's kind (Table.Windows): a row the walk
	// could not have seen is never marked.
	ReconcileWindows
)

// WindowRule says which rows a walked window of one kind would have
// returned, were they still in Gusto: those whose every non-NULL Within
// column (dates) lies inside the window, at least one of them non-NULL,
// and that satisfy Where (an SQL condition on the table's columns, alias
// t, and the window's start_date and end_date, alias w; "" for none).
type WindowRule struct {
	Within []string
	Where  string
}

// ChildTable is a table of rows derived from each record (a pay statement's
// earning, tax, deduction and benefit lines; an employee's jobs): written
// in the transaction that writes their parent row, replaced whenever the
// parent row is rewritten, left alone while it is unchanged. Its columns
// are Parent (the parent's uuid), company_uuid, position (0-based, in the
// order given) and Columns.
type ChildTable struct {
	Name    string
	Parent  string
	Columns []Column
}

// Table describes one synced-rows table: uuid primary key, company_uuid
// (when Owned), the key Columns, payload (jsonb, the record exactly as Gusto
// sent it), synced_at and deleted_at.
type Table struct {
	// Resource names the table's checkpoint and batches.
	Resource Resource
	// Name is the table (gusto_employees).
	Name string
	// Owned: the table has company_uuid, and a row never changes company
	// (invariant 14). Unowned: the row's uuid is the company's (the
	// company record).
	Owned bool
	// Columns are the key columns, in Row.Values order.
	Columns []Column
	// Children are the derived tables, in Row.Children order.
	Children []ChildTable
	// Reconcile is how a full walk marks deletions.
	Reconcile Reconcile
	// Windows are the rules of ReconcileWindows, by window kind.
	Windows map[string]WindowRule
	// PeriodStart and PeriodEnd name two Date columns holding the period a
	// record covers, and PeriodGroup an SQL expression grouping records
	// into series (a pay schedule): Store.Periods reads them, so that a
	// walk can place its windows on the periods a company is known to
	// have. Empty when the table has none.
	PeriodStart, PeriodEnd, PeriodGroup string
	// FinalWhen, when set, is an SQL condition on the table's columns
	// (alias t) saying a record will not change any more once processed
	// (a processed payroll): a substream walked per record of this table
	// may skip it once read (Store.Parents).
	FinalWhen string

	sql tableSQL // statements, built by register
}

// Values is one row's column values, in a table's Columns order.
type Values []any

// Row is one record to store in a Table.
type Row struct {
	// UUID is the record's Gusto uuid (or one derived from its key).
	UUID string
	// Values are the key columns, in Table.Columns order.
	Values Values
	// Payload is the record exactly as Gusto sent it.
	Payload json.RawMessage
	// Children are the derived rows, one list per Table.Children (nil: none).
	Children [][]Values
}

// The built-in tables. A new synced resource adds its Table here (and its
// migration), and its descriptor in internal/jobs/resources.go.
var (
	// CompanyTable is gusto_companies: the company record.
	CompanyTable = &Table{Resource: ResourceCompany, Name: "gusto_companies", Columns: []Column{
		{"name", Text}, {"trade_name", Text}, {"company_status", Text},
	}}
	// EmployeesTable is gusto_employees.
	EmployeesTable = &Table{Resource: ResourceEmployees, Name: "gusto_employees", Owned: true, Reconcile: ReconcileAll, Columns: []Column{
		{"first_name", Text}, {"last_name", Text}, {"email", Text}, {"terminated", Bool}, {"version", Text},
	}}
	// PayrollsTable is gusto_payrolls. Payroll history is read in date
	// windows (package jobs, windows.go): a full walk marks only payrolls
	// that lie wholly inside a window it walked, by the window kind's rule.
	PayrollsTable = &Table{Resource: ResourcePayrolls, Name: "gusto_payrolls", Owned: true, Reconcile: ReconcileWindows,
		Columns: []Column{
			{"check_date", Date}, {"processed", Bool}, {"off_cycle", Bool}, {"pay_period_start", Date}, {"pay_period_end", Date},
		},
		Windows: map[string]WindowRule{
			WindowPayPeriod:  payPeriodRule,
			WindowLongPeriod: payPeriodRule,
			WindowCheckDate:  {Within: []string{"check_date"}, Where: regularProcessed},
		},
		PeriodStart: "pay_period_start", PeriodEnd: "pay_period_end", PeriodGroup: "t.payload->'pay_period'->>'pay_schedule_uuid'",
		FinalWhen: "t.processed",
	}
)

// The window kinds of gusto_payrolls (Table.Windows).
const (
	// WindowPayPeriod: a range of pay periods (start_date, end_date).
	WindowPayPeriod = "pay_period"
	// WindowLongPeriod: a range of pay periods placed on a long one.
	WindowLongPeriod = "long_period"
	// WindowCheckDate: a range of check dates (date_filter_by=check_date),
	// regular processed payrolls only.
	WindowCheckDate = "check_date"
)

// regularProcessed is the SQL condition that payroll t is a regular
// processed payroll: the only ones Gusto's check-date filter applies to.
const regularProcessed = "t.processed AND NOT t.off_cycle AND NOT COALESCE(t.payload->>'external' = 'true', false)"

// payPeriodRule: a pay-period range returns, under every reading of
// Gusto's filter, a payroll whose pay period lies inside it, and, for a
// regular processed payroll, whose check date does too (the check-date
// reading).
var payPeriodRule = WindowRule{Within: []string{"pay_period_start", "pay_period_end"},
	Where: "t.check_date BETWEEN w.start_date AND w.end_date OR NOT (" + regularProcessed + ")"}

// Tables lists the built-in tables, in the order a sync walks them.
var Tables = []*Table{CompanyTable, EmployeesTable, PayrollsTable}

// Resources lists the built-in resources, in the order a sync walks them.
var Resources = func() []Resource {
	out := make([]Resource, len(Tables))
	for i, t := range Tables {
		out[i] = t.Resource
	}
	return out
}()

func init() {
	for _, t := range Tables {
		if err := t.register(); err != nil {
			panic(err)
		}
	}
}

// register checks t and builds its statements once.
func (t *Table) register() error {
	if t.sql.table != nil {
		return nil
	}
	if t.Resource == "" || t.Name == "" {
		return fmt.Errorf("checkpoint: table %q of resource %q: both names are required", t.Name, t.Resource)
	}
	if t.Reconcile == ReconcileWindows && len(t.Windows) == 0 {
		return fmt.Errorf("checkpoint: table %s reconciles by windows but declares none", t.Name)
	}
	if t.Reconcile != ReconcileNone && !t.Owned {
		return fmt.Errorf("checkpoint: table %s is reconciled but has no company_uuid", t.Name)
	}
	for _, c := range t.Children {
		if c.Name == "" || c.Parent == "" {
			return fmt.Errorf("checkpoint: a child table of %s lacks its name or parent column", t.Name)
		}
	}
	t.sql = tableSQL{table: t, existing: t.existingSQL(), update: t.updateSQL(), copyColumns: t.copyColumns()}
	return nil
}

// tableOf returns the table of r among tables, or nil.
func tableOf(tables []*Table, r Resource) *Table {
	i := slices.IndexFunc(tables, func(t *Table) bool { return t.Resource == r })
	if i < 0 {
		return nil
	}
	return tables[i]
}
