package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/gustosync/gustosync/internal/config"
)

// Invariant 8 (secrets stay secret; docs/invariants.md) at rest: every token
// is sealed with AES-256-GCM under a key of the keyring, the key id is
// stored beside the row, and the company uuid and the column name are bound
// as associated data, so a ciphertext copied to another company's row, or
// from the refresh column to the access column, fails to open.

// Keyring seals and opens tokens. The first key seals; every key opens, so
// keys can be rotated: add the new key first, run `gustosync tokens rekey`,
// then drop the old one. It is safe for concurrent use.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

// KeyError is a failure to seal or open a token. It names the key id and the
// company, never the key, the ciphertext or the plaintext.
type KeyError struct {
	// KeyID is the id of the key involved ("" when the keyring is empty).
	KeyID string
	// Company is the company uuid the ciphertext belongs to.
	Company string
	// Reason says what failed.
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("tokens: key %q, company %s: %s", e.KeyID, e.Company, e.Reason)
}

// NewKeyring builds a keyring from the configured keys (config.Keys, parsed
// from TOKEN_ENCRYPTION_KEYS). It refuses an empty keyring, a duplicate id
// and a key that is not 32 bytes.
func NewKeyring(keys config.Keys) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("tokens: keyring: no keys (set TOKEN_ENCRYPTION_KEYS)")
	}
	k := &Keyring{primary: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, key := range keys {
		if key.ID == "" {
			return nil, errors.New("tokens: keyring: a key has an empty id")
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, &KeyError{KeyID: key.ID, Reason: "duplicate key id"}
		}
		if len(key.Bytes) != 32 {
			return nil, &KeyError{KeyID: key.ID, Reason: fmt.Sprintf("key is %d bytes, want 32 (AES-256)", len(key.Bytes))}
		}
		block, err := aes.NewCipher(key.Bytes)
		if err != nil {
			return nil, &KeyError{KeyID: key.ID, Reason: "cannot build AES cipher"}
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, &KeyError{KeyID: key.ID, Reason: "cannot build GCM"}
		}
		k.aeads[key.ID] = aead
	}
	return k, nil
}

// PrimaryID is the id of the key that seals.
func (k *Keyring) PrimaryID() string { return k.primary }

// Has reports whether the keyring holds a key with this id.
func (k *Keyring) Has(id string) bool { _, ok := k.aeads[id]; return ok }

// column names the field a ciphertext belongs to; it is part of the
// associated data.
type column string

const (
	colAccess  column = "access_token"
	colRefresh column = "refresh_token"
	// colSecret is any other secret (SealSecret): its "company" is the
	// secret's name.
	colSecret column = "secret"
)

// associatedData binds a ciphertext to its company and column.
func associatedData(company string, col column) []byte {
	return []byte("gustosync/tokens/v1\x00" + company + "\x00" + string(col))
}

// seal encrypts plaintext under the primary key: nonce || ciphertext+tag.
func (k *Keyring) seal(company string, col column, plaintext string) ([]byte, error) {
	aead := k.aeads[k.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, &KeyError{KeyID: k.primary, Company: company, Reason: "cannot read random nonce"}
	}
	return aead.Seal(nonce, nonce, []byte(plaintext), associatedData(company, col)), nil
}

// open decrypts a ciphertext sealed by seal under key keyID for company.
func (k *Keyring) open(company string, col column, keyID string, sealed []byte) (string, error) {
	aead, ok := k.aeads[keyID]
	if !ok {
		return "", &KeyError{KeyID: keyID, Company: company, Reason: "no such key in TOKEN_ENCRYPTION_KEYS"}
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return "", &KeyError{KeyID: keyID, Company: company, Reason: string(col) + ": ciphertext too short"}
	}
	nonce, ct := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, ct, associatedData(company, col))
	if err != nil {
		return "", &KeyError{KeyID: keyID, Company: company, Reason: string(col) + ": authentication failed (wrong key, or ciphertext not for this company)"}
	}
	return string(plain), nil
}

// openRow opens both tokens of a stored row.
func (k *Keyring) openRow(company string, row tokenRow) (access, refresh string, err error) {
	if access, err = k.open(company, colAccess, row.KeyID, row.AccessToken); err != nil {
		return "", "", err
	}
	if refresh, err = k.open(company, colRefresh, row.KeyID, row.RefreshToken); err != nil {
		return "", "", err
	}
	return access, refresh, nil
}

// SealSecret seals a secret other than a company's tokens (a webhook
// signing key) under the primary key, with the same envelope as tokens
// (AES-256-GCM, nonce prepended). name binds the ciphertext to its place
// (table and row, e.g. "gusto_webhook_keys/<sha256>"), so it opens only
// there. It returns the key id to store beside the ciphertext.
func (k *Keyring) SealSecret(name, plaintext string) (keyID string, sealed []byte, err error) {
	sealed, err = k.seal(name, colSecret, plaintext)
	return k.primary, sealed, err
}

// OpenSecret opens a ciphertext SealSecret sealed for name under keyID. A
// key id the keyring does not hold, or a ciphertext that does not
// authenticate, is a *KeyError naming the key id and name, never a secret.
func (k *Keyring) OpenSecret(name, keyID string, sealed []byte) (string, error) {
	return k.open(name, colSecret, keyID, sealed)
}
