-- +goose Up
-- One row per sync run (one asynq task). epoch is claimed by each attempt of
-- the run; checkpoint writes carry it, and a stale attempt's write changes
-- nothing.
CREATE TABLE sync_runs (
    id             uuid        PRIMARY KEY,
    company_uuid   uuid        NOT NULL,
    epoch          bigint      NOT NULL DEFAULT 0,
    status         text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'stopped')),
    attempt_owner  text        NOT NULL DEFAULT '',
    records_synced bigint      NOT NULL DEFAULT 0,
    error          text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    heartbeat_at   timestamptz,
    finished_at    timestamptz
);
CREATE INDEX sync_runs_company ON sync_runs (company_uuid, created_at DESC);

-- Where a company's sync of one resource stands.
CREATE TABLE sync_checkpoints (
    company_uuid uuid        NOT NULL,
    resource     text        NOT NULL,
    run_id       uuid        NOT NULL,
    epoch        bigint      NOT NULL,
    -- Opaque position to resume from (for paged resources, the next page).
    cursor       text        NOT NULL DEFAULT '',
    records      bigint      NOT NULL DEFAULT 0,
    done         boolean     NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_uuid, resource)
);

-- Synced data: Gusto uuid as key, key columns plus the JSON payload.
CREATE TABLE gusto_companies (
    uuid           uuid        PRIMARY KEY,
    name           text        NOT NULL DEFAULT '',
    trade_name     text        NOT NULL DEFAULT '',
    company_status text        NOT NULL DEFAULT '',
    payload        jsonb       NOT NULL,
    synced_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gusto_employees (
    uuid         uuid        PRIMARY KEY,
    company_uuid uuid        NOT NULL,
    first_name   text        NOT NULL DEFAULT '',
    last_name    text        NOT NULL DEFAULT '',
    email        text        NOT NULL DEFAULT '',
    terminated   boolean     NOT NULL DEFAULT false,
    version      text        NOT NULL DEFAULT '',
    payload      jsonb       NOT NULL,
    synced_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gusto_employees_company ON gusto_employees (company_uuid);

CREATE TABLE gusto_payrolls (
    uuid             uuid        PRIMARY KEY,
    company_uuid     uuid        NOT NULL,
    check_date       date,
    processed        boolean     NOT NULL DEFAULT false,
    off_cycle        boolean     NOT NULL DEFAULT false,
    pay_period_start date,
    pay_period_end   date,
    payload          jsonb       NOT NULL,
    synced_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gusto_payrolls_company ON gusto_payrolls (company_uuid, check_date);

-- +goose Down
DROP TABLE gusto_payrolls;
DROP TABLE gusto_employees;
DROP TABLE gusto_companies;
DROP TABLE sync_checkpoints;
DROP TABLE sync_runs;
