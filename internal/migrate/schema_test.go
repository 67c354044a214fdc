package migrate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// The gate on a database an older release left: behind, naming both
// versions; current once the rest of the migrations ran.
func TestGateBehindThenCurrent(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := testCtx(t)
	gate := migrate.NewGate(db.Gorm)

	var behind *migrate.BehindError
	if err := gate.Check(ctx); !errors.As(err, &behind) || behind.Have != 0 || behind.Want != migrate.Latest() {
		t.Fatalf("empty database: %v; want BehindError{0, %d}", err, migrate.Latest())
	}
	older := migrate.Latest() - 1
	if _, err := migrate.UpTo(ctx, db.Gorm, older); err != nil {
		t.Fatal(err)
	}
	if v, err := migrate.Version(ctx, db.Gorm); err != nil || v != older {
		t.Fatalf("Version after UpTo(%d) = %d, %v", older, v, err)
	}
	err := gate.Check(ctx)
	if !errors.As(err, &behind) || behind.Have != older || behind.Want != migrate.Latest() {
		t.Fatalf("older schema: %v; want BehindError{%d, %d}", err, older, migrate.Latest())
	}
	for _, want := range []string{"older", "gustosync migrate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if _, err := migrate.Up(ctx, db.Gorm); err != nil {
		t.Fatal(err)
	}
	if err := gate.Check(ctx); err != nil {
		t.Fatalf("after migrating: %v", err)
	}
}

// A schema newer than the binary (binaries rolled back, migrations kept)
// is current.
func TestSchemaAheadIsCurrent(t *testing.T) {
	db := pgtest.New(t)
	ctx := testCtx(t)
	if err := db.Gorm.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, true)`, migrate.Latest()+1).Error; err != nil {
		t.Fatal(err)
	}
	if err := migrate.Current(ctx, db.Gorm); err != nil {
		t.Fatalf("schema ahead of the binary: %v", err)
	}
	// Verify (what `gustosync migrate` ends with) agrees: a rolled-back
	// release's init containers must not crash-loop on it (invariant 40).
	if err := migrate.Verify(ctx, db.Gorm); err != nil {
		t.Fatalf("Verify on a schema ahead of the binary: %v", err)
	}
}
