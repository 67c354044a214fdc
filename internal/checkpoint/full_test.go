package checkpoint_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// TestClaimFixesTheKind: the first claim fixes the run's kind; a retry
// whose payload says otherwise keeps it; an incremental run of a company
// that never completed a full walk is a full one.
func TestClaimFixesTheKind(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()

	run := uuid.NewString()
	a, err := s.Claim(ctx, run, company, "w1", checkpoint.KindIncremental)
	if err != nil {
		t.Fatal(err)
	}
	if k := a.Kind(); k != checkpoint.KindFull {
		t.Fatalf("incremental without any full walk: %q, want full", k)
	}
	if _, err := s.Claim(ctx, uuid.NewString(), company, "w1", "partial"); err == nil {
		t.Fatal("Claim accepted an unknown kind")
	}
	if err := db.Gorm.Exec(`INSERT INTO company_full_syncs (company_uuid, run_id, completed_at) VALUES (?, ?, now())`, company, uuid.NewString()).Error; err != nil {
		t.Fatal(err)
	}
	run2 := uuid.NewString()
	if err := a.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, run2, company, "w1", checkpoint.KindIncremental)
	if err != nil {
		t.Fatal(err)
	}
	if k := b.Kind(); k != checkpoint.KindIncremental {
		t.Fatalf("incremental after a full walk: %q", k)
	}
	// A retry of the run (its attempt went silent) asks for a full walk:
	// it stays incremental.
	silence(t, db.Gorm, company)
	c, err := s.Claim(ctx, run2, company, "w2", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if k := c.Kind(); k != checkpoint.KindIncremental {
		t.Fatalf("retry asking for full: %q, want the run's incremental", k)
	}
}

// TestRedriveKeepsTheRequestedKind (issue 19 item 4): an attempt that dies
// right after its claim, before anything else, is taken over; the re-drive
// (whose task asks for incremental, jobs.RedriveTask) walks the kind the
// run's task asked for, full.
func TestRedriveKeepsTheRequestedKind(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()
	if err := db.Gorm.Exec(`INSERT INTO company_full_syncs (company_uuid, run_id, completed_at) VALUES (?, ?, now())`, company, uuid.NewString()).Error; err != nil {
		t.Fatal(err)
	}
	run := uuid.NewString()
	if _, err := s.Claim(ctx, run, company, "killed", checkpoint.KindFull); err != nil {
		t.Fatal(err)
	}
	silence(t, db.Gorm, company)
	if taken, err := s.TakeOver(ctx, "test", 10); err != nil || len(taken) != 1 {
		t.Fatalf("takeover: %v %v", taken, err)
	}
	b, err := s.Claim(ctx, run, company, "redrive", checkpoint.KindIncremental)
	if err != nil {
		t.Fatal(err)
	}
	if k := b.Kind(); k != checkpoint.KindFull {
		t.Fatalf("re-driven run walks %q, want the full its task asked for", k)
	}
}

// TestFullIsNotAbsorbedByAnIncremental (issue 19 item 4): a full run
// claimed while a live incremental run holds the company is not coalesced
// into it (it waits: *BusyError, nothing changed); claimed after that run
// was interrupted it walks full from the beginning, not the incremental's
// cursor; a run asking for incremental is still coalesced into a live one.
func TestFullIsNotAbsorbedByAnIncremental(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()
	if err := db.Gorm.Exec(`INSERT INTO company_full_syncs (company_uuid, run_id, completed_at) VALUES (?, ?, now())`, company, uuid.NewString()).Error; err != nil {
		t.Fatal(err)
	}
	inc, err := s.Claim(ctx, uuid.NewString(), company, "w1", checkpoint.KindIncremental)
	if err != nil || inc.Kind() != checkpoint.KindIncremental {
		t.Fatalf("incremental: %v %v", inc, err)
	}
	if _, err := inc.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 3, "v1"), Next: "2"}); err != nil {
		t.Fatal(err)
	}
	var fin *checkpoint.FinishedError
	if _, err := s.Claim(ctx, uuid.NewString(), company, "w2", checkpoint.KindIncremental); !errors.As(err, &fin) {
		t.Fatalf("incremental while an incremental is live: %v, want coalesced", err)
	}
	full := uuid.NewString()
	var busy *checkpoint.BusyError
	if _, err := s.Claim(ctx, full, company, "w2", checkpoint.KindFull); !errors.As(err, &busy) || busy.Holder != inc.RunID {
		t.Fatalf("full while an incremental is live: %v, want *BusyError naming the live run", err)
	}
	// The incremental is interrupted (a drain): the full run claims and
	// walks full from the beginning.
	if err := inc.Finish(ctx, checkpoint.StatusPending, "draining"); err != nil {
		t.Fatal(err)
	}
	f, err := s.Claim(ctx, full, company, "w2", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind() != checkpoint.KindFull || f.Position(checkpoint.ResourceEmployees) != (checkpoint.Position{}) || f.Continues != "" {
		t.Fatalf("full over an interrupted incremental: kind %q at %+v continuing %q, want full from the beginning",
			f.Kind(), f.Position(checkpoint.ResourceEmployees), f.Continues)
	}
	if st := count(t, db.Gorm, `SELECT count(*) FROM sync_runs WHERE id = ? AND status = 'stopped'`, inc.RunID); st != 1 {
		t.Fatal("the interrupted incremental run was not stopped")
	}
	// A live full run absorbs a later full one.
	if _, err := s.Claim(ctx, uuid.NewString(), company, "w3", checkpoint.KindFull); !errors.As(err, &fin) {
		t.Fatalf("full while a full is live: %v, want coalesced", err)
	}
}

// TestCarriedFullWalkReconciles (issue 19 item 3): a full run that takes
// over an interrupted full run's progress (invariant 18) carries its
// sync_full_seen too, so it completes verified and marks what the walk,
// begun by the first run, did not return.
func TestCarriedFullWalkReconciles(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company := uuid.NewString()
	// A row from an earlier sync that Gusto no longer returns.
	old := employees(company, 100, 1, "v1")
	seed, err := s.Claim(ctx, uuid.NewString(), company, "w0", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: old, Next: "2"}); err != nil {
		t.Fatal(err)
	}
	if err := seed.Finish(ctx, checkpoint.StatusSucceeded, ""); err != nil {
		t.Fatal(err)
	}

	a, err := s.Claim(ctx, uuid.NewString(), company, "w1", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range checkpoint.Resources {
		if err := a.BeginWalk(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceCompany, Done: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 5, "v1"), Next: "2"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(ctx, checkpoint.StatusPending, "interrupted"); err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, uuid.NewString(), company, "w2", checkpoint.KindFull)
	if err != nil || b.Continues != a.RunID {
		t.Fatalf("second run: %v, continues %q", err, b.Continues)
	}
	if _, err := b.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 5, 5, "v1"), Done: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourcePayrolls, Done: true}); err != nil {
		t.Fatal(err)
	}
	rec, err := b.CompleteFull(ctx, checkpoint.Resources)
	if err != nil || !rec.Verified || rec.Deleted[checkpoint.ResourceEmployees] != 1 {
		t.Fatalf("carried full walk: %+v %v, want verified with the old employee marked", rec, err)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees WHERE company_uuid = ? AND deleted_at IS NOT NULL`, company); n != 1 {
		t.Fatalf("%d employees marked, want 1", n)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM company_full_syncs WHERE company_uuid = ? AND run_id = ?`, company, b.RunID); n != 1 {
		t.Fatal("the carried full walk was not recorded as the company's full sync")
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
	scope := checkpoint.Resources
	deleted := func() int64 {
		return count(t, db.Gorm, `SELECT count(*) FROM gusto_employees WHERE company_uuid = ? AND deleted_at IS NOT NULL`, company)
	}
	walk := func(run string, rows int, through checkpoint.Resource) *checkpoint.Attempt {
		t.Helper()
		a, err := s.Claim(ctx, run, company, "w", checkpoint.KindFull)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range checkpoint.Resources {
			if err := a.BeginWalk(ctx, r); err != nil {
				t.Fatal(err)
			}
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
	if rec, err := first.CompleteFull(ctx, scope); err != nil || !rec.Verified || rec.Deleted[checkpoint.ResourceEmployees] != 0 {
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
	again, err := s.Claim(ctx, partial.RunID, company, "w2", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	var fenced *checkpoint.FencedError
	if _, err := partial.CompleteFull(ctx, scope); !errors.As(err, &fenced) {
		t.Fatalf("stale attempt: %v, want *FencedError", err)
	}
	// The new attempt finishes the walk (payrolls) and completes: 3 marked.
	if err := again.BeginWalk(ctx, checkpoint.ResourcePayrolls); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourcePayrolls, Done: true}); err != nil {
		t.Fatal(err)
	}
	rec, err := again.CompleteFull(ctx, scope)
	if err != nil || !rec.Verified || rec.Deleted[checkpoint.ResourceEmployees] != 3 || deleted() != 3 {
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
	inc2, err := s.Claim(ctx, uuid.NewString(), company, "w", checkpoint.KindIncremental)
	if err != nil {
		t.Fatal(err)
	}
	if k := inc2.Kind(); k != checkpoint.KindIncremental {
		t.Fatalf("kind %q", k)
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
	a, err := s.Claim(ctx, uuid.NewString(), company, "w1", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if k := a.Kind(); k != checkpoint.KindFull {
		t.Fatalf("first run: %q", k)
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
	b, err := s.Claim(ctx, uuid.NewString(), company, "w2", checkpoint.KindIncremental)
	if err != nil {
		t.Fatal(err)
	}
	if b.Continues != a.RunID || b.Position(checkpoint.ResourceEmployees).Cursor != "2" {
		t.Fatalf("second run continues %q at %+v, want the first run's progress", b.Continues, b.Position(checkpoint.ResourceEmployees))
	}
	if k := b.Kind(); k != checkpoint.KindFull {
		t.Fatalf("carried run asking for incremental: %q, want the carried full", k)
	}
}
