package devstack

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
)

// appName marks the stack's own connections, so that TerminateBackends
// spares them.
const appName = "devstack"

// Database is a database the stack owns: dropped and created again by
// RecreateDatabase, so every run starts empty.
type Database struct {
	// Name is the database name; URL its DSN for the binaries.
	Name, URL string
	// SQL is the stack's own pool (application_name devstack).
	SQL *sql.DB
}

// RecreateDatabase drops the database name on the server of adminURL
// (terminating its sessions) and creates it empty, with pgtest.Create, the
// one way the repository creates a fresh database. name must be a plain
// lower-case identifier.
func RecreateDatabase(ctx context.Context, adminURL, name string) (*Database, error) {
	created, err := pgtest.Create(ctx, pgtest.Spec{AdminURL: adminURL, Name: name})
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	d := &Database{Name: created.Name, URL: created.URL}
	if d.SQL, err = openPool(ctx, d.URL, 8); err != nil {
		return nil, err
	}
	return d, nil
}

func openPool(ctx context.Context, dsn string, maxConns int) (*sql.DB, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("devstack: DSN %s: %w", postgres.Redact(dsn), err)
	}
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("devstack: open %s: %w", postgres.Redact(dsn), err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("devstack: PostgreSQL at %s is not reachable (start it with `make services`): %w", postgres.Redact(dsn), err)
	}
	return db, nil
}

// Close closes the stack's pool (the database is kept for inspection; the
// next run drops it).
func (d *Database) Close() error { return d.SQL.Close() }

// TerminateBackends terminates every session on the database except the
// stack's own (pg_terminate_backend) and returns how many it ended.
func (d *Database) TerminateBackends(ctx context.Context) (int, error) {
	var n int
	err := d.SQL.QueryRowContext(ctx, `
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> $1`, appName).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("devstack: terminate backends of %s: %w", d.Name, err)
	}
	return n, nil
}

// guardsSQL installs triggers that record, exactly and at the moment it
// happens, any write that moves a sync checkpoint, a fence epoch or a token
// version backwards, or a checkpoint written under an epoch that is not the
// company's current fence (a zombie write). The triggers never raise: a bug
// in them records a "guard_error" instead of failing the worker's commit.
const guardsSQL = `
CREATE TABLE IF NOT EXISTS devstack_regressions (
    id           bigserial   PRIMARY KEY,
    kind         text        NOT NULL,
    company_uuid uuid,
    detail       text        NOT NULL DEFAULT '',
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE OR REPLACE FUNCTION devstack_cursor_key(resource text, c text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN c ~ '^[0-9]{1,9}$' THEN lpad(c, 10, '0')
        WHEN c ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}/[0-9]{1,9}$' THEN split_part(c, '/', 1) || '/' || lpad(split_part(c, '/', 2), 10, '0')
    END
$$;

CREATE OR REPLACE FUNCTION devstack_checkpoint_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    fence bigint;
    what  text;
BEGIN
    BEGIN
        -- An upsert fires the INSERT trigger, then the UPDATE one on a
        -- conflict: the UPDATE trigger checks rows that exist.
        IF TG_OP = 'INSERT' AND EXISTS (SELECT 1 FROM sync_checkpoints c
                WHERE c.company_uuid = NEW.company_uuid AND c.resource = NEW.resource) THEN
            RETURN NEW;
        END IF;
        SELECT epoch INTO fence FROM sync_fences WHERE company_uuid = NEW.company_uuid;
        IF fence IS NOT NULL AND NEW.epoch <> fence THEN
            INSERT INTO devstack_regressions (kind, company_uuid, detail)
            VALUES ('stale_epoch_write', NEW.company_uuid,
                    format('%s: write under epoch %s while the fence is at %s', NEW.resource, NEW.epoch, fence));
        END IF;
        IF TG_OP = 'UPDATE' THEN
            IF NEW.epoch < OLD.epoch THEN
                what := format('epoch %s -> %s', OLD.epoch, NEW.epoch);
            ELSIF NEW.run_id = OLD.run_id AND NEW.records < OLD.records THEN
                what := format('records %s -> %s', OLD.records, NEW.records);
            ELSIF NEW.run_id = OLD.run_id AND OLD.done AND NOT NEW.done THEN
                what := 'done -> not done';
            ELSIF NEW.run_id = OLD.run_id AND NOT NEW.done AND NOT OLD.done
                  AND devstack_cursor_key(NEW.resource, NEW.cursor) < devstack_cursor_key(OLD.resource, OLD.cursor) THEN
                what := format('cursor %s -> %s', OLD.cursor, NEW.cursor);
            END IF;
            IF what IS NOT NULL THEN
                INSERT INTO devstack_regressions (kind, company_uuid, detail)
                VALUES ('checkpoint_backwards', NEW.company_uuid, NEW.resource || ': ' || what);
            END IF;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO devstack_regressions (kind, company_uuid, detail)
        VALUES ('guard_error', NEW.company_uuid, SQLERRM);
    END;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS devstack_checkpoint_guard ON sync_checkpoints;
CREATE TRIGGER devstack_checkpoint_guard BEFORE INSERT OR UPDATE ON sync_checkpoints
    FOR EACH ROW EXECUTE FUNCTION devstack_checkpoint_guard();

CREATE OR REPLACE FUNCTION devstack_monotonic_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'sync_fences' AND NEW.epoch < OLD.epoch THEN
        INSERT INTO devstack_regressions (kind, company_uuid, detail)
        VALUES ('fence_backwards', NEW.company_uuid, format('epoch %s -> %s', OLD.epoch, NEW.epoch));
    ELSIF TG_TABLE_NAME = 'gusto_auth_tokens' AND NEW.version < OLD.version THEN
        INSERT INTO devstack_regressions (kind, company_uuid, detail)
        VALUES ('token_version_backwards', NEW.company_uuid, format('version %s -> %s', OLD.version, NEW.version));
    END IF;
    RETURN NEW;
EXCEPTION WHEN OTHERS THEN
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS devstack_fence_guard ON sync_fences;
CREATE TRIGGER devstack_fence_guard BEFORE UPDATE ON sync_fences
    FOR EACH ROW EXECUTE FUNCTION devstack_monotonic_guard();
DROP TRIGGER IF EXISTS devstack_token_guard ON gusto_auth_tokens;
CREATE TRIGGER devstack_token_guard BEFORE UPDATE ON gusto_auth_tokens
    FOR EACH ROW EXECUTE FUNCTION devstack_monotonic_guard();
`

// InstallGuards installs the regression triggers (see Regressions). Run it
// after the migrations.
func (d *Database) InstallGuards(ctx context.Context) error {
	if _, err := d.SQL.ExecContext(ctx, guardsSQL); err != nil {
		return fmt.Errorf("devstack: install guards on %s: %w", d.Name, err)
	}
	return nil
}

// Regression is one backwards move the guards recorded.
type Regression struct {
	Kind    string // checkpoint_backwards, stale_epoch_write, fence_backwards, token_version_backwards, guard_error
	Company string
	Detail  string
	At      time.Time
}

// Regressions returns what the guards recorded, oldest first.
func (d *Database) Regressions(ctx context.Context) ([]Regression, error) {
	rows, err := d.SQL.QueryContext(ctx, `SELECT kind, coalesce(company_uuid::text, ''), detail, at FROM devstack_regressions ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("devstack: read regressions: %w", err)
	}
	defer rows.Close()
	var out []Regression
	for rows.Next() {
		var r Regression
		if err := rows.Scan(&r.Kind, &r.Company, &r.Detail, &r.At); err != nil {
			return nil, fmt.Errorf("devstack: read regressions: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
