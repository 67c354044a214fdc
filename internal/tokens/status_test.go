package tokens

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPauseResume(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	c := newCompany()
	if _, err := s.Put(ctx, testGrant(c), "test"); err != nil {
		t.Fatal(err)
	}
	status := func() Status {
		t.Helper()
		st, _, err := s.CompanyStatus(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if ok, err := s.Pause(ctx, c, "customer churned", "cli"); !ok || err != nil || status() != StatusPaused {
		t.Fatalf("pause: %v %v, status %s", ok, err, status())
	}
	if _, reason, _ := s.CompanyStatus(ctx, c); reason != "customer churned" {
		t.Fatalf("reason %q", reason)
	}
	if ok, err := s.Pause(ctx, c, "", "cli"); ok || err != nil {
		t.Fatalf("second pause changed the row: %v %v", ok, err)
	}
	if ok, err := s.Resume(ctx, c, "cli"); !ok || err != nil || status() != StatusActive {
		t.Fatalf("resume: %v %v, status %s", ok, err, status())
	}
	if ok, err := s.Resume(ctx, c, "cli"); ok || err != nil {
		t.Fatalf("resume of an active company: %v %v", ok, err)
	}
	events, _ := s.Events(ctx, c)
	if n := countOutcome(events, OutcomeStatusChange); n != 3 { // put, pause, resume
		t.Fatalf("%d status_change events, want 3", n)
	}

	// needs_reauth is neither paused nor resumed: it needs a reconnect.
	ev := Event{Company: c, Worker: "w", Trigger: TriggerExpiry, Outcome: OutcomeRevoked, StartedAt: time.Now()}
	if ok, err := s.markNeedsReauth(ctx, c, 1, "revoked", ev); !ok || err != nil {
		t.Fatalf("mark: %v %v", ok, err)
	}
	if ok, _ := s.Pause(ctx, c, "", "cli"); ok || status() != StatusNeedsReauth {
		t.Fatal("paused a needs_reauth company")
	}
	if ok, _ := s.Resume(ctx, c, "cli"); ok || status() != StatusNeedsReauth {
		t.Fatal("resumed a needs_reauth company")
	}

	var nf *NotFoundError
	if _, err := s.Pause(ctx, newCompany(), "", "cli"); !errors.As(err, &nf) {
		t.Fatalf("pause of an unknown company: %v", err)
	}
	if _, err := s.Resume(ctx, "not-a-uuid", "cli"); !errors.Is(err, ErrInvalidCompany) {
		t.Fatalf("resume of a bad id: %v", err)
	}
}

// TestNeedsReauthWritesOneAlert: the alert outbox trigger (migration 00005)
// writes exactly one row per transition made by markNeedsReauth, however
// many workers report the refusal.
func TestNeedsReauthWritesOneAlert(t *testing.T) {
	s, db := newTestStore(t)
	ctx := context.Background()
	c := newCompany()
	if _, err := s.Put(ctx, testGrant(c), "test"); err != nil {
		t.Fatal(err)
	}
	ev := Event{Company: c, Worker: "w", Trigger: TriggerExpiry, Outcome: OutcomeRevoked, StartedAt: time.Now()}
	for range 3 {
		if _, err := s.markNeedsReauth(ctx, c, 1, "revoked", ev); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	var reason string
	if err := db.SQL.QueryRow(`SELECT count(*), max(reason) FROM alert_outbox WHERE company_uuid = $1 AND kind = 'company.needs_reauth'`, c).Scan(&n, &reason); err != nil {
		t.Fatal(err)
	}
	if n != 1 || reason != "revoked" {
		t.Fatalf("%d outbox rows (reason %q), want 1", n, reason)
	}
	// Reconnected, then revoked again: a second alert.
	if _, err := s.Put(ctx, testGrant(c), "test"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.markNeedsReauth(ctx, c, 2, "revoked again", ev); !ok || err != nil {
		t.Fatalf("second revocation: %v %v", ok, err)
	}
	if err := db.SQL.QueryRow(`SELECT count(*) FROM alert_outbox WHERE company_uuid = $1`, c).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d outbox rows after the second revocation, want 2 (%v)", n, err)
	}
}
