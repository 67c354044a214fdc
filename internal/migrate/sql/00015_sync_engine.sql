-- +goose Up
-- One descriptor, one walk (package jobs, resources.go; package checkpoint,
-- table.go). What every resource's walk needs persisted beside its rows.

-- The state of the page walk under way (opaque to the database: package
-- jobs keeps Gusto's pagination headers of the walk's first page and the
-- records counted so far), written with every checkpoint so that a retry, a
-- page-budget wait, a resumed attempt or a carried run goes on checking the
-- same walk instead of starting a new check; '' when no walk is under way.
ALTER TABLE sync_checkpoints ADD COLUMN walk text NOT NULL DEFAULT '';

-- The date windows a full walk of a windowed resource (payrolls) has walked
-- to their end, one row per window: CompleteFull marks deleted only rows
-- lying wholly inside one of them (a payroll the walk could not have seen is
-- never marked). Carried with the company's progress like sync_full_seen.
CREATE TABLE sync_full_windows (
    id           bigserial PRIMARY KEY,
    company_uuid uuid      NOT NULL,
    resource     text      NOT NULL,
    run_id       uuid      NOT NULL,
    kind         text      NOT NULL,
    start_date   date      NOT NULL,
    end_date     date      NOT NULL
);
CREATE INDEX sync_full_windows_company ON sync_full_windows (company_uuid, resource);

-- A substream (a resource walked once per record of its parent, e.g. a
-- payroll's pay statements) records each parent whose children it read to
-- the last page, with the parent's version then: a parent that is final
-- (a processed payroll) and unchanged is not read again by an incremental
-- run.
CREATE TABLE sync_parent_reads (
    company_uuid uuid        NOT NULL,
    resource     text        NOT NULL,
    parent_uuid  uuid        NOT NULL,
    version      text        NOT NULL,
    read_at      timestamptz NOT NULL,
    PRIMARY KEY (company_uuid, resource, parent_uuid)
);

-- +goose Down
DROP TABLE sync_parent_reads;
DROP TABLE sync_full_windows;
ALTER TABLE sync_checkpoints DROP COLUMN walk;
