-- +goose Up
-- Every status a company has been in, one row per transition, written by a
-- trigger on gusto_auth_tokens in the transaction of the change, whoever
-- makes it (the token manager, the dashboard's onboarding, an operator's
-- SQL). The dashboard's company page shows it. It holds statuses and the
-- stored status reason, never a token. No foreign key: the history of a
-- removed company stays as an audit.
--   from_status  '' for the row's creation (onboarding)
--   reason       the status_reason stored with the new status
CREATE TABLE company_status_events (
    id           bigserial   PRIMARY KEY,
    company_uuid uuid        NOT NULL,
    from_status  text        NOT NULL DEFAULT '',
    to_status    text        NOT NULL,
    reason       text        NOT NULL DEFAULT '',
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX company_status_events_company ON company_status_events (company_uuid, id);

-- +goose StatementBegin
CREATE FUNCTION company_status_events_record() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO company_status_events (company_uuid, from_status, to_status, reason)
        VALUES (NEW.company_uuid, '', NEW.status, NEW.status_reason);
    ELSE
        INSERT INTO company_status_events (company_uuid, from_status, to_status, reason)
        VALUES (NEW.company_uuid, OLD.status, NEW.status, NEW.status_reason);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER gusto_auth_tokens_status_created
    AFTER INSERT ON gusto_auth_tokens
    FOR EACH ROW
    EXECUTE FUNCTION company_status_events_record();

CREATE TRIGGER gusto_auth_tokens_status_history
    AFTER UPDATE OF status ON gusto_auth_tokens
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION company_status_events_record();

-- Companies already onboarded start their history with their current status.
INSERT INTO company_status_events (company_uuid, from_status, to_status, reason, at)
SELECT company_uuid, '', status, status_reason, status_changed_at FROM gusto_auth_tokens;

-- The dashboard's companies list walks companies in uuid order by keyset,
-- optionally of one status: this index serves the status-filtered walk.
CREATE INDEX gusto_auth_tokens_status_uuid ON gusto_auth_tokens (status, company_uuid);

-- One alert "company.recovered" per return to active from a status that
-- raised an alert (needs_reauth, missing_scope, key_missing): the receiver
-- can close what the earlier event opened. Its own function and trigger,
-- beside the ones that raise those alerts (migration 6).
-- +goose StatementBegin
CREATE FUNCTION alert_outbox_recovered() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_outbox (kind, company_uuid, previous_status, reason)
    VALUES ('company.recovered', NEW.company_uuid, OLD.status, NEW.status_reason);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER gusto_auth_tokens_alert_recovered
    AFTER UPDATE OF status ON gusto_auth_tokens
    FOR EACH ROW
    WHEN (NEW.status = 'active' AND OLD.status IN ('needs_reauth', 'missing_scope', 'key_missing'))
    EXECUTE FUNCTION alert_outbox_recovered();

-- +goose Down
DROP TRIGGER gusto_auth_tokens_alert_recovered ON gusto_auth_tokens;
DROP FUNCTION alert_outbox_recovered();
DROP INDEX gusto_auth_tokens_status_uuid;
DROP TRIGGER gusto_auth_tokens_status_history ON gusto_auth_tokens;
DROP TRIGGER gusto_auth_tokens_status_created ON gusto_auth_tokens;
DROP FUNCTION company_status_events_record();
DROP TABLE company_status_events;
