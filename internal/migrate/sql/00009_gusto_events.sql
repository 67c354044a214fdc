-- +goose Up
-- Gusto's events, from webhooks and from GET /v1/events (package
-- gustoevents). One row per event uuid, whichever path saw it first: the
-- row is the claim that makes an event acted on once (invariant 22).
-- handled_at is NULL while the claimant acts; a claim older than a minute
-- with no handled_at is taken over (the claimant died).
CREATE TABLE gusto_events (
    uuid         uuid        PRIMARY KEY,
    event_type   text        NOT NULL,
    company_uuid uuid,
    source       text        NOT NULL CHECK (source IN ('webhook', 'feed')),
    occurred_at  timestamptz,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    handled_at   timestamptz,
    outcome      text
);
CREATE INDEX gusto_events_company ON gusto_events (company_uuid, claimed_at);

-- The events feed's cursor: the uuid of the last event the feed handled
-- (starting_after_uuid of its next poll). One row.
CREATE TABLE gusto_events_cursor (
    id            boolean     PRIMARY KEY DEFAULT true CHECK (id),
    starting_after text       NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The debounce of event-driven syncs: at most one per company per period.
CREATE TABLE gusto_event_syncs (
    company_uuid    uuid        PRIMARY KEY,
    last_enqueued_at timestamptz NOT NULL
);

-- Webhook signing keys: the verification tokens Gusto POSTed to the intake.
-- A token signs deliveries (X-Gusto-Signature) only once verified_at is set,
-- that is after `gustosync webhooks verify` had Gusto confirm it (PUT
-- /v1/webhook_subscriptions/{uuid}/verify answered 200): anyone can POST a
-- token to the public intake, only Gusto's own is ever confirmed.
CREATE TABLE gusto_webhook_keys (
    verification_token text        PRIMARY KEY,
    received_at        timestamptz NOT NULL DEFAULT now(),
    verified_at        timestamptz,
    subscription_uuid  uuid
);

-- +goose Down
DROP TABLE gusto_webhook_keys;
DROP TABLE gusto_event_syncs;
DROP TABLE gusto_events_cursor;
DROP TABLE gusto_events;
