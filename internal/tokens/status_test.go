package tokens

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
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
	if err := db.Gorm.Raw(`SELECT count(*) FROM alert_outbox WHERE company_uuid = ? AND kind = 'company.needs_reauth'`, c).Row().Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d needs_reauth rows after the second revocation, want 2 (%v)", n, err)
	}
	// The reconnect in between was one company.recovered.
	if err := db.Gorm.Raw(`SELECT count(*) FROM alert_outbox WHERE company_uuid = ? AND kind = 'company.recovered'`, c).Row().Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d company.recovered rows after one reconnect, want 1 (%v)", n, err)
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

// TestVerifyGrant: a refused data call marks nobody by itself. VerifyGrant
// asks the token endpoint: a grant that refreshes is alive (nil, company
// active, a new version); an explicit invalid_grant marks needs_reauth once
// through onInvalidGrant; a newer pair stored meanwhile is used without a
// refresh; a token endpoint answering a bare 401 (a gateway, not Gusto's
// verdict) marks nobody and is transient.
func TestVerifyGrant(t *testing.T) {
	var edge atomic.Bool
	e := newEnv(t, gustosim.Config{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if edge.Load() && r.URL.Path == "/oauth/token" {
				w.WriteHeader(http.StatusUnauthorized) // no OAuth body
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	m, rec, _ := e.manager("w1", nil)
	ctx := context.Background()

	t.Run("alive", func(t *testing.T) {
		c := e.addCompany()
		if _, err := m.AccessToken(ctx, c); err != nil {
			t.Fatal(err)
		}
		calls := rec.calls.Load()
		if err := m.VerifyGrant(ctx, c); err != nil {
			t.Fatalf("VerifyGrant of a live grant: %v", err)
		}
		if st, reason := e.status(c); st != StatusActive {
			t.Fatalf("status %s (%q), want active", st, reason)
		}
		if rec.calls.Load() != calls+1 {
			t.Fatalf("%d token requests, want 1", rec.calls.Load()-calls)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		c := e.addCompany()
		if _, err := m.AccessToken(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := e.sim.Revoke(c); err != nil {
			t.Fatal(err)
		}
		var rr *ReauthRequiredError
		for i := range 2 {
			if err := m.VerifyGrant(ctx, c); !errors.As(err, &rr) {
				t.Fatalf("call %d: %v, want a *ReauthRequiredError", i, err)
			}
		}
		if st, _ := e.status(c); st != StatusNeedsReauth {
			t.Fatalf("status %s, want needs_reauth", st)
		}
		if n := countOutcome(e.events(c), OutcomeRevoked); n != 1 {
			t.Fatalf("%d revoked events, want 1", n)
		}
	})

	t.Run("newer pair stored meanwhile", func(t *testing.T) {
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
		calls := rec.calls.Load()
		if err := m.VerifyGrant(ctx, d); err != nil {
			t.Fatalf("VerifyGrant after a newer pair: %v", err)
		}
		if st, _ := e.status(d); st != StatusActive || rec.calls.Load() != calls {
			t.Fatalf("status %s, %d token requests; want active and none", st, rec.calls.Load()-calls)
		}
	})

	t.Run("bare 401 from the token endpoint", func(t *testing.T) {
		c := e.addCompany()
		if _, err := m.AccessToken(ctx, c); err != nil {
			t.Fatal(err)
		}
		edge.Store(true)
		defer edge.Store(false)
		err := m.VerifyGrant(ctx, c)
		var rr *ReauthRequiredError
		var re *RefreshError
		if err == nil || errors.As(err, &rr) || Terminal(err) || !errors.As(err, &re) {
			t.Fatalf("VerifyGrant with the token endpoint answering a bare 401: %v, want a transient *RefreshError", err)
		}
		if st, _ := e.status(c); st != StatusActive {
			t.Fatalf("status %s, want active: a gateway's 401 is no verdict on the grant", st)
		}
		if n := countOutcome(e.events(c), OutcomeRevoked); n != 0 {
			t.Fatalf("%d revoked events", n)
		}
	})

	var nf *NotFoundError
	if err := m.VerifyGrant(ctx, newCompany()); !errors.As(err, &nf) {
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

// TestStatusChangeReachesTheCache (#13 item 7): a token cached by one
// process stops being handed out within StatusRecheck once another process
// pauses the company or marks it needs_reauth; before, it was handed out
// until its refresh was due (up to its lifetime).
func TestStatusChangeReachesTheCache(t *testing.T) {
	e := newEnv(t, gustosim.Config{}, nil)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	m, rec, _ := e.manager("w1", func(c *Config) { c.Now, c.StatusRecheck = now, 5*time.Second })
	ctx := context.Background()
	operator := NewStore(e.db.Gorm, e.ring)

	for _, change := range []struct {
		name string
		do   func(company string)
		want func(error) bool
	}{
		{"pause", func(c string) {
			if ok, err := operator.Pause(ctx, c, "maintenance", "operator"); !ok || err != nil {
				t.Fatalf("pause: %v %v", ok, err)
			}
		}, func(err error) bool { var pe *PausedError; return errors.As(err, &pe) }},
		{"needs_reauth", func(c string) {
			if err := e.sim.Revoke(c); err != nil {
				t.Fatal(err)
			}
			other, _, _ := e.manager("w2", nil)
			if err := other.VerifyGrant(ctx, c); err == nil {
				t.Fatal("VerifyGrant of a revoked grant succeeded")
			}
		}, func(err error) bool { var rr *ReauthRequiredError; return errors.As(err, &rr) }},
	} {
		t.Run(change.name, func(t *testing.T) {
			c := e.addCompany()
			tok, err := m.AccessToken(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			change.do(c)
			if got, err := m.AccessToken(ctx, c); err != nil || got != tok {
				t.Fatalf("within the recheck period: %v; want the cached token", err)
			}
			clock.Add(int64(5 * time.Second))
			calls := rec.calls.Load()
			if _, err := m.AccessToken(ctx, c); !change.want(err) {
				t.Fatalf("after the recheck period: %v, want the %s error", err, change.name)
			}
			if rec.calls.Load() != calls {
				t.Fatal("the recheck called the token endpoint")
			}
		})
	}
}
