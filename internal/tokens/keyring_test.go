package tokens

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/gustosync/gustosync/internal/config"
)

func testKey(t testing.TB, id string) config.Key {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return config.Key{ID: id, Bytes: b}
}

func TestKeyringRoundTripAndBinding(t *testing.T) {
	k1 := testKey(t, "k1")
	ring, err := NewKeyring(config.Keys{k1})
	if err != nil {
		t.Fatal(err)
	}
	const a, b = "0b6f8a3e-0000-4000-8000-000000000001", "0b6f8a3e-0000-4000-8000-000000000002"
	const secret = "access-SECRET-value"
	ct, err := ring.seal(a, colAccess, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte(secret)) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := ring.open(a, colAccess, "k1", ct)
	if err != nil || got != secret {
		t.Fatalf("open = %q, %v; want the plaintext", got, err)
	}
	// Copied to another company: fails, and the error names the key and
	// company but not the token.
	_, err = ring.open(b, colAccess, "k1", ct)
	var ke *KeyError
	if !errors.As(err, &ke) || ke.KeyID != "k1" || ke.Company != b {
		t.Fatalf("open under another company = %v; want *KeyError for k1/%s", err, b)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("error leaks the plaintext")
	}
	// Copied from the access column to the refresh column: fails too.
	if _, err := ring.open(a, colRefresh, "k1", ct); !errors.As(err, &ke) {
		t.Fatalf("open in another column = %v; want *KeyError", err)
	}
	// Tampered: fails.
	ct[len(ct)-1] ^= 1
	if _, err := ring.open(a, colAccess, "k1", ct); !errors.As(err, &ke) {
		t.Fatalf("open tampered = %v; want *KeyError", err)
	}
	// Unknown key id.
	if _, err := ring.open(a, colAccess, "nope", ct); !errors.As(err, &ke) || ke.KeyID != "nope" {
		t.Fatalf("open unknown key = %v", err)
	}
	// Two seals of one plaintext differ (random nonce).
	c1, _ := ring.seal(a, colAccess, secret)
	c2, _ := ring.seal(a, colAccess, secret)
	if bytes.Equal(c1, c2) {
		t.Fatal("two seals are equal: nonce reuse")
	}
}

func TestKeyringRotation(t *testing.T) {
	old, next := testKey(t, "old"), testKey(t, "new")
	before, err := NewKeyring(config.Keys{old})
	if err != nil {
		t.Fatal(err)
	}
	after, err := NewKeyring(config.Keys{next, old})
	if err != nil {
		t.Fatal(err)
	}
	const c = "0b6f8a3e-0000-4000-8000-000000000001"
	ct, _ := before.seal(c, colRefresh, "r1")
	if got, err := after.open(c, colRefresh, "old", ct); err != nil || got != "r1" {
		t.Fatalf("the rotated keyring cannot open the old key's ciphertext: %v", err)
	}
	if after.PrimaryID() != "new" {
		t.Fatalf("primary = %q, want the first key", after.PrimaryID())
	}
	ct2, _ := after.seal(c, colRefresh, "r2")
	if _, err := before.open(c, colRefresh, "new", ct2); err == nil {
		t.Fatal("a keyring without the new key opened its ciphertext")
	}
}

func TestNewKeyringRefusesBadKeys(t *testing.T) {
	k := testKey(t, "a")
	for name, keys := range map[string]config.Keys{
		"empty":     nil,
		"duplicate": {k, k},
		"short":     {{ID: "s", Bytes: make([]byte, 16)}},
		"no id":     {{ID: "", Bytes: k.Bytes}},
	} {
		t.Run(name, func(t *testing.T) {
			ring, err := NewKeyring(keys)
			if err == nil || ring != nil {
				t.Fatalf("NewKeyring(%s) = %v, %v; want an error", name, ring, err)
			}
			if strings.Contains(err.Error(), string(k.Bytes)) {
				t.Fatal("error leaks key material")
			}
		})
	}
}
