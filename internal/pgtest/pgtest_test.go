package pgtest_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// The tables operators query (migrate.Tables).
var specTables = []string{
	"gusto_auth_tokens", "token_refresh_events", "sync_runs", "sync_checkpoints",
	"gusto_companies", "gusto_employees", "gusto_payrolls",
}

func TestNewHasSchema(t *testing.T) {
	db := pgtest.New(t)
	for _, table := range specTables {
		var exists bool
		if err := db.Gorm.Raw("SELECT to_regclass(?) IS NOT NULL", "public."+table).Row().Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			t.Errorf("table %s missing", table)
		}
	}
	var version int64
	if err := db.Gorm.Raw("SELECT max(version_id) FROM goose_db_version").Row().Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != migrate.Latest() {
		t.Errorf("goose version = %d, want %d", version, migrate.Latest())
	}
	var n int64
	if err := db.Gorm.Raw("SELECT count(*) FROM gusto_auth_tokens").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("gusto_auth_tokens has %d rows in a fresh database", n)
	}
}

func TestNewIsolated(t *testing.T) {
	a, b := pgtest.New(t), pgtest.New(t)
	if a.Name == b.Name || a.URL == b.URL {
		t.Fatalf("two New calls share a database: %s", a.Name)
	}
	if err := a.Gorm.Exec(`INSERT INTO sync_runs (id, company_uuid) VALUES (gen_random_uuid(), gen_random_uuid())`).Error; err != nil {
		t.Fatal(err)
	}
	if err := a.Gorm.Exec(`CREATE TABLE only_in_a (x int)`).Error; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.Gorm.Raw(`SELECT count(*) FROM sync_runs`).Row().Scan(&n); err != nil || n != 1 {
		t.Fatalf("a: count = %d, %v; want 1", n, err)
	}
	if err := b.Gorm.Raw(`SELECT count(*) FROM sync_runs`).Row().Scan(&n); err != nil || n != 0 {
		t.Fatalf("b sees a's row: count = %d, %v; want 0", n, err)
	}
	var exists bool
	if err := b.Gorm.Raw(`SELECT to_regclass('public.only_in_a') IS NOT NULL`).Row().Scan(&exists); err != nil || exists {
		t.Fatalf("b sees a's table: %v, %v", exists, err)
	}
}

func TestDroppedAtCleanup(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		name = pgtest.New(t).Name
	})
	// The inner test's cleanup has run; its database must be gone.
	probe := pgtest.NewEmpty(t)
	var n int
	if err := probe.Gorm.Raw(`SELECT count(*) FROM pg_database WHERE datname = ?`, name).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after cleanup", name)
	}
}

func TestNewEmptyHasNoSchema(t *testing.T) {
	db := pgtest.NewEmpty(t)
	var n int
	if err := db.Gorm.Raw(`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("empty database has %d tables", n)
	}
}

func TestNewParallel(t *testing.T) {
	var (
		mu    sync.Mutex
		names []string
	)
	t.Run("group", func(t *testing.T) {
		for i := range 4 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				db := pgtest.New(t)
				mu.Lock()
				names = append(names, db.Name)
				mu.Unlock()
			})
		}
	})
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			t.Fatalf("parallel New calls shared %s (names %v)", name, names)
		}
		seen[name] = true
	}
	if len(seen) != 4 {
		t.Fatalf("got %d databases, want 4", len(seen))
	}
}

func TestReapLeftovers(t *testing.T) {
	probe := pgtest.NewEmpty(t)
	exists := func(name string) bool {
		var n int
		if err := probe.Gorm.Raw(`SELECT count(*) FROM pg_database WHERE datname = ?`, name).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	stale := fmt.Sprintf("gustosync_test_%d_deadbeef0000", time.Now().Add(-2*time.Hour).Unix())
	staleTmpl := "gustosync_tmpl_00000000000000aa"
	for _, stmt := range []string{
		`CREATE DATABASE ` + stale,
		`CREATE DATABASE ` + staleTmpl,
		fmt.Sprintf(`COMMENT ON DATABASE %s IS 'pgtest template built %d'`, staleTmpl, time.Now().Add(-2*time.Hour).Unix()),
		`ALTER DATABASE ` + staleTmpl + ` WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`,
	} {
		if err := probe.Gorm.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	live := pgtest.New(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pgtest.ReapForTest(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(stale) || exists(staleTmpl) {
		t.Errorf("stale databases survived the reaper: test %v, template %v", exists(stale), exists(staleTmpl))
	}
	if !exists(live.Name) || !exists(probe.Name) {
		t.Errorf("the reaper dropped a live test database")
	}
	// The current template is younger than an hour: kept.
	pgtest.New(t)
}

func TestUnreachableMessage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := pgtest.OpenAdminForTest(ctx, "postgres://postgres:hunter2@127.0.0.1:1/postgres?sslmode=disable")
	if err == nil {
		t.Fatal("connected to port 1")
	}
	msg := err.Error()
	for _, want := range []string{"not reachable", "127.0.0.1:1", "scripts/services.sh"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("message %q holds the password", msg)
	}
}

// BenchmarkNew reports what one test database costs: create from the
// template, open, close, drop.
func BenchmarkNew(b *testing.B) {
	pgtest.New(b) // the template, built once
	for b.Loop() {
		db := pgtest.New(b)
		pgtest.DropForTest(b, db)
	}
}

// TestCreateFixedName: the core the proof tools use. A fixed name is
// dropped (its sessions ended) and created again empty or with the schema;
// Drop removes it and is idempotent; a name that is not a plain identifier
// is refused before anything reaches the server.
func TestCreateFixedName(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	probe := pgtest.NewEmpty(t)
	admin, err := sql.Open("pgx", probe.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := admin.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	name := "pgtest_fixed_" + strings.ReplaceAll(probe.Name[len("gustosync_test_"):], "_", "")
	t.Cleanup(func() { _, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`) })

	d, err := pgtest.Create(ctx, pgtest.Spec{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != name || !strings.Contains(d.URL, "/"+name) {
		t.Fatalf("Create = %+v, want database %s", d, name)
	}
	// A leftover table and an open session: the next Create must not keep
	// the one nor be stopped by the other.
	other, err := sql.Open("pgx", d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`CREATE TABLE leftover (x int)`); err != nil {
		t.Fatal(err)
	}
	d, err = pgtest.Create(ctx, pgtest.Spec{Name: name, Schema: true})
	if err != nil {
		t.Fatalf("Create over a database with a session: %v", err)
	}
	fresh, err := sql.Open("pgx", d.URL)
	if err != nil {
		t.Fatal(err)
	}
	var leftover, tokens bool
	err = fresh.QueryRow(`SELECT to_regclass('leftover') IS NOT NULL, to_regclass('gusto_auth_tokens') IS NOT NULL`).Scan(&leftover, &tokens)
	fresh.Close()
	if err != nil || leftover || !tokens {
		t.Fatalf("recreated with the schema: leftover table %v, gusto_auth_tokens %v (%v); want false, true", leftover, tokens, err)
	}

	if err := d.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM pg_database WHERE datname = $1`, name); n != 0 {
		t.Fatalf("%s exists after Drop", name)
	}
	if err := d.Drop(ctx); err != nil {
		t.Fatalf("second Drop: %v", err)
	}
	for _, bad := range []string{"Demo", "x; DROP", `a"b`, strings.Repeat("a", 64)} {
		if _, err := pgtest.Create(ctx, pgtest.Spec{Name: bad}); err == nil || !strings.Contains(err.Error(), "identifier") {
			t.Errorf("name %q: err %v, want a refusal naming the rule", bad, err)
		}
	}
}
