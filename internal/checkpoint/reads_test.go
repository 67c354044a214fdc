package checkpoint_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// TestEmployeesReadIsAWalkFromItsFirstPage: an employees walk counts as the
// company's last read only when it began from its first page (BeginWalk)
// and ended (the Done batch), with its start as the read's time; it counts
// across a continued run (the walk's start travels with its checkpoint);
// a voided walk (pagination mismatch) and a walk that ends without
// BeginWalk leave the last read as it was; a fenced attempt begins nothing.
func TestEmployeesReadIsAWalkFromItsFirstPage(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()
	last := func() (checkpoint.EmployeesRead, bool) {
		t.Helper()
		r, ok, err := s.LastEmployeesRead(ctx, company)
		if err != nil {
			t.Fatal(err)
		}
		return r, ok
	}

	// A walk without BeginWalk (or a pre-migration one): no read.
	a, err := s.Claim(ctx, uuid.NewString(), company, "w1", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 10, "v1"), Done: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := last(); ok {
		t.Fatal("a walk that never began from its first page was recorded as a read")
	}
	if err := a.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}

	// A walk from page 1, interrupted, continued by another run: one read,
	// of the first run's start, recorded by the second run's last batch.
	first := uuid.NewString()
	a, err = s.Claim(ctx, first, company, "w1", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	var before time.Time
	if err := db.Gorm.Raw(`SELECT now()`).Scan(&before).Error; err != nil {
		t.Fatal(err)
	}
	if err := a.BeginWalk(ctx, checkpoint.ResourceEmployees); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 5, "v2"), Next: "2"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := last(); ok {
		t.Fatal("an unfinished walk was recorded as a read")
	}
	if err := a.Finish(ctx, checkpoint.StatusPending, "transient"); err != nil {
		t.Fatal(err)
	}
	second := uuid.NewString()
	b, err := s.Claim(ctx, second, company, "w2", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if b.Continues != first || b.Position(checkpoint.ResourceEmployees).Cursor != "2" {
		t.Fatalf("second run continues %q at %+v; want %s at page 2", b.Continues, b.Position(checkpoint.ResourceEmployees), first)
	}
	if err := a.BeginWalk(ctx, checkpoint.ResourceEmployees); !errors.As(err, new(*checkpoint.FencedError)) {
		t.Fatalf("BeginWalk of a fenced attempt: %v, want *FencedError", err)
	}
	if _, err := b.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 5, 5, "v2"), Done: true}); err != nil {
		t.Fatal(err)
	}
	r, ok := last()
	if !ok || r.RunID != second || r.StartedAt.Before(before) || r.Age < 0 || r.Age > time.Minute {
		t.Fatalf("last read = %+v (%v); want run %s begun after %s, seconds old", r, ok, second, before)
	}
	if err := b.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}

	// A voided walk (a page disagreed with Gusto's headers) is no read.
	c, err := s.Claim(ctx, uuid.NewString(), company, "w1", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.BeginWalk(ctx, checkpoint.ResourceEmployees); err != nil {
		t.Fatal(err)
	}
	if err := c.VoidWalk(ctx, checkpoint.ResourceEmployees); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 10, "v3"), Done: true}); err != nil {
		t.Fatal(err)
	}
	if r2, _ := last(); r2.RunID != second || !r2.StartedAt.Equal(r.StartedAt) {
		t.Fatalf("a voided walk changed the last read: %+v, want %+v", r2, r)
	}
}

// TestWalkWritesCarryTheAttemptsEpoch: a run's next attempt that begins
// (or voids) the employees walk again stamps the checkpoint row with its
// own epoch, like every write of an attempt (the chaos suite's
// stale_epoch_write check found BeginWalk keeping the first attempt's).
func TestWalkWritesCarryTheAttemptsEpoch(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company, run := uuid.NewString(), uuid.NewString()
	rowEpoch := func() int64 {
		t.Helper()
		return count(t, db.Gorm, `SELECT epoch FROM sync_checkpoints WHERE company_uuid = ? AND resource = 'employees'`, company)
	}

	a, err := s.Claim(ctx, run, company, "w1", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.BeginWalk(ctx, checkpoint.ResourceEmployees); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(ctx, checkpoint.StatusPending, "transient"); err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, run, company, "w2", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if b.Epoch <= a.Epoch || b.Position(checkpoint.ResourceEmployees).Cursor != "" {
		t.Fatalf("second attempt: epoch %d after %d, position %+v; want a higher epoch at the first page", b.Epoch, a.Epoch, b.Position(checkpoint.ResourceEmployees))
	}
	if err := b.BeginWalk(ctx, checkpoint.ResourceEmployees); err != nil {
		t.Fatal(err)
	}
	if got := rowEpoch(); got != b.Epoch {
		t.Fatalf("after the second attempt's BeginWalk the row is at epoch %d, want the attempt's %d", got, b.Epoch)
	}
	if err := b.Finish(ctx, checkpoint.StatusPending, "transient"); err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, run, company, "w3", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VoidWalk(ctx, checkpoint.ResourceEmployees); err != nil {
		t.Fatal(err)
	}
	if got := rowEpoch(); got != c.Epoch {
		t.Fatalf("after the third attempt's VoidWalk the row is at epoch %d, want the attempt's %d", got, c.Epoch)
	}
}
