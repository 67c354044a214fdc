-- +goose Up
-- A company whose tokens are sealed under a key TOKEN_ENCRYPTION_KEYS no
-- longer holds (the key was dropped before `gustosync tokens rekey` moved
-- the row off it), or that the key of that id no longer opens: nothing
-- can be synced until an operator puts the key back and runs `gustosync
-- tokens rekey` or `gustosync companies resume`, or stores new tokens
-- (companies add). Written by package tokens when a row fails to open
-- (version-guarded, once), alerted like the other statuses a person must
-- act on.
ALTER TABLE gusto_auth_tokens DROP CONSTRAINT gusto_auth_tokens_status_check;
ALTER TABLE gusto_auth_tokens ADD CONSTRAINT gusto_auth_tokens_status_check
    CHECK (status IN ('active', 'needs_reauth', 'paused', 'missing_scope', 'key_missing'));

-- One outbox row per transition into a status a person must act on, kind
-- "company.<status>" (alert_outbox_status, migration 6): key_missing joins
-- needs_reauth and missing_scope. alert_outbox.kind has no CHECK.
DROP TRIGGER gusto_auth_tokens_alert_status ON gusto_auth_tokens;
CREATE TRIGGER gusto_auth_tokens_alert_status
    AFTER UPDATE OF status ON gusto_auth_tokens
    FOR EACH ROW
    WHEN (NEW.status IN ('needs_reauth', 'missing_scope', 'key_missing') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION alert_outbox_status();

-- Webhook signing keys sealed like tokens (package gustoevents, with
-- tokens.Keyring): the verification token is kept only as sealed_token
-- (AES-256-GCM under key_id, bound to the row's token_sha256) and looked up
-- by its SHA-256. Rows written before this migration keep their plaintext
-- in verification_token until the first read seals them (Go side: the keys
-- live outside the database); verification_token is NULL once sealed.
ALTER TABLE gusto_webhook_keys DROP CONSTRAINT gusto_webhook_keys_pkey;
ALTER TABLE gusto_webhook_keys ALTER COLUMN verification_token DROP NOT NULL;
ALTER TABLE gusto_webhook_keys ADD COLUMN token_sha256 bytea;
ALTER TABLE gusto_webhook_keys ADD COLUMN sealed_token bytea;
ALTER TABLE gusto_webhook_keys ADD COLUMN key_id text;
UPDATE gusto_webhook_keys SET token_sha256 = sha256(convert_to(verification_token, 'UTF8'));
ALTER TABLE gusto_webhook_keys ALTER COLUMN token_sha256 SET NOT NULL;
ALTER TABLE gusto_webhook_keys ADD PRIMARY KEY (token_sha256);
ALTER TABLE gusto_webhook_keys ADD CONSTRAINT gusto_webhook_keys_sealed_or_legacy
    CHECK (verification_token IS NOT NULL OR (sealed_token IS NOT NULL AND key_id IS NOT NULL));

-- +goose Down
-- Sealed signing keys cannot be unsealed in SQL: they are dropped (subscribe
-- and verify again after a downgrade).
DELETE FROM gusto_webhook_keys WHERE verification_token IS NULL;
ALTER TABLE gusto_webhook_keys DROP CONSTRAINT gusto_webhook_keys_sealed_or_legacy;
ALTER TABLE gusto_webhook_keys DROP CONSTRAINT gusto_webhook_keys_pkey;
ALTER TABLE gusto_webhook_keys DROP COLUMN key_id;
ALTER TABLE gusto_webhook_keys DROP COLUMN sealed_token;
ALTER TABLE gusto_webhook_keys DROP COLUMN token_sha256;
ALTER TABLE gusto_webhook_keys ALTER COLUMN verification_token SET NOT NULL;
ALTER TABLE gusto_webhook_keys ADD PRIMARY KEY (verification_token);
DROP TRIGGER gusto_auth_tokens_alert_status ON gusto_auth_tokens;
CREATE TRIGGER gusto_auth_tokens_alert_status
    AFTER UPDATE OF status ON gusto_auth_tokens
    FOR EACH ROW
    WHEN (NEW.status IN ('needs_reauth', 'missing_scope') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION alert_outbox_status();
UPDATE gusto_auth_tokens SET status = 'needs_reauth' WHERE status = 'key_missing';
ALTER TABLE gusto_auth_tokens DROP CONSTRAINT gusto_auth_tokens_status_check;
ALTER TABLE gusto_auth_tokens ADD CONSTRAINT gusto_auth_tokens_status_check
    CHECK (status IN ('active', 'needs_reauth', 'paused', 'missing_scope'));
