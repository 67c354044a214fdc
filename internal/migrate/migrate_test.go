package migrate_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
)

func embeddedNames(t *testing.T) []string {
	names, err := fs.Glob(migrate.FS(), "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %v, %v", names, err)
	}
	return names
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestUpIdempotent(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := testCtx(t)
	applied, err := migrate.Up(ctx, db.Gorm)
	if err != nil {
		t.Fatal(err)
	}
	if want := embeddedNames(t); !slices.Equal(applied, want) {
		t.Fatalf("first Up applied %v, want %v", applied, want)
	}
	again, err := migrate.Up(ctx, db.Gorm)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("second Up applied %v, want nothing", again)
	}
	if err := migrate.Verify(context.Background(), db.Gorm); err != nil {
		t.Error(err)
	}
}

func TestUpConcurrent(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := testCtx(t)
	// Two pools, as two processes would have.
	other, err := postgres.Open(ctx, db.URL, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer postgres.Close(other)
	var (
		wg      sync.WaitGroup
		results [2][]string
		errs    [2]error
	)
	for i, pool := range []*gorm.DB{db.Gorm, other} {
		wg.Go(func() { results[i], errs[i] = migrate.Up(ctx, pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Up %d: %v", i, err)
		}
	}
	all := append(slices.Clone(results[0]), results[1]...)
	slices.Sort(all)
	if want := embeddedNames(t); !slices.Equal(all, want) {
		t.Fatalf("together the two Ups applied %v (%v and %v), want each of %v once", all, results[0], results[1], want)
	}
	if err := migrate.Verify(context.Background(), db.Gorm); err != nil {
		t.Error(err)
	}
}

func TestStatus(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := testCtx(t)
	st, err := migrate.Status(ctx, db.Gorm)
	if err != nil {
		t.Fatal(err)
	}
	names := embeddedNames(t)
	if len(st) != len(names) {
		t.Fatalf("Status lists %d migrations, want %d", len(st), len(names))
	}
	for _, m := range st {
		if m.Applied {
			t.Errorf("%s applied in an empty database", m.Name)
		}
	}
	if _, err := migrate.Up(ctx, db.Gorm); err != nil {
		t.Fatal(err)
	}
	st, err = migrate.Status(ctx, db.Gorm)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range st {
		if !m.Applied || m.AppliedAt.IsZero() || m.Name != names[i] {
			t.Errorf("after Up: %+v, want %s applied", m, names[i])
		}
	}
	if last := st[len(st)-1].Version; last != migrate.Latest() {
		t.Errorf("last version %d, Latest() %d", last, migrate.Latest())
	}
}

func TestFingerprintStable(t *testing.T) {
	a, b := migrate.Fingerprint(), migrate.Fingerprint()
	if a != b || len(a) != 64 {
		t.Fatalf("Fingerprint: %q then %q", a, b)
	}
}

// Verify refuses a database that is not what the binary embeds, and says why.
func TestVerifyFindsWhatIsWrong(t *testing.T) {
	ctx := testCtx(t)
	empty := pgtest.NewEmpty(t)
	if err := migrate.Verify(ctx, empty.Gorm); err == nil {
		t.Fatal("Verify passed an unmigrated database")
	}

	db := pgtest.New(t)
	if err := migrate.Verify(ctx, db.Gorm); err != nil {
		t.Fatalf("a migrated database: %v", err)
	}
	if err := db.Gorm.WithContext(ctx).Exec(`DROP TABLE gusto_payrolls`).Error; err != nil {
		t.Fatal(err)
	}
	if err := migrate.Verify(ctx, db.Gorm); err == nil || !strings.Contains(err.Error(), "gusto_payrolls missing") {
		t.Fatalf("dropped table: %v", err)
	}

	dup := pgtest.New(t)
	if err := dup.Gorm.WithContext(ctx).Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, true)`, migrate.Latest()).Error; err != nil {
		t.Fatal(err)
	}
	if err := migrate.Verify(ctx, dup.Gorm); err == nil || !strings.Contains(err.Error(), "goose_db_version has") {
		t.Fatalf("duplicate goose row: %v", err)
	}
}
