package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gusto"
)

// What gustosync syncs: this file is the list (Resources), one descriptor
// per resource, in the order a sync walks them. One engine (walk.go) walks
// every descriptor the same way: it checkpoints each batch with its rows,
// fences every write by the attempt's epoch, carries progress across runs,
// budgets page memory and paces requests (inside the Gusto client), checks
// every page walk against Gusto's pagination headers across retries and
// attempts, and reconciles deletions after a consistent full walk.
//
// To add a resource: a migration creating its table (uuid primary key,
// company_uuid, key columns, payload jsonb, synced_at, deleted_at; child
// tables with the parent's uuid, company_uuid and position), its
// checkpoint.Table (internal/checkpoint/table.go), and a descriptor below
// with its Fetch; nothing else in the engine changes.

// Resources are the resources gustosync syncs, in walk order (a
// substream after its parent).
var Resources = []*Resource{CompanyResource, EmployeesResource, PayrollsResource}

// CompanyResource is the company record: GET /v1/companies/{company_id},
// one record, read by full runs only (it rarely changes; a company that
// goes away is a revoked grant, not a deleted row).
var CompanyResource = &Resource{
	Table:       checkpoint.CompanyTable,
	Scope:       "companies:read",
	Incremental: FullOnly,
	Fetch: func(ctx context.Context, src Source, q Query) iter.Seq2[RowPage, error] {
		return func(yield func(RowPage, error) bool) {
			co, err := src.API.Company(ctx, src.Tokens, q.Company)
			if err != nil {
				yield(RowPage{}, err)
				return
			}
			yield(RowPage{Number: 1, Last: true, Rows: []checkpoint.Row{{UUID: co.UUID,
				Values: checkpoint.Values{co.Name, co.TradeName, co.CompanyStatus}, Payload: co.Raw}}}, nil)
		}
	},
}

// EmployeesResource is GET /v1/companies/{company_id}/employees, paged.
// Gusto documents no updated-since filter on it, so an incremental run
// reads all of them or none, on Gusto's word (invariant 27;
// syncRun.skipEmployees).
var EmployeesResource = &Resource{
	Table:       checkpoint.EmployeesTable,
	Scope:       "employees:read",
	Incremental: OnEvents,
	Fetch: func(ctx context.Context, src Source, q Query) iter.Seq2[RowPage, error] {
		return rowPages(src.API.Employees(ctx, src.Tokens, q.Company, q.Page), func(e *gusto.Employee) checkpoint.Row {
			return checkpoint.Row{UUID: e.UUID, Values: checkpoint.Values{e.FirstName, e.LastName, e.Email, e.Terminated, e.Version}, Payload: e.Raw}
		})
	},
}

// PayrollsResource is GET /v1/companies/{company_id}/payrolls in date
// windows (windows.go): every processing status and payroll type,
// include=totals, ascending.
var PayrollsResource = &Resource{
	Table:       checkpoint.PayrollsTable,
	Scope:       "payrolls:read",
	Incremental: Always,
	Windows:     payrollWindows{},
	Fetch: func(ctx context.Context, src Source, q Query) iter.Seq2[RowPage, error] {
		o := gusto.PayrollOptions{
			PageOptions:        q.Page,
			StartDate:          q.Window.Start.Format(dateOnly),
			EndDate:            q.Window.End.Format(dateOnly),
			ProcessingStatuses: []string{"processed", "unprocessed"},
			PayrollTypes:       []string{"regular", "off_cycle", "external"},
			Include:            []string{"totals"},
			SortOrder:          "asc",
		}
		if q.Window.Kind == checkpoint.WindowCheckDate {
			// Gusto's check-date filter applies to regular processed
			// payrolls only: ask for just those.
			o.DateFilterBy, o.ProcessingStatuses, o.PayrollTypes = "check_date", []string{"processed"}, []string{"regular"}
		}
		return rowPages(src.API.Payrolls(ctx, src.Tokens, q.Company, o), func(p *gusto.Payroll) checkpoint.Row {
			return checkpoint.Row{UUID: p.UUID, Values: checkpoint.Values{p.CheckDate, p.Processed, p.OffCycle, p.PayPeriod.StartDate, p.PayPeriod.EndDate},
				Payload: p.Raw}
		})
	},
}

// Resource describes one synced resource: where it comes from, how it is
// paged and windowed, what it hangs off, and where it goes.
type Resource struct {
	// Table is where its records go: the table, key columns, derived child
	// tables and deletion rule (package checkpoint). Its Resource names
	// this descriptor (SYNC_RESOURCES, sync_checkpoints.resource).
	Table *checkpoint.Table
	// Scope is the OAuth scope Gusto requires for it. A resource selected
	// as optional (Selection.Optional) whose scope the grant lacks is
	// skipped with a note on the run, never marking the company.
	Scope string
	// Fetch reads one page walk of the resource from q.Page.Page on (one
	// window, one parent record's children, or the whole collection).
	Fetch Fetch
	// Windows, when set, splits a walk into date windows (the payrolls').
	Windows WindowPolicy
	// Parent, when set, makes this a substream: walked once per live
	// record of the parent's table (Query.Parent), parents by uuid. A
	// parent whose table's FinalWhen holds and whose children were read at
	// its current version is skipped by incremental runs: read once, then
	// only on Gusto's word (a changed record, which its events and the
	// incremental windows bring in, or the full reconciliation).
	Parent *Resource
	// Incremental is what an incremental run does with it.
	Incremental Incremental
}

// Name is the resource's name (its table's Resource).
func (r *Resource) Name() checkpoint.Resource { return r.Table.Resource }

// Incremental is what an incremental run does with a resource.
type Incremental int

const (
	// Always: every run walks it (windowed resources walk their recent
	// windows).
	Always Incremental = iota
	// FullOnly: only full runs walk it.
	FullOnly
	// OnEvents: an incremental run walks it unless Gusto's events vouch
	// that nothing changed since the last complete read (invariant 27;
	// the employees).
	OnEvents
)

// Fetch reads one page walk of a resource. The sequence yields each page
// and stops after the last (RowPage.Last), yields an error at most once
// and then stops, and stops when the caller breaks out of the loop.
type Fetch func(ctx context.Context, src Source, q Query) iter.Seq2[RowPage, error]

// Source is what a Fetch reads Gusto with.
type Source struct {
	API    API
	Tokens gusto.TokenSource
}

// Query is one page walk of a resource.
type Query struct {
	// Company is the company's uuid.
	Company string
	// Parent is the parent record's uuid (substreams), else "".
	Parent string
	// Window is the date window (windowed resources), else the zero Window.
	Window checkpoint.Window
	// Page is where the walk starts, the page size and the walk's state
	// (gusto.PageOptions.Walk: pass it to the client as is).
	Page gusto.PageOptions
}

// RowPage is one page of a resource, as rows.
type RowPage struct {
	// Number is the page's number (1-based).
	Number int
	// Rows are its records.
	Rows []checkpoint.Row
	// Last reports that the walk ends after it.
	Last bool
	// Mismatch says how the page disagrees with Gusto's pagination
	// headers ("" when it agrees; gusto.Page.Mismatch).
	Mismatch string
}

// rowPages turns a typed page walk of the Gusto client into RowPages.
func rowPages[T any](seq iter.Seq2[gusto.Page[T], error], toRow func(*T) checkpoint.Row) iter.Seq2[RowPage, error] {
	return func(yield func(RowPage, error) bool) {
		for p, err := range seq {
			if err != nil {
				yield(RowPage{Number: p.Number}, err)
				return
			}
			rows := make([]checkpoint.Row, len(p.Items))
			for i := range p.Items {
				rows[i] = toRow(&p.Items[i])
			}
			if !yield(RowPage{Number: p.Number, Rows: rows, Last: p.Last, Mismatch: p.Mismatch}, nil) {
				return
			}
		}
	}
}

// ListRows is the Fetch of a resource read with gusto.Client.List (raw
// JSON items, decoded by the descriptor): req builds the request for a
// query (its PageOptions are set from the query), toRow turns an item into
// a row, failing for an item it cannot read (the page is then malformed).
func ListRows(req func(q Query) gusto.ListRequest, toRow func(q Query, item json.RawMessage) (checkpoint.Row, error)) Fetch {
	return func(ctx context.Context, src Source, q Query) iter.Seq2[RowPage, error] {
		r := req(q)
		r.PageOptions = q.Page
		return func(yield func(RowPage, error) bool) {
			for p, err := range src.API.List(ctx, src.Tokens, q.Company, r) {
				if err != nil {
					yield(RowPage{Number: p.Number}, err)
					return
				}
				rows := make([]checkpoint.Row, len(p.Items))
				for i, item := range p.Items {
					row, err := toRow(q, item)
					if err != nil {
						yield(RowPage{Number: p.Number}, &gusto.MalformedResponseError{Op: r.Op, StatusCode: 200,
							Reason: fmt.Sprintf("item %d: %v", i, err), Err: err})
						return
					}
					rows[i] = row
				}
				if !yield(RowPage{Number: p.Number, Rows: rows, Last: p.Last, Mismatch: p.Mismatch}, nil) {
					return
				}
			}
		}
	}
}

// Selection is one resource a deployment syncs (SYNC_RESOURCES).
type Selection struct {
	Resource *Resource
	// Optional: a grant lacking the resource's scope skips it (a note on
	// the run) instead of marking the company missing_scope.
	Optional bool
}

// DefaultSelection is every resource of Resources, required.
func DefaultSelection() []Selection {
	out := make([]Selection, len(Resources))
	for i, r := range Resources {
		out[i] = Selection{Resource: r}
	}
	return out
}

// ParseSelection reads SYNC_RESOURCES: resource names separated by commas,
// each optionally followed by "?" to make it optional, e.g.
// "company,employees,payrolls,pay_statements?". Names are those of
// known; a substream needs its parent selected; the order of the list is
// known's (parents first) whatever the order written. "" selects every
// resource of known, required.
func ParseSelection(s string, known []*Resource) ([]Selection, error) {
	if strings.TrimSpace(s) == "" {
		out := make([]Selection, len(known))
		for i, r := range known {
			out[i] = Selection{Resource: r}
		}
		return out, nil
	}
	picked := map[checkpoint.Resource]bool{} // name → optional
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		name, optional := strings.CutSuffix(f, "?")
		if !slices.ContainsFunc(known, func(r *Resource) bool { return string(r.Name()) == name }) {
			return nil, fmt.Errorf("SYNC_RESOURCES: unknown resource %q", clip(name, 40))
		}
		if _, dup := picked[checkpoint.Resource(name)]; dup {
			return nil, fmt.Errorf("SYNC_RESOURCES: %s named twice", name)
		}
		picked[checkpoint.Resource(name)] = optional
	}
	var out []Selection
	for _, r := range known {
		optional, ok := picked[r.Name()]
		if !ok {
			continue
		}
		if r.Parent != nil {
			if _, ok := picked[r.Parent.Name()]; !ok {
				return nil, fmt.Errorf("SYNC_RESOURCES: %s is read per %s record: select %s too", r.Name(), r.Parent.Name(), r.Parent.Name())
			}
		}
		out = append(out, Selection{Resource: r, Optional: optional})
	}
	if len(out) == 0 {
		return nil, errors.New("SYNC_RESOURCES: no resource selected")
	}
	return out, nil
}
