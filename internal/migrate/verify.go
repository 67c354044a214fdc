package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/pressly/goose/v3"
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
// migration applied exactly once (no duplicate rows in goose's table) and
// every table of Tables present. A schema newer than the binary (migrations
// of a later release applied: a rollback of the binaries, migrations kept,
// docs/upgrading.md) is the binary's schema and more, so it passes; Version
// tells the caller it is ahead. It changes nothing. The error lists
// everything that is wrong.
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
	var rows []struct {
		VersionID int64
		IsApplied bool
	}
	if err := db.Raw(`SELECT version_id, is_applied FROM goose_db_version WHERE version_id > 0`).Scan(&rows).Error; err != nil {
		return fmt.Errorf("migrate: verify: read goose_db_version: %w", err)
	}
	seen := make(map[int64]bool, len(rows))
	applied := make(map[int64]bool, len(rows))
	for _, r := range rows {
		seen[r.VersionID] = true
		applied[r.VersionID] = applied[r.VersionID] || r.IsApplied
	}
	if len(rows) != len(seen) {
		problems = append(problems, fmt.Sprintf("goose_db_version has %d rows for %d versions (%d migrations embedded)", len(rows), len(seen), len(names)))
	}
	var missing []string
	for _, name := range names {
		v, err := goose.NumericComponent(name)
		if err != nil {
			return fmt.Errorf("migrate: verify: embedded file %s: %w", name, err)
		}
		if !applied[v] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("migrations not applied: %s (schema version %d, this binary's %d)", strings.Join(missing, ", "), highestApplied(applied), Latest()))
	}
	if len(problems) > 0 {
		return fmt.Errorf("migrate: schema is not what this binary expects: %s", strings.Join(problems, "; "))
	}
	return nil
}

// highestApplied is the highest version marked applied, 0 when none is.
func highestApplied(applied map[int64]bool) int64 {
	var v int64
	for k, ok := range applied {
		if ok {
			v = max(v, k)
		}
	}
	return v
}
