package checkpoint

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gustosync/gustosync/internal/postgres"
)

// This file: the statements a Table's batches are written with (built once
// per table by Table.register), and a batch checked and turned into their
// parameters (prepare).

// onWrite are assignments made to every row the update path writes,
// whatever the batch holds ({column, SQL value}; new rows get the columns'
// defaults). A row that exists is rewritten when its payload or one of
// these columns differs from what would be written; Result.Changed counts
// those rows. A column added here must exist in every synced table.
var onWrite = []struct{ name, value string }{}

// existingSQL finds which of a batch's records already have a row, and
// their company (its one parameter is the batch's uuids).
func (t *Table) existingSQL() string {
	owner := "NULL"
	if t.Owned {
		owner = "company_uuid::text"
	}
	return "SELECT uuid::text AS uuid, " + owner + " AS company FROM " + t.Name + " WHERE uuid = ANY(?::uuid[])"
}

// copyColumns are the columns the insert path copies, in a copy row's order.
func (t *Table) copyColumns() []string {
	cols := []string{"uuid"}
	if t.Owned {
		cols = append(cols, "company_uuid")
	}
	for _, c := range t.Columns {
		cols = append(cols, c.Name)
	}
	return append(cols, "payload")
}

// childCopyColumns are a child table's columns, in a copy row's order.
func (c *ChildTable) copyColumns() []string {
	cols := []string{c.Parent, "company_uuid", "position"}
	for _, col := range c.Columns {
		cols = append(cols, col.Name)
	}
	return cols
}

// sqlType is the array element type a column's values travel as in the
// update statement, and the expression that casts x.<name> to the column.
func (c Column) sqlType() (typ, value string) {
	v := "x." + c.Name
	switch c.Kind {
	case Bool:
		return "boolean", v
	case Date:
		return "text", "NULLIF(" + v + ", '')::date"
	case Numeric:
		return "text", "NULLIF(" + v + ", '')::numeric"
	case Int:
		return "bigint", v
	}
	return "text", v
}

// updateSQL is the update path's statement: the batch's records that exist
// and belong to the company, one array parameter per column (after the
// company, for owned tables). It returns the uuids of the rows it rewrote.
// For gusto_employees it reads:
//
//	INSERT INTO gusto_employees AS t (uuid, company_uuid, first_name, …, payload, synced_at)
//	SELECT x.uuid, ?::uuid, x.first_name, …, x.payload::jsonb, now()
//	FROM unnest(?::uuid[], ?::text[], …, ?::text[]) AS x(uuid, first_name, …, payload)
//	ON CONFLICT (uuid) DO UPDATE SET first_name = excluded.first_name, …, payload = excluded.payload, synced_at = excluded.synced_at
//	WHERE t.company_uuid = excluded.company_uuid
//	  AND (t.payload) IS DISTINCT FROM (excluded.payload)
//	RETURNING t.uuid::text
//
// A row is rewritten only when its payload (or an onWrite column) changed:
// a sync of an unchanged company writes no new row versions. A row of
// another company is never rewritten (invariant 14: rows never change
// company), whatever raced the existence check.
func (t *Table) updateSQL() string {
	var cols, vals, types, names, set, old, new []string
	cols, vals = append(cols, "uuid"), append(vals, "x.uuid")
	types, names = append(types, "?::uuid[]"), append(names, "uuid")
	if t.Owned {
		cols, vals = append(cols, "company_uuid"), append(vals, "?::uuid")
	}
	for _, c := range append(t.Columns, Column{"payload", Text}) {
		typ, v := c.sqlType()
		if c.Name == "payload" {
			v = "x.payload::jsonb"
		}
		cols, vals = append(cols, c.Name), append(vals, v)
		types, names = append(types, "?::"+typ+"[]"), append(names, c.Name)
		set = append(set, c.Name+" = excluded."+c.Name)
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
	if t.Owned {
		where = "t.company_uuid = excluded.company_uuid\n  AND " + where
	}
	return "INSERT INTO " + t.Name + " AS t (" + strings.Join(cols, ", ") + ")\n" +
		"SELECT " + strings.Join(vals, ", ") + "\n" +
		"FROM unnest(" + strings.Join(types, ", ") + ") AS x(" + strings.Join(names, ", ") + ")\n" +
		"ON CONFLICT (uuid) DO UPDATE SET " + strings.Join(set, ", ") + "\n" +
		"WHERE " + where + "\n" +
		"RETURNING t.uuid::text"
}

// tableSQL is a table's statements, built once.
type tableSQL struct {
	table            *Table
	existing, update string
	copyColumns      []string
}

// prepared is a batch checked and turned into rows: each row is its uuid
// ([16]byte) followed by the table's columns (see ColumnKind) and the
// payload.
type prepared struct {
	t    *Table
	ids  []string // canonical uuids, in rows' order
	rows [][]any
	kids [][][]Values // per row, per child table
	n    int          // distinct rows
}

// arrays returns the update path's parameters for the rows at idx: the
// company (owned tables), then one array per column, the payload last.
func (p *prepared) arrays(company string, idx []int) []any {
	var args []any
	if p.t.Owned {
		args = append(args, company)
	}
	ids := make([][16]byte, len(idx))
	for i, j := range idx {
		ids[i] = p.rows[j][0].([16]byte)
	}
	args = append(args, postgres.Array(ids))
	for c, col := range p.t.Columns {
		switch col.Kind {
		case Bool:
			v := make([]bool, len(idx))
			for i, j := range idx {
				v[i] = p.rows[j][c+1].(bool)
			}
			args = append(args, postgres.Array(v))
		case Int:
			v := make([]int64, len(idx))
			for i, j := range idx {
				v[i] = p.rows[j][c+1].(int64)
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
	v := make([]string, len(idx))
	last := len(p.t.Columns) + 1
	for i, j := range idx {
		v[i] = string(p.rows[j][last].(json.RawMessage))
	}
	return append(args, postgres.Array(v))
}

// copyValue turns a prepared value of kind k into what COPY sends.
func copyValue(k ColumnKind, v any) any {
	switch k {
	case Date:
		d := pgtype.Date{}
		if t, err := time.Parse(time.DateOnly, v.(string)); err == nil {
			d = pgtype.Date{Time: t, Valid: true}
		}
		return d
	case Numeric:
		n := pgtype.Numeric{}
		if s := v.(string); s != "" {
			_ = n.Scan(s) // checked by prepare
		}
		return n
	}
	return v
}

// copyRows returns the insert path's COPY rows for the rows at idx, in
// copyColumns order.
func (p *prepared) copyRows(company [16]byte, idx []int) [][]any {
	out := make([][]any, len(idx))
	for i, j := range idx {
		row := p.rows[j]
		r := make([]any, 0, len(row)+1)
		r = append(r, row[0])
		if p.t.Owned {
			r = append(r, company)
		}
		for c, col := range p.t.Columns {
			r = append(r, copyValue(col.Kind, row[c+1]))
		}
		out[i] = append(r, row[len(row)-1])
	}
	return out
}

// childRows returns child table k's COPY rows for the parents at idx.
func (p *prepared) childRows(k int, company [16]byte, idx []int) [][]any {
	var out [][]any
	c := p.t.Children[k]
	for _, j := range idx {
		if k >= len(p.kids[j]) {
			continue
		}
		parent := p.rows[j][0]
		for pos, vals := range p.kids[j][k] {
			r := make([]any, 0, len(vals)+3)
			r = append(r, parent, company, int32(pos))
			for ci, col := range c.Columns {
				r = append(r, copyValue(col.Kind, vals[ci]))
			}
			out = append(out, r)
		}
	}
	return out
}

// prepare validates rows (uuids that parse, one value of the right type per
// column, non-empty payloads) and builds the prepared rows. A uuid repeated
// inside the batch keeps its last occurrence: Gusto's offset pagination can
// repeat a record when data shifts, and one statement cannot write a row
// twice.
func prepare(t *Table, rows []Row) (*prepared, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	index := make(map[uuid.UUID]int, len(rows))
	keep := make([]*Row, 0, len(rows))
	ids := make([]uuid.UUID, 0, len(rows))
	for i := range rows {
		row := &rows[i]
		id, err := uuid.Parse(row.UUID)
		if err != nil {
			return nil, &BatchError{Resource: t.Resource, Reason: fmt.Sprintf("row %d: uuid %q does not parse", i, truncate(row.UUID))}
		}
		if j, dup := index[id]; dup {
			keep[j] = row
			continue
		}
		index[id] = len(keep)
		keep = append(keep, row)
		ids = append(ids, id)
	}
	out := &prepared{t: t, ids: make([]string, len(keep)), rows: make([][]any, len(keep)), kids: make([][][]Values, len(keep)), n: len(keep)}
	for i, row := range keep {
		// The payload is not re-validated here: the client decoded it, and
		// PostgreSQL's jsonb input refuses anything else (the whole batch
		// then fails).
		if len(row.Payload) == 0 {
			return nil, &BatchError{Resource: t.Resource, Reason: fmt.Sprintf("record %s: empty payload", ids[i])}
		}
		vals, err := checkValues(t.Columns, row.Values)
		if err != nil {
			return nil, &BatchError{Resource: t.Resource, Reason: fmt.Sprintf("record %s: %v", ids[i], err)}
		}
		if len(row.Children) > len(t.Children) {
			return nil, &BatchError{Resource: t.Resource, Reason: fmt.Sprintf("record %s: %d child lists, the table has %d", ids[i], len(row.Children), len(t.Children))}
		}
		for k, list := range row.Children {
			for n, v := range list {
				if _, err := checkValues(t.Children[k].Columns, v); err != nil {
					return nil, &BatchError{Resource: t.Resource, Reason: fmt.Sprintf("record %s: %s row %d: %v", ids[i], t.Children[k].Name, n, err)}
				}
			}
		}
		r := make([]any, 0, len(vals)+2)
		r = append(r, [16]byte(ids[i]))
		r = append(r, vals...)
		out.rows[i] = append(r, row.Payload)
		out.ids[i] = ids[i].String()
		out.kids[i] = row.Children
	}
	return out, nil
}

// checkValues checks one value per column, of the column's kind, and
// returns them with dates that do not parse turned into "" (NULL).
func checkValues(cols []Column, vals Values) ([]any, error) {
	if len(vals) != len(cols) {
		return nil, fmt.Errorf("%d values for %d columns", len(vals), len(cols))
	}
	out := make([]any, len(vals))
	for i, c := range cols {
		v := vals[i]
		ok := false
		switch c.Kind {
		case Text:
			_, ok = v.(string)
		case Bool:
			_, ok = v.(bool)
		case Int:
			_, ok = v.(int64)
		case Date:
			var s string
			if s, ok = v.(string); ok {
				v = date(s)
			}
		case Numeric:
			var s string
			if s, ok = v.(string); ok && s != "" {
				if _, err := strconv.ParseFloat(s, 64); err != nil {
					return nil, fmt.Errorf("column %s: %q is not a number", c.Name, truncate(s))
				}
			}
		}
		if !ok {
			return nil, fmt.Errorf("column %s: a %T", c.Name, v)
		}
		out[i] = v
	}
	return out, nil
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
