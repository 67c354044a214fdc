-- +goose Up
-- Event-driven employee reads (package checkpoint, reads.go; package
-- gustoevents, watch.go; invariant "employees skipped only on Gusto's word").
--
-- sync_checkpoints.started_at: when the resource's current walk began from
-- its first page (PostgreSQL's clock, set before the first page is
-- requested: Attempt.BeginWalk); NULL when the walk did not start from its
-- first page in a way that counts (started before this migration, or a page
-- disagreed with Gusto's pagination headers: Attempt.VoidWalk). It travels
-- with the checkpoint when a run continues another's progress.
ALTER TABLE sync_checkpoints ADD COLUMN started_at timestamptz;

-- The last complete employees walk of each company, written by the commit
-- that ends it (in that commit's fenced transaction): started_at is the
-- walk's start, so a change made while the walk ran is newer than the read.
-- An incremental run skips the employees walk only when Gusto's events say
-- nothing about the company's employees since started_at, the events feed
-- is healthy, and started_at is younger than SYNC_EMPLOYEES_MAX_AGE.
CREATE TABLE company_employee_reads (
    company_uuid uuid        PRIMARY KEY,
    run_id       uuid        NOT NULL,
    started_at   timestamptz NOT NULL,
    completed_at timestamptz NOT NULL
);

-- The events feed's last complete poll (package gustoevents): the start
-- (PostgreSQL's clock) of the last poll that read the feed to its end, so
-- every event Gusto had listed before it is in gusto_events. A row exists
-- from the first complete poll, cursor or not.
ALTER TABLE gusto_events_cursor ADD COLUMN polled_at timestamptz;

-- +goose Down
ALTER TABLE gusto_events_cursor DROP COLUMN polled_at;
DROP TABLE company_employee_reads;
ALTER TABLE sync_checkpoints DROP COLUMN started_at;
