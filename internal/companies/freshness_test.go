package companies_test

import (
	"context"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/tokens"
)

// TestFreshness: the oldest last success among active companies, and the
// companies not synced within twice their interval (their own or the
// default), counting a never-synced company from its onboarding.
func TestFreshness(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	d := companies.New(db.Gorm)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	if f, err := d.Freshness(ctx, now, time.Hour); err != nil || f != (companies.Freshness{}) {
		t.Fatalf("no company: %+v, %v", f, err)
	}
	cos := addCompanies(t, db.Gorm, 4, tokens.StatusActive)
	paused := addCompanies(t, db.Gorm, 1, tokens.StatusPaused)
	at := func(ago time.Duration) time.Time { return now.Add(-ago) }
	exec(t, db.Gorm, `UPDATE gusto_auth_tokens SET created_at = ?`, at(30*24*time.Hour))
	// cos[0]: synced 30 min ago (fresh). cos[1]: last success 3 h ago, a
	// failure since (overdue at 1 h). cos[2]: own interval 4 h, synced 3 h
	// ago (fresh). cos[3]: onboarded 90 min ago, never synced (fresh, and
	// the oldest reference is cos[1]'s 3 h). paused: never synced, ignored.
	exec(t, db.Gorm, `UPDATE gusto_auth_tokens SET created_at = ? WHERE company_uuid = ?`, at(90*time.Minute), cos[3])
	exec(t, db.Gorm, `
		INSERT INTO sync_runs (id, company_uuid, status, created_at, finished_at) VALUES
		(gen_random_uuid(), ?, 'succeeded', ?, ?),
		(gen_random_uuid(), ?, 'succeeded', ?, ?),
		(gen_random_uuid(), ?, 'succeeded', ?, ?),
		(gen_random_uuid(), ?, 'failed', ?, ?),
		(gen_random_uuid(), ?, 'succeeded', ?, ?)`,
		cos[0], at(31*time.Minute), at(30*time.Minute),
		cos[1], at(4*time.Hour), at(4*time.Hour),
		cos[1], at(3*time.Hour), at(3*time.Hour),
		cos[1], at(time.Hour), at(time.Hour),
		cos[2], at(3*time.Hour), at(3*time.Hour))
	exec(t, db.Gorm, `INSERT INTO company_schedules (company_uuid, interval_seconds) VALUES (?, 14400)`, cos[2])
	_ = paused

	f, err := d.Freshness(ctx, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := companies.Freshness{Active: 4, OldestSuccessAge: 3 * time.Hour, Overdue: 1}
	if f != want {
		t.Fatalf("got %+v, want %+v", f, want)
	}
	// Two hours later cos[0] (2.5 h) and cos[3] (3.5 h since onboarding)
	// are overdue too; cos[2] (5 h of its 8 h) is not.
	f, err = d.Freshness(ctx, now.Add(2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want = companies.Freshness{Active: 4, OldestSuccessAge: 5 * time.Hour, Overdue: 3}
	if f != want {
		t.Fatalf("two hours later: got %+v, want %+v", f, want)
	}
}
