-- +goose Up
-- The sync fence: one row per company naming the run and the epoch that may
-- write that company's synced rows and checkpoints. A claim (package
-- checkpoint, Store.Claim) bumps epoch under this row's lock; every batch
-- commit updates this row WHERE epoch and run_id still match, in the same
-- transaction as its rows, so a stale attempt (a lease-expiry zombie of the
-- same run, or any attempt of an older run of the company) changes nothing.
-- heartbeat_at, on the database's clock, keeps other runs of the company out
-- while the holder is alive.
CREATE TABLE sync_fences (
    company_uuid uuid        PRIMARY KEY,
    epoch        bigint      NOT NULL CHECK (epoch >= 0),
    run_id       uuid        NOT NULL,
    owner        text        NOT NULL DEFAULT '',
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz
);

-- attempts counts the claims of a run (asynq retries, crash recoveries,
-- zombies); rows_changed counts the upserts that changed a row (zero for a
-- run of an unchanged company), beside records_synced (records fetched and
-- committed).
ALTER TABLE sync_runs
    ADD COLUMN attempts     integer NOT NULL DEFAULT 0,
    ADD COLUMN rows_changed bigint  NOT NULL DEFAULT 0;

-- Only checkpoints of the fence's current run survive a claim; the index
-- serves the claim's lookup of a run's positions.
CREATE INDEX sync_checkpoints_run ON sync_checkpoints (run_id);

-- +goose Down
DROP INDEX sync_checkpoints_run;
ALTER TABLE sync_runs
    DROP COLUMN rows_changed,
    DROP COLUMN attempts;
DROP TABLE sync_fences;
