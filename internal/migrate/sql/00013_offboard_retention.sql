-- +goose Up
-- Offboarding (`gustosync companies remove`, package offboard): one audit
-- row per removal, kept when the company's tokens, schedule and (with
-- --purge-data) synced rows are gone. Who, when, what; never a token.
CREATE TABLE company_removals (
    id             bigserial   PRIMARY KEY,
    company_uuid   uuid        NOT NULL,
    -- Who removed it (e.g. "cli:companies-remove user@host").
    removed_by     text        NOT NULL,
    removed_at     timestamptz NOT NULL DEFAULT now(),
    -- The token row's status and reason at removal ('' when none was left).
    prior_status   text        NOT NULL DEFAULT '',
    prior_reason   text        NOT NULL DEFAULT '',
    tokens_deleted boolean     NOT NULL,
    -- What became of the grant at Gusto: 'unavailable' (Gusto documents no
    -- revocation endpoint), 'revoked' or 'failed: <reason>'.
    revocation     text        NOT NULL DEFAULT '',
    purge_data     boolean     NOT NULL DEFAULT false,
    -- Rows deleted by --purge-data, set when the purge completes.
    rows_purged    bigint,
    purged_at      timestamptz
);
CREATE INDEX company_removals_company ON company_removals (company_uuid, removed_at);

-- A removed company's fence is kept as a tombstone (package checkpoint,
-- Store.Retire): removed_at set and the epoch moved, so an attempt running
-- at the removal commits nothing more, and a task still queued for the
-- company ends at its claim instead of syncing with a token a worker still
-- holds in memory. A company onboarded again clears it at its next claim.
ALTER TABLE sync_fences ADD COLUMN removed_at timestamptz;

-- Retention (package retention, RETENTION_DAYS): each prune walks its
-- table's old rows through one of these, in bounded batches.
CREATE INDEX sync_runs_finished ON sync_runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX token_refresh_events_finished ON token_refresh_events (finished_at);
CREATE INDEX gusto_events_handled ON gusto_events (handled_at) WHERE handled_at IS NOT NULL;
CREATE INDEX alert_outbox_done ON alert_outbox (occurred_at) WHERE status <> 'pending';

-- +goose Down
DROP INDEX alert_outbox_done;
DROP INDEX gusto_events_handled;
DROP INDEX token_refresh_events_finished;
DROP INDEX sync_runs_finished;
ALTER TABLE sync_fences DROP COLUMN removed_at;
DROP TABLE company_removals;
