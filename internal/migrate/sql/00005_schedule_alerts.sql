-- +goose Up
-- Where each company stands in the scheduler's windows. A company without a
-- row is due at once; the scheduler writes the row after each enqueue. The
-- window grid itself is computed (interval, deterministic per-company
-- offset); this table only remembers which window was last enqueued, so a
-- tick reads the companies that are due in one indexed query.
CREATE TABLE company_schedules (
    company_uuid     uuid        PRIMARY KEY
                     REFERENCES gusto_auth_tokens (company_uuid) ON DELETE CASCADE,
    -- Per-company sync interval in seconds; NULL uses SYNC_INTERVAL.
    interval_seconds integer     CHECK (interval_seconds IS NULL OR interval_seconds > 0),
    -- Start of the next window; NULL or past means due.
    next_due_at      timestamptz,
    -- Index of the last window a sync was enqueued for (task id sync:<company>:<window>).
    last_window      bigint,
    last_enqueued_at timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX company_schedules_next_due ON company_schedules (next_due_at);

-- Alerts waiting to go out, one row per event. Rows are written in the same
-- transaction as the change they report (by the trigger below), delivered by
-- the scheduler with FOR UPDATE SKIP LOCKED, and never hold a token.
CREATE TABLE alert_outbox (
    id              bigserial   PRIMARY KEY,
    -- Stable event id sent with every attempt, for receivers to deduplicate.
    event_id        uuid        NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    kind            text        NOT NULL,
    company_uuid    uuid        NOT NULL,
    previous_status text        NOT NULL DEFAULT '',
    reason          text        NOT NULL DEFAULT '',
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'expired')),
    attempts        integer     NOT NULL DEFAULT 0,
    -- When the next attempt is due; NULL: at once (independent of clock skew
    -- between the database and the scheduler).
    next_attempt_at timestamptz,
    delivered_at    timestamptz,
    -- Why the last attempt failed (status code or transport error), never a secret.
    last_error      text        NOT NULL DEFAULT ''
);
CREATE INDEX alert_outbox_pending ON alert_outbox (next_attempt_at NULLS FIRST, id) WHERE status = 'pending';
CREATE INDEX alert_outbox_company ON alert_outbox (company_uuid, occurred_at);

-- One outbox row per transition into needs_reauth, whoever makes it.
-- +goose StatementBegin
CREATE FUNCTION alert_outbox_needs_reauth() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_outbox (kind, company_uuid, previous_status, reason)
    VALUES ('company.needs_reauth', NEW.company_uuid, OLD.status, NEW.status_reason);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER gusto_auth_tokens_alert_needs_reauth
    AFTER UPDATE OF status ON gusto_auth_tokens
    FOR EACH ROW
    WHEN (NEW.status = 'needs_reauth' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION alert_outbox_needs_reauth();

-- +goose Down
DROP TRIGGER gusto_auth_tokens_alert_needs_reauth ON gusto_auth_tokens;
DROP FUNCTION alert_outbox_needs_reauth();
DROP TABLE alert_outbox;
DROP TABLE company_schedules;
