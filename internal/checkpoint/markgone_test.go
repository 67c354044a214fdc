package checkpoint

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/pgtest"
)

// TestMarkGoneIsASetDifference: the deletion marking of a completed full
// walk is planned as a set difference (EXCEPT), not as an anti-join that
// unnests the walk's uuids again for every row. The CI run that found it:
// 33 s for 16,000 employees on fresh tables (no statistics), inside the
// transaction holding the company's fence, so the attempt's heartbeat went
// silent and a live worker was taken over. Plans, not timings, are
// asserted: on tables never analyzed, as after a first full walk.
func TestMarkGoneIsASetDifference(t *testing.T) {
	db := pgtest.New(t)
	company := uuid.NewString()
	ids := make([]string, 2000)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	if err := db.Gorm.Exec(`INSERT INTO gusto_employees (uuid, company_uuid, payload)
SELECT u, ?, '{}' FROM unnest(?::uuid[]) AS u`, company, "{"+strings.Join(ids, ",")+"}").Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.Exec(`INSERT INTO sync_full_seen (company_uuid, resource, run_id, first, uuids) VALUES (?, 'employees', ?, true, ?::uuid[])`,
		company, uuid.NewString(), "{"+strings.Join(ids, ",")+"}").Error; err != nil {
		t.Fatal(err)
	}
	for _, tab := range []*Table{EmployeesTable, PayrollsTable} {
		r := tab.Resource
		q, args := markGoneSQL(tab, company)
		var plan []string
		if err := db.Gorm.Raw("EXPLAIN "+q, args...).Scan(&plan).Error; err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "SetOp") || strings.Contains(text, "Anti Join") {
			t.Fatalf("%s: marking planned as\n%s\nwant a SetOp (EXCEPT) and no anti-join", r, text)
		}
	}
	// And it marks exactly what the walk did not return.
	gone := uuid.NewString()
	if err := db.Gorm.Exec(`INSERT INTO gusto_employees (uuid, company_uuid, payload) VALUES (?, ?, '{}')`, gone, company).Error; err != nil {
		t.Fatal(err)
	}
	q, args := markGoneSQL(EmployeesTable, company)
	res := db.Gorm.Exec(q, args...)
	if res.Error != nil || res.RowsAffected != 1 {
		t.Fatalf("marked %d rows (%v), want 1", res.RowsAffected, res.Error)
	}
}
