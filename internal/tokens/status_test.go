package tokens

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
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
		st, err := s.status(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return st.Status
	}
	if ok, err := s.Pause(ctx, c, "customer churned", "cli"); !ok || err != nil || status() != StatusPaused {
		t.Fatalf("pause: %v %v, status %s", ok, err, status())
	}
	if st, _ := s.status(ctx, c); st.StatusReason != "customer churned" || st.Version != 1 {
		t.Fatalf("after pause: %+v; want the reason kept and the version unmoved", st)
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
	if err := db.Gorm.Raw(`SELECT count(*), max(reason) FROM alert_outbox WHERE company_uuid = ? AND kind = 'company.needs_reauth'`, c).Row().Scan(&n, &reason); err != nil {
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
	if err := db.Gorm.Raw(`SELECT count(*) FROM alert_outbox WHERE company_uuid = ?`, c).Row().Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d outbox rows after the second revocation, want 2 (%v)", n, err)
	}
}

// TestStatusChangeIsVersionGuarded: a status change made at a version the
// row has left changes nothing and writes no audit row; an operator's
// change reads the current version, so a refresh committed earlier does not
// block it.
func TestStatusChangeIsVersionGuarded(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	c := newCompany()
	for range 2 { // two Puts: the row is at version 2
		if _, err := s.Put(ctx, testGrant(c), "test"); err != nil {
			t.Fatal(err)
		}
	}
	before := len(mustEvents(t, s, c))
	for _, tr := range []transition{pause, needsReauth} {
		ok, err := s.changeStatus(ctx, c, 1, tr, "stale", Event{Worker: "w", Trigger: TriggerManual, Outcome: OutcomeStatusChange})
		if ok || err != nil {
			t.Fatalf("%s at a stale version: %v, %v; want no change", tr.op, ok, err)
		}
	}
	if st, _ := s.status(ctx, c); st.Status != StatusActive || st.Version != 2 {
		t.Fatalf("after stale changes: %+v", st)
	}
	if n := len(mustEvents(t, s, c)); n != before {
		t.Fatalf("%d audit rows after stale changes, want %d", n, before)
	}
	if ok, err := s.Pause(ctx, c, "", "cli"); !ok || err != nil {
		t.Fatalf("pause at version 2: %v %v", ok, err)
	}
	var nf *NotFoundError
	if _, err := s.changeStatus(ctx, newCompany(), 1, resume, "", Event{}); !errors.As(err, &nf) {
		t.Fatalf("change of an unknown company: %v, want a *NotFoundError", err)
	}
}

func mustEvents(t *testing.T, s *Store, c string) []Event {
	t.Helper()
	evs, err := s.Events(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestManagerMarkNeedsReauth: a refused data call marks the company at the
// version of the token the manager handed out, once, and the manager stops
// handing that token out; when a newer pair was stored meanwhile, the mark
// is refused (the new pair may well work).
func TestManagerMarkNeedsReauth(t *testing.T) {
	e := newEnv(t, gustosim.Config{}, nil)
	m, _, _ := e.manager("w1", nil)
	ctx := context.Background()
	c := e.addCompany()
	if _, err := m.AccessToken(ctx, c); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		ok, err := m.MarkNeedsReauth(ctx, c, "gusto refused access: 403 missing scope")
		if err != nil || ok != want {
			t.Fatalf("call %d: %v, %v; want %v", i, ok, err, want)
		}
	}
	if st, reason := e.status(c); st != StatusNeedsReauth || reason != "gusto refused access: 403 missing scope" {
		t.Fatalf("status %s (%q)", st, reason)
	}
	evs := e.events(c)
	last := evs[len(evs)-1]
	if last.Trigger != TriggerUnauthorized || last.Outcome != OutcomeStatusChange || last.Worker != "w1" || last.OldVersion != 1 {
		t.Fatalf("audit row %+v", last)
	}
	var rr *ReauthRequiredError
	if _, err := m.AccessToken(ctx, c); !errors.As(err, &rr) {
		t.Fatalf("AccessToken after the mark: %v, want a *ReauthRequiredError", err)
	}

	// A token handed out at version 1, then an operator stores a new pair
	// (version 2): the refusal of the old token marks nothing.
	d := e.addCompany()
	if _, err := m.AccessToken(ctx, d); err != nil {
		t.Fatal(err)
	}
	g, err := e.sim.CreateCompany(gustosim.CompanyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	noteSecret(g.Token.AccessToken, g.Token.RefreshToken)
	if _, err := e.store.Put(ctx, Grant{CompanyUUID: d, AccessToken: g.Token.AccessToken, RefreshToken: g.Token.RefreshToken,
		ExpiresIn: g.Token.ExpiresIn, Scope: g.Token.Scope}, "test"); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.MarkNeedsReauth(ctx, d, "refused"); ok || err != nil {
		t.Fatalf("mark at a stale version: %v, %v; want no change", ok, err)
	}
	if st, _ := e.status(d); st != StatusActive {
		t.Fatalf("status %s, want active", st)
	}

	var nf *NotFoundError
	if _, err := m.MarkNeedsReauth(ctx, newCompany(), "refused"); !errors.As(err, &nf) {
		t.Fatalf("unknown company: %v, want a *NotFoundError", err)
	}
}

// TestMissingScopeIsGuardedAndResumable: missing_scope is written only at
// the refused token's version, and an operator's Resume (after the scope was
// granted) makes the company active again.
func TestMissingScopeIsGuardedAndResumable(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	c := newCompany()
	if _, err := s.Put(ctx, testGrant(c), "test"); err != nil {
		t.Fatal(err)
	}
	ev := Event{Worker: "w", Trigger: TriggerUnauthorized, Outcome: OutcomeStatusChange, StartedAt: time.Now()}
	if ok, err := s.markMissingScope(ctx, c, 7, "lacks payrolls:read", ev); ok || err != nil {
		t.Fatalf("mark at a stale version = %v, %v; want no change", ok, err)
	}
	if ok, err := s.markMissingScope(ctx, c, 1, "lacks payrolls:read", ev); !ok || err != nil {
		t.Fatalf("mark at the stored version = %v, %v", ok, err)
	}
	rec, err := s.load(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var se *ScopeRequiredError
	if rec.Status != StatusMissingScope || !errors.As(usable(rec), &se) || !Terminal(usable(rec)) {
		t.Fatalf("status %s, usable %v; want missing_scope and a terminal *ScopeRequiredError", rec.Status, usable(rec))
	}
	if ok, err := s.Resume(ctx, c, "operator"); !ok || err != nil {
		t.Fatalf("Resume of a missing_scope company = %v, %v", ok, err)
	}
	if rec, _ := s.load(ctx, c); rec.Status != StatusActive {
		t.Fatalf("status %s after Resume, want active", rec.Status)
	}
}
