package checkpoint_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// TestRetiredCompanyStopsSyncing: an attempt running when its company is
// retired commits nothing more; a task claimed afterwards for the company
// ends at once (its run recorded stopped) while the company has no token
// row, and syncs again once it is onboarded again. Purge deletes the
// company's rows in bounded batches and only while the tombstone holds.
func TestRetiredCompanyStopsSyncing(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{})
	company, other := uuid.NewString(), uuid.NewString()
	for _, c := range []string{company, other} {
		a, err := s.Claim(ctx, uuid.NewString(), c, "w1", checkpoint.KindFull)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(c, 0, 25, "v1"), Next: "2"}); err != nil {
			t.Fatal(err)
		}
		if err := a.Finish(ctx, checkpoint.StatusFailed, "page 2 failed"); err != nil {
			t.Fatal(err)
		}
	}
	running, err := s.Claim(ctx, uuid.NewString(), company, "w2", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}

	if err := s.Retire(ctx, company); err != nil {
		t.Fatal(err)
	}
	var fenced *checkpoint.FencedError
	if _, err := running.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 25, 5, "v1"), Next: "3"}); !errors.As(err, &fenced) {
		t.Fatalf("commit of the attempt running at the removal: %v, want *FencedError", err)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM sync_runs WHERE id = ? AND status = 'stopped'`, running.RunID); n != 1 {
		t.Fatalf("the running attempt's run is not stopped")
	}
	queued := uuid.NewString()
	var fin *checkpoint.FinishedError
	if _, err := s.Claim(ctx, queued, company, "w3", checkpoint.KindFull); !errors.As(err, &fin) || fin.Status != checkpoint.StatusStopped {
		t.Fatalf("claim after removal: %v, want *FinishedError (stopped)", err)
	}

	// Purge, 10 rows per transaction: 25 employees, one checkpoint and the
	// full walk's record of the uuids it committed.
	p, err := s.Purge(ctx, company, 10)
	if err != nil {
		t.Fatal(err)
	}
	if p.Employees != 25 || p.Progress != 2 || p.Total() != 27 {
		t.Fatalf("purged %+v", p)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees WHERE company_uuid = ?`, other); n != 25 {
		t.Fatalf("the other company has %d rows left, want 25", n)
	}
	var nr *checkpoint.NotRetiredError
	if _, err := s.Purge(ctx, other, 10); !errors.As(err, &nr) {
		t.Fatalf("purge of a company never retired: %v", err)
	}

	// Onboarded again (a token row): the next claim syncs and clears the tombstone.
	if err := db.Gorm.Exec(`INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration)
		VALUES (?, '\x00', '\x00', 'k1', now() + interval '1 hour')`, company).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, uuid.NewString(), company, "w4", checkpoint.KindFull); err != nil {
		t.Fatalf("claim after onboarding again: %v", err)
	}
	if _, err := s.Purge(ctx, company, 10); !errors.As(err, &nr) {
		t.Fatalf("purge of a company onboarded again: %v, want *NotRetiredError", err)
	}
}
