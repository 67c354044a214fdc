package tokens

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/pgtest"
)

const allScopes = "companies:read employees:read payrolls:read compensations:read"

// newTestStore returns a Store on a fresh database, sealing with a new key.
func newTestStore(t *testing.T) (*Store, *pgtest.DB) {
	t.Helper()
	db := pgtest.New(t)
	ring, err := NewKeyring(config.Keys{testKey(t, "k1")})
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(db.Gorm, ring), db
}

func newCompany() string { return uuid.NewString() }

func testGrant(company string) Grant {
	return Grant{CompanyUUID: company, AccessToken: "acc-" + uuid.NewString(), RefreshToken: "ref-" + uuid.NewString(),
		ExpiresIn: 7200, Scope: allScopes}
}

func TestStorePutEncryptsAndValidates(t *testing.T) {
	s, db := newTestStore(t)
	ctx := context.Background()
	c := newCompany()
	g := testGrant(c)
	g.CompanyUUID = strings.ToUpper(c) // canonicalised
	v, err := s.Put(ctx, g, "test")
	if err != nil || v != 1 {
		t.Fatalf("Put = %d, %v", v, err)
	}
	rec, err := s.load(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if rec.AccessToken != g.AccessToken || rec.RefreshToken != g.RefreshToken || rec.Version != 1 || rec.Status != StatusActive {
		t.Fatalf("loaded %+v", rec.Version)
	}
	if got := rec.Expiration.Sub(rec.IssuedAt); got != 7140*time.Second {
		t.Fatalf("expiration - issued = %s, want 7140s", got)
	}
	assertNoPlaintext(t, db.Gorm, g.AccessToken, g.RefreshToken)

	// Replacing bumps the version and reactivates a needs_reauth company.
	if ok, err := s.markNeedsReauth(ctx, c, 1, "test revoked", Event{Company: c, Worker: "w", Trigger: TriggerExpiry, Outcome: OutcomeRevoked, StartedAt: time.Now()}); !ok || err != nil {
		t.Fatalf("markNeedsReauth = %v, %v", ok, err)
	}
	g2 := testGrant(c)
	g2.CreatedAt = time.Now().Add(-time.Hour).Unix()
	if v, err := s.Put(ctx, g2, "test"); err != nil || v != 2 {
		t.Fatalf("second Put = %d, %v", v, err)
	}
	rec, _ = s.load(ctx, c)
	if rec.Status != StatusActive || rec.AccessToken != g2.AccessToken || !rec.IssuedAt.Equal(time.Unix(g2.CreatedAt, 0)) {
		t.Fatalf("after re-put: status %s, issued %s", rec.Status, rec.IssuedAt)
	}

	// Refusals name the field, or the missing scopes.
	for field, mutate := range map[string]func(*Grant){
		"company_uuid":  func(g *Grant) { g.CompanyUUID = "not-a-uuid" },
		"access_token":  func(g *Grant) { g.AccessToken = "" },
		"refresh_token": func(g *Grant) { g.RefreshToken = "" },
		"expires_in":    func(g *Grant) { g.ExpiresIn = 0 },
		// An issue time in the future would make the token look fresh past
		// its expiry (#13: created_at in the future accepted at onboarding).
		"created_at": func(g *Grant) { g.CreatedAt = time.Now().Add(time.Hour).Unix() },
	} {
		bad := testGrant(newCompany())
		mutate(&bad)
		_, err := s.Put(ctx, bad, "test")
		var ge *GrantError
		if !errors.As(err, &ge) || ge.Field != field {
			t.Errorf("%s: Put = %v; want *GrantError for the field", field, err)
		}
	}
	bad := testGrant(newCompany())
	bad.Scope = "companies:read"
	_, err = s.Put(ctx, bad, "test")
	var ms *MissingScopesError
	if !errors.As(err, &ms) || !strings.Contains(err.Error(), "employees:read, payrolls:read") {
		t.Fatalf("Put with missing scopes = %v", err)
	}
	if strings.Contains(err.Error(), bad.AccessToken) {
		t.Fatal("error leaks the token")
	}
}

// TestCommitRefreshIsFenced is invariant 1 at the store: two commits from
// the same version, one wins, the other changes nothing.
func TestCommitRefreshIsFenced(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	c := newCompany()
	if _, err := s.Put(ctx, testGrant(c), "test"); err != nil {
		t.Fatal(err)
	}
	old, _ := s.load(ctx, c)
	mk := func(tag string) *record {
		now := time.Now()
		return &record{Company: c, AccessToken: "acc-" + tag, RefreshToken: "ref-" + tag, IssuedAt: now,
			Expiration: expiration(now, time.Hour), Lifetime: time.Hour}
	}
	ev := Event{Company: c, Worker: "w", Trigger: TriggerExpiry, Outcome: OutcomeRefreshed, StartedAt: time.Now()}
	a, b := mk("a"), mk("b")
	ok, err := s.commitRefresh(ctx, old, a, ev, "")
	if !ok || err != nil || a.Version != 2 {
		t.Fatalf("first commit = %v, %v (version %d)", ok, err, a.Version)
	}
	ok, err = s.commitRefresh(ctx, old, b, ev, "")
	if ok || err != nil {
		t.Fatalf("second commit from the same version = %v, %v; want false, nil", ok, err)
	}
	cur, _ := s.load(ctx, c)
	if cur.AccessToken != "acc-a" || cur.Version != 2 {
		t.Fatalf("row holds version %d; want a's pair at version 2", cur.Version)
	}
	events, _ := s.Events(ctx, c)
	if n := countOutcome(events, OutcomeRefreshed); n != 1 {
		t.Fatalf("%d refreshed events, want 1 (the loser's transaction rolled back)", n)
	}
}

func TestMarkNeedsReauthOnce(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	c := newCompany()
	s.Put(ctx, testGrant(c), "test")
	ev := Event{Company: c, Worker: "w", Trigger: TriggerExpiry, Outcome: OutcomeRevoked, StartedAt: time.Now()}
	if ok, _ := s.markNeedsReauth(ctx, c, 7, "stale version", ev); ok {
		t.Fatal("marked with a stale version")
	}
	for i, want := range []bool{true, false, false} {
		ok, err := s.markNeedsReauth(ctx, c, 1, "revoked", ev)
		if err != nil || ok != want {
			t.Fatalf("call %d: %v, %v; want %v", i, ok, err, want)
		}
	}
	events, _ := s.Events(ctx, c)
	if n := countOutcome(events, OutcomeRevoked); n != 1 {
		t.Fatalf("%d revoked events, want exactly 1", n)
	}
	counts, err := s.CountByStatus(ctx)
	if err != nil || counts[StatusNeedsReauth] != 1 || counts[StatusActive] != 0 || counts[StatusPaused] != 0 {
		t.Fatalf("CountByStatus = %v, %v", counts, err)
	}
}

func TestRekey(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	oldKey, newKey, lostKey := testKey(t, "old"), testKey(t, "new"), testKey(t, "lost")
	oldRing, _ := NewKeyring(config.Keys{oldKey})
	grants := map[string]Grant{}
	for range 7 {
		g := testGrant(newCompany())
		grants[g.CompanyUUID] = g
		if _, err := NewStore(db.Gorm, oldRing).Put(ctx, g, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// One row under a key nobody has any more.
	lostRing, _ := NewKeyring(config.Keys{lostKey})
	lost := testGrant(newCompany())
	NewStore(db.Gorm, lostRing).Put(ctx, lost, "test")

	rotated, _ := NewKeyring(config.Keys{newKey, oldKey})
	res, err := NewStore(db.Gorm, rotated).Rekey(ctx, 3, "test")
	var ke *KeyError
	if res.Rekeyed != 7 || res.Failed != 1 || !errors.As(err, &ke) || ke.KeyID != "lost" || ke.Company != lost.CompanyUUID {
		t.Fatalf("Rekey = %+v, %v; want 7 rekeyed, the lost-key row reported", res, err)
	}
	// Idempotent: nothing left to do.
	res, _ = NewStore(db.Gorm, rotated).Rekey(ctx, 3, "test")
	if res.Rekeyed != 0 || res.Current != 7 {
		t.Fatalf("second Rekey = %+v; want nothing rekeyed, 7 current", res)
	}
	// Every row opens with the new key alone.
	newOnly, _ := NewKeyring(config.Keys{newKey})
	s := NewStore(db.Gorm, newOnly)
	for c, g := range grants {
		rec, err := s.load(ctx, c)
		if err != nil || rec.AccessToken != g.AccessToken || rec.RefreshToken != g.RefreshToken || rec.KeyID != "new" {
			t.Fatalf("company %s after rekey: %v", c, err)
		}
	}
	assertNoPlaintext(t, db.Gorm, lost.AccessToken)
}

func countOutcome(events []Event, o Outcome) int {
	n := 0
	for _, e := range events {
		if e.Outcome == o {
			n++
		}
	}
	return n
}

// assertNoPlaintext fails if any row of any table holds one of the secrets,
// as text or as bytes (bytea prints as hex).
func assertNoPlaintext(t *testing.T, db *gorm.DB, secrets ...string) {
	t.Helper()
	var names []string
	if err := db.Raw(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`).Scan(&names).Error; err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no tables to scan")
	}
	for _, n := range names {
		var texts []string
		if err := db.Raw(`SELECT t::text FROM ` + pgx.Identifier{n}.Sanitize() + ` t`).Scan(&texts).Error; err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			for _, s := range secrets {
				if strings.Contains(text, s) || strings.Contains(text, hex.EncodeToString([]byte(s))) {
					t.Fatalf("table %s holds a plaintext token", n)
				}
			}
		}
	}
}

// TestRekeyCatchesRowsResealedBehindIt (#13 item 7): a worker still running
// with the old primary key reseals a row the pass has already walked past;
// Rekey makes another pass and leaves no row under the old key. Before, one
// pass ended with that row still sealed under the old key.
func TestRekeyCatchesRowsResealedBehindIt(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	oldKey, newKey := testKey(t, "old"), testKey(t, "new")
	oldRing, _ := NewKeyring(config.Keys{oldKey})
	oldWorker := NewStore(db.Gorm, oldRing)
	var grants []Grant
	for range 6 {
		g := testGrant(newCompany())
		grants = append(grants, g)
		if _, err := oldWorker.Put(ctx, g, "test"); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(grants, func(a, b Grant) int { return strings.Compare(a.CompanyUUID, b.CompanyUUID) })
	rotated, _ := NewKeyring(config.Keys{newKey, oldKey})
	s := NewStore(db.Gorm, rotated)
	once := false
	s.afterRekeyBatch = func() {
		if once {
			return
		}
		once = true
		// The first company, behind the pass's cursor, refreshed by a
		// worker that still seals under the old key.
		if _, err := oldWorker.Put(ctx, grants[0], "old-worker"); err != nil {
			t.Error(err)
		}
	}
	res, err := s.Rekey(ctx, 2, "test")
	if err != nil || res.Rekeyed != 7 || res.Passes != 3 || res.Current != 0 {
		t.Fatalf("Rekey = %+v, %v; want 7 rekeyed over 3 passes", res, err)
	}
	var left int64
	if err := db.Gorm.Raw(`SELECT count(*) FROM gusto_auth_tokens WHERE key_id <> 'new'`).Scan(&left).Error; err != nil || left != 0 {
		t.Fatalf("%d rows left under another key (%v)", left, err)
	}
}
