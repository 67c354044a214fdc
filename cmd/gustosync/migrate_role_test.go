package main_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/pgtest"
)

// Migrations may run with a role of their own (DATABASE_MIGRATE_URL): one
// that owns the schema, while DATABASE_URL's role, the binaries', only
// reads and writes rows (docs/deploy.md). `gustosync migrate` connects as
// the migration role, so the tables are its own; the other commands, on
// DATABASE_URL, work on them through the default privileges it granted.
func TestMigrateRunsAsItsOwnRole(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := context.Background()
	suffix := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	owner, app := "gs_migrate_"+suffix, "gs_app_"+suffix
	admin := db.Gorm.WithContext(ctx)
	t.Cleanup(func() {
		// The roles own objects in the test database until it is dropped.
		_ = admin.Exec(fmt.Sprintf(`DROP OWNED BY %s, %s`, owner, app)).Error
		_ = admin.Exec(fmt.Sprintf(`DROP ROLE IF EXISTS %s`, owner)).Error
		_ = admin.Exec(fmt.Sprintf(`DROP ROLE IF EXISTS %s`, app)).Error
	})
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN`, owner),
		fmt.Sprintf(`CREATE ROLE %s LOGIN`, app),
		fmt.Sprintf(`GRANT CREATE, USAGE ON SCHEMA public TO %s`, owner),
		fmt.Sprintf(`GRANT USAGE ON SCHEMA public TO %s`, app),
		fmt.Sprintf(`REVOKE CREATE ON SCHEMA public FROM %s`, app),
		fmt.Sprintf(`ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %s`, owner, app),
		fmt.Sprintf(`ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %s`, owner, app),
	} {
		if err := admin.Exec(stmt).Error; err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	as := func(role string) string {
		u, err := url.Parse(db.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(role)
		return u.String()
	}
	env := []string{"DATABASE_URL=" + as(app), "DATABASE_MIGRATE_URL=" + as(owner)}

	up := gustosync(t, []string{"migrate"}, env...)
	if up.code != 0 {
		t.Fatalf("migrate with DATABASE_MIGRATE_URL: exit %d, stderr %q", up.code, up.stderr)
	}
	var tableOwner string
	if err := admin.Raw(`SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'sync_runs'`).Scan(&tableOwner).Error; err != nil {
		t.Fatal(err)
	}
	if tableOwner != owner {
		t.Fatalf("sync_runs is owned by %q, want the migration role %q: migrate did not connect with DATABASE_MIGRATE_URL", tableOwner, owner)
	}
	if st := gustosync(t, []string{"migrate", "status"}, env...); st.code != 0 || strings.Contains(st.stdout, "pending") {
		t.Fatalf("migrate status: exit %d, stdout %q, stderr %q", st.code, st.stdout, st.stderr)
	}
	if list := gustosync(t, []string{"companies", "list"}, env...); list.code != 0 {
		t.Fatalf("companies list as the binaries' role: exit %d, stderr %q", list.code, list.stderr)
	}
	bad := gustosync(t, []string{"migrate"}, "DATABASE_URL="+as(app), "DATABASE_MIGRATE_URL=mysql://x@h/db")
	if bad.code != 2 || !strings.Contains(bad.stderr, "DATABASE_MIGRATE_URL") {
		t.Fatalf("a bad DATABASE_MIGRATE_URL: exit %d, stderr %q; want exit 2 naming it", bad.code, bad.stderr)
	}
}
