package main_test

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// The rollback path of docs/upgrading.md: release N+1 migrated the
// database (one migration more than this binary embeds), then its
// binaries were rolled back (`kubectl rollout undo`) and the migrations
// kept. This binary's `gustosync migrate`, which the init containers run,
// must find the schema current and exit 0, saying so; `migrate status`
// and the other commands work on it.
func TestMigrateOnANewerSchemaAfterARollback(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := context.Background()
	next := migrate.Latest() + 1
	nextRelease := fstest.MapFS{fmt.Sprintf("%05d_next_release.sql", next): {Data: []byte(
		"-- +goose Up\nCREATE TABLE next_release_table (id bigint PRIMARY KEY);\n-- +goose Down\nDROP TABLE next_release_table;\n")}}
	names, err := fs.Glob(migrate.FS(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		body, err := fs.ReadFile(migrate.FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		nextRelease[name] = &fstest.MapFile{Data: body}
	}
	sqlDB, err := db.Gorm.DB()
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, nextRelease, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("the next release's migrations: %v", err)
	}
	if v, err := migrate.Version(ctx, db.Gorm); err != nil || v != next {
		t.Fatalf("schema version %d (%v), want %d", v, err, next)
	}

	up := gustosync(t, []string{"migrate"}, "DATABASE_URL="+db.URL)
	want := fmt.Sprintf("version %d is newer than this binary's %d", next, migrate.Latest())
	if up.code != 0 || !strings.Contains(up.stdout, "schema up to date") || !strings.Contains(up.stdout, want) {
		t.Fatalf("migrate on a newer schema: exit %d, stdout %q, stderr %q; want exit 0 and %q", up.code, up.stdout, up.stderr, want)
	}
	if got := appliedLines(up.stdout); len(got) != 0 {
		t.Fatalf("migrate applied %v on a newer schema", got)
	}
	status := gustosync(t, []string{"migrate", "status"}, "DATABASE_URL="+db.URL)
	if status.code != 0 || strings.Contains(status.stdout, "pending") || !strings.Contains(status.stdout, want) {
		t.Fatalf("migrate status on a newer schema: exit %d, stdout %q, stderr %q", status.code, status.stdout, status.stderr)
	}
	if list := gustosync(t, []string{"companies", "list"}, "DATABASE_URL="+db.URL); list.code != 0 {
		t.Fatalf("companies list on a newer schema: exit %d, stderr %q", list.code, list.stderr)
	}
}

// A newer schema that lacks a migration this binary embeds is not
// current: migrate says which one (goose refuses to apply it out of order).
func TestMigrateRefusesANewerSchemaMissingAMigration(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if err := db.Gorm.WithContext(ctx).Exec(`DELETE FROM goose_db_version WHERE version_id = ?`, migrate.Latest()-1).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.WithContext(ctx).Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, true)`, migrate.Latest()+1).Error; err != nil {
		t.Fatal(err)
	}
	if err := migrate.Verify(ctx, db.Gorm); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%05d_", migrate.Latest()-1)) {
		t.Fatalf("Verify on a newer schema missing migration %d: %v", migrate.Latest()-1, err)
	}
	up := gustosync(t, []string{"migrate"}, "DATABASE_URL="+db.URL)
	if up.code != 1 || !strings.Contains(up.stderr, fmt.Sprint(migrate.Latest()-1)) {
		t.Fatalf("migrate: exit %d, stdout %q, stderr %q; want exit 1 naming migration %d", up.code, up.stdout, up.stderr, migrate.Latest()-1)
	}
}
