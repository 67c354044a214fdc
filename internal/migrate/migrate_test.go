package migrate_test

import (
	"context"
	"database/sql"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/pgtest"
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
	applied, err := migrate.Up(ctx, db.SQL)
	if err != nil {
		t.Fatal(err)
	}
	if want := embeddedNames(t); !slices.Equal(applied, want) {
		t.Fatalf("first Up applied %v, want %v", applied, want)
	}
	again, err := migrate.Up(ctx, db.SQL)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("second Up applied %v, want nothing", again)
	}
	checkSchema(t, db.SQL)
}

func TestUpConcurrent(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := testCtx(t)
	// Two pools, as two processes would have.
	other, err := sql.Open("pgx", db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var (
		wg      sync.WaitGroup
		results [2][]string
		errs    [2]error
	)
	for i, pool := range []*sql.DB{db.SQL, other} {
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
	checkSchema(t, db.SQL)
}

func TestStatus(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := testCtx(t)
	st, err := migrate.Status(ctx, db.SQL)
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
	if _, err := migrate.Up(ctx, db.SQL); err != nil {
		t.Fatal(err)
	}
	st, err = migrate.Status(ctx, db.SQL)
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

// checkSchema asserts the tables of SPEC section 4, goose's version and no
// duplicate rows in goose's table.
func checkSchema(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, table := range []string{
		"gusto_auth_tokens", "token_refresh_events", "sync_runs", "sync_checkpoints",
		"gusto_companies", "gusto_employees", "gusto_payrolls",
	} {
		var ok bool
		if err := db.QueryRow(`SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
	var version int64
	var rows, distinct int
	if err := db.QueryRow(`SELECT max(version_id), count(*), count(DISTINCT version_id) FROM goose_db_version`).Scan(&version, &rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if version != migrate.Latest() {
		t.Errorf("goose version %d, want %d", version, migrate.Latest())
	}
	if rows != distinct {
		t.Errorf("goose_db_version has %d rows for %d versions", rows, distinct)
	}
}
