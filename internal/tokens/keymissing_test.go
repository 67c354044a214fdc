package tokens

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gustosim"
)

// TestKeyMissingIsTerminalAlertedAndReversible: a company whose row is
// sealed under a key dropped from the keyring is marked key_missing once
// (one audit event, one company.key_missing alert) however many callers
// meet it, every caller gets a terminal *KeyMissingError and the token
// endpoint is never called; Resume refuses while the key is still missing;
// with the key back, Rekey makes the company active again and tokens are
// handed out.
func TestKeyMissingIsTerminalAlertedAndReversible(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: time.Hour}, nil)
	ctx := context.Background()
	k1 := e.keys[0]
	c := e.addCompany() // sealed under k1

	// The operator dropped k1 (TOKEN_ENCRYPTION_KEYS=k2 only).
	k2 := testKey(t, "k2")
	var err error
	e.ring, err = NewKeyring(config.Keys{k2})
	if err != nil {
		t.Fatal(err)
	}
	m, rec, _ := e.manager("w1", nil)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.AccessToken(ctx, c)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var km *KeyMissingError
		if !errors.As(err, &km) || !Terminal(err) || km.KeyID != "k1" {
			t.Fatalf("caller %d: %v, want a terminal *KeyMissingError naming k1", i, err)
		}
	}
	if _, err := m.AccessToken(ctx, c); !Terminal(err) {
		t.Fatalf("after marking: %v, want terminal", err)
	}
	if n := rec.calls.Load(); n != 0 {
		t.Fatalf("%d token requests for a row that does not open, want 0", n)
	}
	if st, reason := e.status(c); st != StatusKeyMissing || reason == "" {
		t.Fatalf("status %q (%q), want key_missing with a reason", st, reason)
	}
	alerts := func() int {
		var n int
		if err := e.db.Gorm.Raw(`SELECT count(*) FROM alert_outbox WHERE company_uuid = ? AND kind = 'company.key_missing'`, c).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := alerts(); n != 1 {
		t.Fatalf("%d company.key_missing alerts, want 1", n)
	}
	marks := 0
	for _, ev := range e.events(c) {
		if ev.Trigger == TriggerKeyMissing {
			marks++
		}
	}
	if marks != 1 {
		t.Fatalf("%d key_missing audit events, want 1", marks)
	}
	counts, err := e.store.CountByStatus(ctx)
	if err != nil || counts[StatusKeyMissing] != 1 {
		t.Fatalf("CountByStatus: %v %v, want key_missing 1", counts, err)
	}

	// Resume without the key: refused, the company stays key_missing.
	noKey := NewStore(e.db.Gorm, e.ring)
	if ok, err := noKey.Resume(ctx, c, "op"); ok || err == nil {
		t.Fatalf("Resume without the key: %v %v, want an error", ok, err)
	} else {
		var ke *KeyError
		if !errors.As(err, &ke) {
			t.Fatalf("Resume without the key: %v, want a *KeyError", err)
		}
	}
	// A rekey without the key reports the row and leaves it.
	res, err := noKey.Rekey(ctx, 10, "op")
	if err == nil || res.Reopened != 0 || res.StillKeyMissing != 1 {
		t.Fatalf("Rekey without the key: %+v %v, want an error, 0 reopened, 1 still key_missing", res, err)
	}

	// The key is back (k2 primary, k1 to open): rekey reseals and reopens.
	e.ring, err = NewKeyring(config.Keys{k2, k1})
	if err != nil {
		t.Fatal(err)
	}
	withKey := NewStore(e.db.Gorm, e.ring)
	res, err = withKey.Rekey(ctx, 10, "op")
	if err != nil || res.Rekeyed != 1 || res.Reopened != 1 || res.StillKeyMissing != 0 {
		t.Fatalf("Rekey with the key back: %+v %v, want 1 rekeyed, 1 reopened", res, err)
	}
	if st, _ := e.status(c); st != StatusActive {
		t.Fatalf("status %q after the rekey, want active", st)
	}
	m2, _, _ := e.manager("w2", nil)
	tok, err := m2.AccessToken(ctx, c)
	if err != nil {
		t.Fatalf("AccessToken after the way back: %v", err)
	}
	if err := e.use(c, tok); err != nil {
		t.Fatalf("the token does not work: %v", err)
	}
	if n := alerts(); n != 1 {
		t.Fatalf("%d company.key_missing alerts after recovery, want still 1", n)
	}
}

// TestKeyMissingResumeWithKeyBack: the key is put back under the same id
// while the row is key_missing; companies resume (Store.Resume) makes it
// active, with no rekey needed.
func TestKeyMissingResumeWithKeyBack(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: time.Hour}, nil)
	ctx := context.Background()
	full := e.ring
	c := e.addCompany()
	var err error
	e.ring, err = NewKeyring(config.Keys{testKey(t, "k2")})
	if err != nil {
		t.Fatal(err)
	}
	m, _, _ := e.manager("w1", nil)
	if _, err := m.AccessToken(ctx, c); !Terminal(err) {
		t.Fatalf("%v, want terminal", err)
	}
	// A paused company whose row does not open is not marked: it keeps its
	// status and reads as paused.
	e.ring, e.store = full, NewStore(e.db.Gorm, full)
	p := e.addCompany()
	e.ring = m.store.keys
	if _, err := NewStore(e.db.Gorm, full).Pause(ctx, p, "", "op"); err != nil {
		t.Fatal(err)
	}
	var pe *PausedError
	if _, err := m.AccessToken(ctx, p); !errors.As(err, &pe) {
		t.Fatalf("paused company without its key: %v, want *PausedError", err)
	}
	if st, _ := e.status(p); st != StatusPaused {
		t.Fatalf("paused company became %q", st)
	}

	e.ring = full
	ok, err := NewStore(e.db.Gorm, full).Resume(ctx, c, "op")
	if !ok || err != nil {
		t.Fatalf("Resume with the key back: %v %v", ok, err)
	}
	m2, _, _ := e.manager("w2", nil)
	if _, err := m2.AccessToken(ctx, c); err != nil {
		t.Fatalf("AccessToken after resume: %v", err)
	}
}
