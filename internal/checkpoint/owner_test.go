package checkpoint_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// A record that arrives under another company than the one owning its row
// is refused, reported and left as it is; the rest of its batch is stored
// (invariant 14: rows never change company).
func TestRowsNeverChangeCompany(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	owner, other := uuid.NewString(), uuid.NewString()

	a, err := s.Claim(ctx, uuid.NewString(), owner, "w1", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	mine := employees(owner, 0, 10, "v1")
	pay := payrollRow(uuid.NewString(), "2024-01-31", false, "", "", json.RawMessage(`{"n":1}`))
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: mine}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourcePayrolls, Rows: []checkpoint.Row{pay}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	before := snapshotEmployees(t, db, owner)

	// The other company's batch: three of owner's records (new payloads),
	// then five of its own.
	run := uuid.NewString()
	b, err := s.Claim(ctx, run, other, "w2", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	var batch []checkpoint.Row
	var stolen []string
	for _, i := range []int{2, 5, 7} {
		r := employees(owner, i, 1, "v2")[0]
		r.Values[0] = "Stolen"
		batch = append(batch, r)
		stolen = append(stolen, r.UUID)
	}
	batch = append(batch, employees(other, 0, 5, "v1")...)
	res, err := b.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: batch, Next: "2"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(stolen)
	if !slices.Equal(res.Foreign, stolen) || res.Changed != 5 || res.Records != 8 {
		t.Fatalf("result %+v, want foreign %v, 5 changed, 8 records", res, stolen)
	}
	if after := snapshotEmployees(t, db, owner); !slices.Equal(after, before) {
		t.Fatalf("owner's rows changed:\nbefore %v\nafter  %v", before, after)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees WHERE company_uuid = ?`, other); n != 5 {
		t.Fatalf("the rest of the batch: %d rows stored, want 5", n)
	}
	if p := b.Position(checkpoint.ResourceEmployees); p.Cursor != "2" {
		t.Fatalf("checkpoint did not advance: %+v", p)
	}

	// Payrolls too, and the notes say what was refused.
	stolenPay := payrollRow(pay.UUID, "2025-01-31", false, "", "", json.RawMessage(`{"n":2}`))
	res, err = b.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourcePayrolls, Rows: []checkpoint.Row{stolenPay}})
	if err != nil || len(res.Foreign) != 1 || res.Changed != 0 {
		t.Fatalf("payroll of another company: %+v %v", res, err)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_payrolls WHERE uuid = ? AND company_uuid = ? AND payload->>'n' = '1'`, pay.UUID, owner); n != 1 {
		t.Fatal("the owner's payroll was changed")
	}
	var notes string
	if err := db.Gorm.Raw(`SELECT notes FROM sync_runs WHERE id = ?`, run).Row().Scan(&notes); err != nil {
		t.Fatal(err)
	}
	for _, want := range append([]string{"gusto_employees: 3 record(s) belong to another company", "gusto_payrolls: 1 record(s)", pay.UUID}, stolen...) {
		if !strings.Contains(notes, want) {
			t.Errorf("run notes %q lack %q", notes, want)
		}
	}
	// The owner's next sync still updates its own rows.
	c, err := s.Claim(ctx, uuid.NewString(), owner, "w1", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(owner, 0, 10, "v3")})
	if err != nil || res.Changed != 10 || len(res.Foreign) != 0 {
		t.Fatalf("owner's own update: %+v %v", res, err)
	}
}

func snapshotEmployees(t *testing.T, db *pgtest.DB, company string) []string {
	t.Helper()
	var rows []string
	if err := db.Gorm.Raw(`SELECT uuid::text || '|' || company_uuid::text || '|' || first_name || '|' || payload::text || '|' || xmin::text
		FROM gusto_employees WHERE uuid IN (SELECT uuid FROM gusto_employees WHERE company_uuid = ?) ORDER BY uuid`, company).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no rows")
	}
	return rows
}
