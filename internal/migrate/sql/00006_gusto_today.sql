-- +goose Up
-- Gusto answers 406 Not Acceptable to every request whose
-- X-Gusto-API-Version it no longer supports (GUSTO.md, "API versions"): a
-- fleet-wide configuration error, never a company's fault. One row per
-- refused version; package apiversion owns it. cleared_at is set once a
-- request with that version succeeds again.
CREATE TABLE gusto_api_version_rejections (
    version       text        PRIMARY KEY,
    -- Gusto's message, sanitized by the client (never a token).
    message       text        NOT NULL DEFAULT '',
    worker        text        NOT NULL DEFAULT '',
    rejections    bigint      NOT NULL DEFAULT 1,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    cleared_at    timestamptz
);

-- Fleet-wide alerts concern no company.
ALTER TABLE alert_outbox ALTER COLUMN company_uuid DROP NOT NULL;

-- One alert per transition into "refused": a first refusal, or one after
-- the version had been cleared.
-- +goose StatementBegin
CREATE FUNCTION alert_outbox_api_version_rejected() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR (OLD.cleared_at IS NOT NULL AND NEW.cleared_at IS NULL) THEN
        INSERT INTO alert_outbox (kind, company_uuid, previous_status, reason)
        VALUES ('gusto.api_version_rejected', NULL, '',
                'Gusto refuses API version ' || NEW.version || ': set GUSTO_API_VERSION to a supported version'
                || CASE WHEN NEW.message <> '' THEN ' (' || NEW.message || ')' ELSE '' END);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER gusto_api_version_rejections_alert
    AFTER INSERT OR UPDATE OF cleared_at ON gusto_api_version_rejections
    FOR EACH ROW
    EXECUTE FUNCTION alert_outbox_api_version_rejected();

-- A company whose grant lacks a scope a sync needs (403/404 with Gusto's
-- missing-permissions error): not revoked, not retried until a person
-- grants the scope (re-consent, then companies add, or companies resume).
ALTER TABLE gusto_auth_tokens DROP CONSTRAINT gusto_auth_tokens_status_check;
ALTER TABLE gusto_auth_tokens ADD CONSTRAINT gusto_auth_tokens_status_check
    CHECK (status IN ('active', 'needs_reauth', 'paused', 'missing_scope'));

-- The resource owner of the company's grant (GET /v1/token_info
-- resource_owner.uuid): the rate-limit key when Gusto's limit is per
-- user-application pair rather than per grant (GUSTO_RATE_LIMIT_KEY=owner).
ALTER TABLE gusto_auth_tokens ADD COLUMN resource_owner_uuid uuid;

-- One outbox row per transition into a status a person must act on
-- (needs_reauth, missing_scope), kind "company.<status>": one function for
-- both, replacing migration 5's needs_reauth-only one.
DROP TRIGGER gusto_auth_tokens_alert_needs_reauth ON gusto_auth_tokens;
DROP FUNCTION alert_outbox_needs_reauth();
-- +goose StatementBegin
CREATE FUNCTION alert_outbox_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_outbox (kind, company_uuid, previous_status, reason)
    VALUES ('company.' || NEW.status, NEW.company_uuid, OLD.status, NEW.status_reason);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER gusto_auth_tokens_alert_status
    AFTER UPDATE OF status ON gusto_auth_tokens
    FOR EACH ROW
    WHEN (NEW.status IN ('needs_reauth', 'missing_scope') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION alert_outbox_status();

-- Notes on a run that finished but not cleanly, e.g. a page walk whose
-- record count disagreed with Gusto's X-Total-Count (the resource is walked
-- again by the next run).
ALTER TABLE sync_runs ADD COLUMN notes text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sync_runs DROP COLUMN notes;
DROP TRIGGER gusto_auth_tokens_alert_status ON gusto_auth_tokens;
DROP FUNCTION alert_outbox_status();
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
ALTER TABLE gusto_auth_tokens DROP COLUMN resource_owner_uuid;
UPDATE gusto_auth_tokens SET status = 'needs_reauth' WHERE status = 'missing_scope';
ALTER TABLE gusto_auth_tokens DROP CONSTRAINT gusto_auth_tokens_status_check;
ALTER TABLE gusto_auth_tokens ADD CONSTRAINT gusto_auth_tokens_status_check
    CHECK (status IN ('active', 'needs_reauth', 'paused'));
DROP TRIGGER gusto_api_version_rejections_alert ON gusto_api_version_rejections;
DROP FUNCTION alert_outbox_api_version_rejected();
DELETE FROM alert_outbox WHERE company_uuid IS NULL;
ALTER TABLE alert_outbox ALTER COLUMN company_uuid SET NOT NULL;
DROP TABLE gusto_api_version_rejections;
