package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strings"
)

// Tables are the tables operators query (SPEC section 4): part of the
// interface, so Verify checks that each exists.
var Tables = []string{
	"gusto_auth_tokens", "token_refresh_events", "sync_runs", "sync_checkpoints",
	"gusto_companies", "gusto_employees", "gusto_payrolls",
}

// Verify checks that db holds the schema this binary embeds: every embedded
// migration applied exactly once (no duplicate rows in goose's table), the
// latest version current, and every table of Tables present. It changes
// nothing. The error lists everything that is wrong.
func Verify(ctx context.Context, db *sql.DB) error {
	var problems []string
	for _, table := range Tables {
		var ok bool
		if err := db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&ok); err != nil {
			return fmt.Errorf("migrate: verify: look up table %s: %w", table, err)
		}
		if !ok {
			problems = append(problems, "table "+table+" missing")
		}
	}
	names, err := fs.Glob(FS(), "*.sql")
	if err != nil {
		return fmt.Errorf("migrate: verify: %w", err)
	}
	var version sql.NullInt64
	var rows, distinct int
	err = db.QueryRowContext(ctx, `SELECT max(version_id), count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).
		Scan(&version, &rows, &distinct)
	if err != nil {
		return fmt.Errorf("migrate: verify: read goose_db_version: %w", err)
	}
	if version.Int64 != Latest() {
		problems = append(problems, fmt.Sprintf("schema version %d, want %d", version.Int64, Latest()))
	}
	if rows != distinct || rows != len(names) {
		problems = append(problems, fmt.Sprintf("goose_db_version has %d rows for %d versions (%d migrations embedded)", rows, distinct, len(names)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("migrate: schema is not what this binary expects: %s", strings.Join(problems, "; "))
	}
	return nil
}
