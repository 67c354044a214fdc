package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"gorm.io/gorm"
)

// Tables are the tables operators query: part of the interface (their
// names are stable), so Verify checks that each exists.
var Tables = []string{
	"gusto_auth_tokens", "token_refresh_events", "sync_runs", "sync_checkpoints",
	"gusto_companies", "gusto_employees", "gusto_payrolls", "company_full_syncs",
	"company_status_events",
}

// Verify checks that db holds the schema this binary embeds: every embedded
// migration applied exactly once (no duplicate rows in goose's table), the
// latest version current, and every table of Tables present. It changes
// nothing. The error lists everything that is wrong.
func Verify(ctx context.Context, db *gorm.DB) error {
	db = db.WithContext(ctx)
	var problems []string
	for _, table := range Tables {
		var ok bool
		if err := db.Raw(`SELECT to_regclass(?) IS NOT NULL`, "public."+table).Scan(&ok).Error; err != nil {
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
	var goose struct {
		Version          int64 // 0 when the table is empty
		NRows, NVersions int
	}
	err = db.Raw(`SELECT COALESCE(max(version_id), 0) AS version, count(*) AS n_rows, count(DISTINCT version_id) AS n_versions
		FROM goose_db_version WHERE version_id > 0`).Scan(&goose).Error
	if err != nil {
		return fmt.Errorf("migrate: verify: read goose_db_version: %w", err)
	}
	if goose.Version != Latest() {
		problems = append(problems, fmt.Sprintf("schema version %d, want %d", goose.Version, Latest()))
	}
	if goose.NRows != goose.NVersions || goose.NRows != len(names) {
		problems = append(problems, fmt.Sprintf("goose_db_version has %d rows for %d versions (%d migrations embedded)", goose.NRows, goose.NVersions, len(names)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("migrate: schema is not what this binary expects: %s", strings.Join(problems, "; "))
	}
	return nil
}
