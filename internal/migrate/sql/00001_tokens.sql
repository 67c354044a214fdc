-- +goose Up
-- One row per company, as Gusto recommends. Tokens are AES-256-GCM
-- ciphertexts (nonce || sealed) under the key named by key_id, with the
-- company uuid as associated data. Never plaintext.
CREATE TABLE gusto_auth_tokens (
    company_uuid            uuid        PRIMARY KEY,
    access_token            bytea       NOT NULL,
    refresh_token           bytea       NOT NULL,
    key_id                  text        NOT NULL,
    -- On Gusto's clock: (response Date + expires_in - safety margin).
    access_token_expiration timestamptz NOT NULL,
    -- Space-separated OAuth scopes granted to this token.
    scopes                  text        NOT NULL DEFAULT '',
    -- Bumped by every committed refresh; the compare-and-swap fence.
    version                 bigint      NOT NULL DEFAULT 1 CHECK (version > 0),
    status                  text        NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'needs_reauth', 'paused')),
    status_reason           text        NOT NULL DEFAULT '',
    status_changed_at       timestamptz NOT NULL DEFAULT now(),
    consecutive_failures    integer     NOT NULL DEFAULT 0,
    total_failures          bigint      NOT NULL DEFAULT 0,
    last_refreshed_at       timestamptz,
    last_failure_at         timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gusto_auth_tokens_status ON gusto_auth_tokens (status);

-- Audit of every refresh attempt. Never holds a token.
CREATE TABLE token_refresh_events (
    id           bigserial   PRIMARY KEY,
    company_uuid uuid        NOT NULL,
    worker       text        NOT NULL,
    -- What asked for the refresh: expiry, unauthorized, manual, onboard, rekey.
    trigger      text        NOT NULL,
    -- refreshed, sibling_refreshed, cas_lost, revoked, transient, failed, status_change.
    outcome      text        NOT NULL,
    detail       text        NOT NULL DEFAULT '',
    old_version  bigint,
    new_version  bigint,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX token_refresh_events_company ON token_refresh_events (company_uuid, started_at);

-- +goose Down
DROP TABLE token_refresh_events;
DROP TABLE gusto_auth_tokens;
