package gustoevents_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/tokens"
)

// keyColumns is every stored form of the webhook signing keys, as raw bytes.
func (e *env) keyColumns() [][]byte {
	e.t.Helper()
	var rows []struct {
		VerificationToken *string
		SealedToken       []byte
		KeyID             *string
	}
	if err := e.db.Gorm.Raw(`SELECT verification_token, sealed_token, key_id FROM gusto_webhook_keys`).Scan(&rows).Error; err != nil {
		e.t.Fatal(err)
	}
	var out [][]byte
	for _, r := range rows {
		if r.VerificationToken != nil {
			out = append(out, []byte(*r.VerificationToken))
		}
		out = append(out, r.SealedToken)
	}
	return out
}

// TestWebhookKeysAreSealed: a verification token the intake receives is
// stored only sealed (no column holds it); a row written in plaintext
// before migration 12 still signs, and the first read seals it; a row
// sealed under a key that is no longer the primary one is resealed under
// the primary on read; with its key dropped, a signing key is not used
// and a delivery signed with it is refused, nothing changed.
func TestWebhookKeysAreSealed(t *testing.T) {
	e := newEnv(t)
	a := e.onboard()

	// Received through the intake: stored sealed.
	const posted = "posted-verification-token-0123456789"
	body, _ := json.Marshal(map[string]string{"verification_token": posted})
	if code := e.post(body, ""); code != http.StatusOK {
		t.Fatalf("verification POST = %d, want 200", code)
	}
	for _, c := range e.keyColumns() {
		if bytes.Contains(c, []byte(posted)) {
			t.Fatal("a verification token is stored in plaintext")
		}
	}
	pending, err := e.store.PendingKeys(e.ctx)
	if err != nil || len(pending) != 1 || pending[0] != posted {
		t.Fatalf("PendingKeys = %d keys, %v; want the posted one back", len(pending), err)
	}

	// A legacy plaintext row, confirmed: it still signs, and is sealed.
	const legacy = "legacy-plaintext-signing-key-987654321"
	if err := e.db.Gorm.Exec(`INSERT INTO gusto_webhook_keys (verification_token, token_sha256, verified_at)
		VALUES (?, sha256(convert_to(?, 'UTF8')), now())`, legacy, legacy).Error; err != nil {
		t.Fatal(err)
	}
	ev := func(id string) []byte {
		b, _ := json.Marshal(gusto.Event{UUID: id, EventType: "company.provisioned", ResourceType: "Company",
			ResourceUUID: a, Timestamp: time.Now().Unix()})
		return b
	}
	first := ev("0b0e5a3c-1d2e-4f60-8a9b-0c1d2e3f4a51")
	if code := e.post(first, gustosim.Signature(legacy, first)); code != http.StatusOK {
		t.Fatalf("delivery signed with the legacy key = %d, want 200", code)
	}
	for _, c := range e.keyColumns() {
		if bytes.Contains(c, []byte(legacy)) {
			t.Fatal("the legacy plaintext key is still stored in plaintext after a read")
		}
	}
	second := ev("0b0e5a3c-1d2e-4f60-8a9b-0c1d2e3f4a52")
	if code := e.post(second, gustosim.Signature(legacy, second)); code != http.StatusOK {
		t.Fatalf("delivery signed with the sealed legacy key = %d, want 200", code)
	}

	// Rotation: k2 becomes primary, k1 still opens; a read reseals under k2.
	k1 := e.ringKeys[0]
	k2 := config.Key{ID: "k2", Bytes: make([]byte, 32)}
	_, _ = rand.Read(k2.Bytes)
	rotated, err := tokens.NewKeyring(config.Keys{k2, k1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gustoevents.NewStore(e.db.Gorm, rotated).PendingKeys(e.ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := e.db.Gorm.Raw(`SELECT key_id FROM gusto_webhook_keys WHERE verified_at IS NULL`).Scan(&ids).Error; err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != "k2" {
		t.Fatalf("pending key sealed under %v after a read with k2 primary, want [k2]", ids)
	}

	// k1 dropped: the legacy key (sealed under k1) opens no more; a
	// delivery signed with it is refused and changes nothing.
	onlyK2, err := tokens.NewKeyring(config.Keys{k2})
	if err != nil {
		t.Fatal(err)
	}
	in, err := gustoevents.NewIntake(gustoevents.IntakeConfig{Handler: e.handler, Store: gustoevents.NewStore(e.db.Gorm, onlyK2)})
	if err != nil {
		t.Fatal(err)
	}
	third := ev("0b0e5a3c-1d2e-4f60-8a9b-0c1d2e3f4a53")
	req, _ := http.NewRequest(http.MethodPost, "/", bytes.NewReader(third))
	req.Header.Set("X-Gusto-Signature", gustosim.Signature(legacy, third))
	rec := httptest.NewRecorder()
	in.ServeHTTP(rec, req)
	if rec.Code == http.StatusOK {
		t.Fatalf("delivery signed with a key whose encryption key was dropped = %d, want a refusal", rec.Code)
	}
	if _, done, _ := e.store.Handled(e.ctx, "0b0e5a3c-1d2e-4f60-8a9b-0c1d2e3f4a53"); done {
		t.Fatal("a refused delivery was handled")
	}
}
