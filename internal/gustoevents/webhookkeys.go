package gustoevents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/postgres"
)

// This file: the webhook signing keys (gusto_webhook_keys). A verification
// token is an HMAC key the intake must be able to use, so it is sealed, not
// hashed: tokens.Keyring.SealSecret with TOKEN_ENCRYPTION_KEYS, bound to
// the row (its name is the token's SHA-256, which is also the row's key and
// the only form in which a token is ever looked up). Rows written before
// migration 12 hold the plaintext; the first read seals them, and a row
// sealed under a key that is no longer the primary one is resealed under
// it, in the same way (rekey on read).

// maxPendingKeys bounds the unverified verification tokens kept (anyone
// can POST one to the intake).
const maxPendingKeys = 20

// keyRow is gusto_webhook_keys as scanned.
type keyRow struct {
	// TokenHex is token_sha256, hex-encoded.
	TokenHex          string
	VerificationToken *string
	SealedToken       []byte
	KeyID             *string
}

// tokenHash is the row key of a verification token, hex-encoded (the
// statements decode it).
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// secretName binds a sealed token to its row.
func secretName(hash string) string { return "gusto_webhook_keys/" + hash }

// needKeys refuses a key operation on a store without a keyring.
func (s *Store) needKeys() error {
	if s.keys == nil {
		return errors.New("gustoevents: this store has no keyring (TOKEN_ENCRYPTION_KEYS): it cannot handle webhook signing keys")
	}
	return nil
}

// AddPendingKey stores a verification token Gusto (or anyone) POSTed to
// the intake, sealed; it signs nothing until VerifyKey confirms it. The
// newest maxPendingKeys pending ones are kept.
func (s *Store) AddPendingKey(ctx context.Context, token string) error {
	if err := s.needKeys(); err != nil {
		return err
	}
	hash := tokenHash(token)
	keyID, sealed, err := s.keys.SealSecret(secretName(hash), token)
	if err != nil {
		return fmt.Errorf("gustoevents: seal a verification token: %w", err)
	}
	err = postgres.InTx(ctx, s.db, postgres.TxOptions{}, func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO gusto_webhook_keys (token_sha256, sealed_token, key_id) VALUES (decode(?, 'hex'), ?, ?) ON CONFLICT DO NOTHING`,
			hash, sealed, keyID).Error; err != nil {
			return err
		}
		return tx.Exec(`DELETE FROM gusto_webhook_keys WHERE verified_at IS NULL AND token_sha256 NOT IN
			(SELECT token_sha256 FROM gusto_webhook_keys WHERE verified_at IS NULL ORDER BY received_at DESC LIMIT ?)`, maxPendingKeys).Error
	})
	if err != nil {
		return fmt.Errorf("gustoevents: store a verification token: %w", err)
	}
	return nil
}

// PendingKeys returns the unverified verification tokens, newest first.
// A row that does not open (its key was dropped) is skipped with a
// warning naming the key id.
func (s *Store) PendingKeys(ctx context.Context) ([]string, error) {
	return s.readKeys(ctx, `WHERE verified_at IS NULL ORDER BY received_at DESC`)
}

// VerifyKey marks token as confirmed by Gusto for subscription: from now
// on it signs deliveries.
func (s *Store) VerifyKey(ctx context.Context, token, subscription string) error {
	res := s.db.WithContext(ctx).Exec(`UPDATE gusto_webhook_keys SET verified_at = now(), subscription_uuid = ? WHERE token_sha256 = decode(?, 'hex')`,
		subscription, tokenHash(token))
	if res.Error != nil {
		return fmt.Errorf("gustoevents: confirm a verification token: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return errors.New("gustoevents: no such pending verification token")
	}
	return nil
}

// verifiedKeys returns the confirmed signing keys, newest first (at most
// five). It fails only when no confirmed key could be read at all although
// some exist (their key was dropped from TOKEN_ENCRYPTION_KEYS): the error
// names the key id.
func (s *Store) verifiedKeys(ctx context.Context) ([]string, error) {
	return s.readKeys(ctx, `WHERE verified_at IS NOT NULL ORDER BY verified_at DESC LIMIT 5`)
}

// readKeys reads and opens the rows that where selects, sealing a legacy
// plaintext row and resealing one under an old key as it goes. Rows that
// do not open are skipped (logged by key id); if every row failed, the
// first failure is the error.
func (s *Store) readKeys(ctx context.Context, where string) ([]string, error) {
	if err := s.needKeys(); err != nil {
		return nil, err
	}
	var rows []keyRow
	if err := s.db.WithContext(ctx).Raw(`SELECT encode(token_sha256, 'hex') AS token_hex, verification_token, sealed_token, key_id FROM gusto_webhook_keys ` + where).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("gustoevents: read webhook signing keys: %w", err)
	}
	out := make([]string, 0, len(rows))
	var first error
	for _, r := range rows {
		token, err := s.openKey(ctx, r)
		if err != nil {
			if first == nil {
				first = err
			}
			slog.Default().LogAttrs(ctx, slog.LevelWarn, "a webhook signing key cannot be read; skipped", slog.String("error", err.Error()))
			continue
		}
		out = append(out, token)
	}
	if len(out) == 0 && first != nil {
		return nil, first
	}
	return out, nil
}

// openKey returns a row's token, sealing it (legacy plaintext) or
// resealing it under the primary key when needed; the rewrite is guarded by
// what was read, and a failed rewrite only costs a later retry.
func (s *Store) openKey(ctx context.Context, r keyRow) (string, error) {
	name := secretName(r.TokenHex)
	var token string
	switch {
	case r.SealedToken != nil && r.KeyID != nil:
		t, err := s.keys.OpenSecret(name, *r.KeyID, r.SealedToken)
		if err != nil {
			return "", fmt.Errorf("gustoevents: webhook signing key: %w", err)
		}
		if *r.KeyID == s.keys.PrimaryID() && r.VerificationToken == nil {
			return t, nil
		}
		token = t
	case r.VerificationToken != nil:
		token = *r.VerificationToken
	default:
		return "", errors.New("gustoevents: a webhook signing key row holds neither a sealed nor a legacy token")
	}
	keyID, sealed, err := s.keys.SealSecret(name, token)
	if err != nil {
		return token, nil // still usable; sealed on a later read
	}
	if err := s.db.WithContext(ctx).Exec(`UPDATE gusto_webhook_keys SET sealed_token = ?, key_id = ?, verification_token = NULL
		WHERE token_sha256 = decode(?, 'hex') AND sealed_token IS NOT DISTINCT FROM ? AND key_id IS NOT DISTINCT FROM ?`,
		sealed, keyID, r.TokenHex, r.SealedToken, r.KeyID).Error; err != nil {
		slog.Default().LogAttrs(ctx, slog.LevelWarn, "sealing a webhook signing key failed; retried on a later read", slog.String("error", err.Error()))
	}
	return token, nil
}
