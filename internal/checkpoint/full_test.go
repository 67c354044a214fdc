package checkpoint_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// TestFixKindKeepsTheFirstAttempts: the first attempt fixes the run's kind;
// a retry whose payload says otherwise keeps it; an incremental run of a
// company that never completed a full walk is a full one.
func TestFixKindKeepsTheFirstAttempts(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()

	run := uuid.NewString()
	a, err := s.Claim(ctx, run, company, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if k, err := a.FixKind(ctx, checkpoint.KindIncremental); err != nil || k != checkpoint.KindFull {
		t.Fatalf("incremental without any full walk: %q %v, want full", k, err)
	}
	if _, err := a.FixKind(ctx, "partial"); err == nil {
		t.Fatal("FixKind accepted an unknown kind")
	}
	if err := db.Gorm.Exec(`INSERT INTO company_full_syncs (company_uuid, run_id, completed_at) VALUES (?, ?, now())`, company, uuid.NewString()).Error; err != nil {
		t.Fatal(err)
	}
	run2 := uuid.NewString()
	if err := a.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, run2, company, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if k, err := b.FixKind(ctx, checkpoint.KindIncremental); err != nil || k != checkpoint.KindIncremental {
		t.Fatalf("incremental after a full walk: %q %v", k, err)
	}
	// A retry of the run (its attempt went silent) asks for a full walk:
	// it stays incremental.
	silence(t, db.Gorm, company)
	c, err := s.Claim(ctx, run2, company, "w2")
	if err != nil {
		t.Fatal(err)
	}
	if k, err := c.FixKind(ctx, checkpoint.KindFull); err != nil || k != checkpoint.KindIncremental || c.Kind() != checkpoint.KindIncremental {
		t.Fatalf("retry asking for full: %q %v, want the run's incremental", k, err)
	}
	// The zombie attempt is fenced.
	var fenced *checkpoint.FencedError
	if _, err := b.FixKind(ctx, checkpoint.KindIncremental); !errors.As(err, &fenced) {
		t.Fatalf("stale attempt's FixKind: %v, want *FencedError", err)
	}
}

// TestCompleteFullOnlyAfterACompleteWalk: CompleteFull refuses a partial
// walk and an incremental run (nothing marked), is fenced for a stale
// attempt, and on a complete walk marks exactly the rows the walk did not
// return; calling it again changes nothing.
func TestCompleteFullOnlyAfterACompleteWalk(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()
	scope := checkpoint.FullScope{PayrollsFrom: time.Now().AddDate(-1, 0, 0), PayrollsTo: time.Now()}
	deleted := func() int64 {
		return count(t, db.Gorm, `SELECT count(*) FROM gusto_employees WHERE company_uuid = ? AND deleted_at IS NOT NULL`, company)
	}
	walk := func(run string, rows int, through checkpoint.Resource) *checkpoint.Attempt {
		t.Helper()
		a, err := s.Claim(ctx, run, company, "w")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.FixKind(ctx, checkpoint.KindFull); err != nil {
			t.Fatal(err)
		}
		for _, r := range checkpoint.Resources {
			b := checkpoint.Batch{Resource: r, Done: true}
			if r == checkpoint.ResourceEmployees {
				b.Rows = employees(company, 0, rows, "v1")
			}
			if _, err := a.Commit(ctx, b); err != nil {
				t.Fatal(err)
			}
			if r == through {
				break
			}
		}
		return a
	}
	first := walk(uuid.NewString(), 10, checkpoint.ResourcePayrolls)
	if rec, err := first.CompleteFull(ctx, scope); err != nil || !rec.Verified || rec.EmployeesDeleted != 0 {
		t.Fatalf("first full walk: %+v %v", rec, err)
	}
	if err := first.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}

	// A walk that returned 7 of the 10 and stopped after its employees.
	partial := walk(uuid.NewString(), 7, checkpoint.ResourceEmployees)
	var inc *checkpoint.IncompleteError
	if _, err := partial.CompleteFull(ctx, scope); !errors.As(err, &inc) {
		t.Fatalf("partial walk: %v, want *IncompleteError", err)
	}
	if n := deleted(); n != 0 {
		t.Fatalf("a partial walk marked %d rows", n)
	}
	// A newer attempt of that run (this one went silent) fences this one:
	// its CompleteFull is refused.
	silence(t, db.Gorm, company)
	again, err := s.Claim(ctx, partial.RunID, company, "w2")
	if err != nil {
		t.Fatal(err)
	}
	var fenced *checkpoint.FencedError
	if _, err := partial.CompleteFull(ctx, scope); !errors.As(err, &fenced) {
		t.Fatalf("stale attempt: %v, want *FencedError", err)
	}
	// The new attempt finishes the walk (payrolls) and completes: 3 marked.
	if _, err := again.FixKind(ctx, checkpoint.KindFull); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourcePayrolls, Done: true}); err != nil {
		t.Fatal(err)
	}
	rec, err := again.CompleteFull(ctx, scope)
	if err != nil || !rec.Verified || rec.EmployeesDeleted != 3 || deleted() != 3 {
		t.Fatalf("completed walk: %+v %v, %d deleted; want 3", rec, err, deleted())
	}
	if rec, err := again.CompleteFull(ctx, scope); err != nil || !rec.Verified || deleted() != 3 {
		t.Fatalf("second CompleteFull: %+v %v", rec, err)
	}
	if err := again.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}

	// An incremental run that sees them again undeletes them, and cannot
	// complete a full walk.
	inc2, err := s.Claim(ctx, uuid.NewString(), company, "w")
	if err != nil {
		t.Fatal(err)
	}
	if k, err := inc2.FixKind(ctx, checkpoint.KindIncremental); err != nil || k != checkpoint.KindIncremental {
		t.Fatalf("kind %q %v", k, err)
	}
	if _, err := inc2.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 10, "v1"), Done: true}); err != nil {
		t.Fatal(err)
	}
	if n := deleted(); n != 0 {
		t.Fatalf("%d rows still deleted after they reappeared", n)
	}
	if _, err := inc2.CompleteFull(ctx, scope); !errors.As(err, &inc) {
		t.Fatalf("incremental run's CompleteFull: %v, want *IncompleteError", err)
	}
}

// TestCarriedProgressKeepsItsKind: a run that carries an unfinished run's
// progress over (invariant 18) walks that run's kind, whatever its own task
// asked for: an incremental cursor continued as a full walk would skip the
// history, and a full one continued as incremental would walk it all.
func TestCarriedProgressKeepsItsKind(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()
	a, err := s.Claim(ctx, uuid.NewString(), company, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if k, err := a.FixKind(ctx, checkpoint.KindFull); err != nil || k != checkpoint.KindFull {
		t.Fatalf("first run: %q %v", k, err)
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 3, "v1"), Next: "2"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(ctx, checkpoint.StatusPending, "interrupted"); err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.Exec(`INSERT INTO company_full_syncs (company_uuid, run_id, completed_at) VALUES (?, ?, now())`, company, uuid.NewString()).Error; err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, uuid.NewString(), company, "w2")
	if err != nil {
		t.Fatal(err)
	}
	if b.Continues != a.RunID || b.Position(checkpoint.ResourceEmployees).Cursor != "2" {
		t.Fatalf("second run continues %q at %+v, want the first run's progress", b.Continues, b.Position(checkpoint.ResourceEmployees))
	}
	if k, err := b.FixKind(ctx, checkpoint.KindIncremental); err != nil || k != checkpoint.KindFull {
		t.Fatalf("carried run asking for incremental: %q %v, want the carried full", k, err)
	}
}
