-- +goose Up
-- Incremental syncs and deletion reconciliation (package checkpoint, full.go).
--
-- A run is either a full walk (every employee, the whole payroll history) or
-- an incremental one (every employee, the recent payroll windows). The kind
-- is set at the run's first attempt and kept by every later attempt; NULL
-- only for runs created before this migration.
ALTER TABLE sync_runs
    ADD COLUMN kind text CHECK (kind IN ('full', 'incremental'));

-- deleted_at: set by the completion of a full walk on the rows Gusto no
-- longer returned (Attempt.CompleteFull), cleared when the record comes back.
-- Readers that mean "what Gusto has now" read WHERE deleted_at IS NULL.
ALTER TABLE gusto_companies ADD COLUMN deleted_at timestamptz;
ALTER TABLE gusto_employees ADD COLUMN deleted_at timestamptz;
ALTER TABLE gusto_payrolls  ADD COLUMN deleted_at timestamptz;
-- The undelete that runs with every batch looks its uuids up here: the index
-- holds only deleted rows, so it is tiny and the lookup finds nothing fast.
CREATE INDEX gusto_employees_deleted ON gusto_employees (uuid) WHERE deleted_at IS NOT NULL;
CREATE INDEX gusto_payrolls_deleted  ON gusto_payrolls  (uuid) WHERE deleted_at IS NOT NULL;

-- The uuids a full walk has committed so far, one row per committed batch
-- (an array, not a row per record: a full walk's cost stays one insert per
-- batch). The batch that begins a resource's walk from its first page
-- clears the company's earlier rows for that resource and is marked first;
-- a completed walk reconciles against exactly these uuids, then deletes
-- them.
CREATE TABLE sync_full_seen (
    id           bigserial PRIMARY KEY,
    company_uuid uuid      NOT NULL,
    resource     text      NOT NULL,
    run_id       uuid      NOT NULL,
    first        boolean   NOT NULL,
    uuids        uuid[]    NOT NULL
);
CREATE INDEX sync_full_seen_company ON sync_full_seen (company_uuid, resource);

-- The last complete full walk of each company: the scheduler reads it to
-- choose a run's kind (a company without a row gets a full walk).
CREATE TABLE company_full_syncs (
    company_uuid uuid        PRIMARY KEY,
    run_id       uuid        NOT NULL,
    completed_at timestamptz NOT NULL,
    employees_deleted bigint NOT NULL DEFAULT 0,
    payrolls_deleted  bigint NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE company_full_syncs;
DROP TABLE sync_full_seen;
DROP INDEX gusto_payrolls_deleted;
DROP INDEX gusto_employees_deleted;
ALTER TABLE gusto_payrolls  DROP COLUMN deleted_at;
ALTER TABLE gusto_employees DROP COLUMN deleted_at;
ALTER TABLE gusto_companies DROP COLUMN deleted_at;
ALTER TABLE sync_runs DROP COLUMN kind;
