package pgtest

import (
	"context"
	"testing"

	"github.com/gustosync/gustosync/internal/postgres"
)

// OpenAdminForTest runs openAdmin against dsn and closes what it opened.
func OpenAdminForTest(ctx context.Context, dsn string) error {
	db, _, err := openAdmin(ctx, dsn)
	if db != nil {
		_ = db.Close()
	}
	return err
}

// ReapForTest runs the reaper again, under the template lock, as the first
// template check of a process does.
func ReapForTest(ctx context.Context) error {
	a, err := adminDB(ctx)
	if err != nil {
		return err
	}
	conn, err := a.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockKey)
	adminMu.Lock()
	a.reaped = false
	adminMu.Unlock()
	return a.reap(ctx, conn, "")
}

// DropForTest closes db and drops it now rather than at cleanup.
func DropForTest(t testing.TB, db *DB) {
	_ = postgres.Close(db.Gorm)
	a, err := adminDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	drop(t, &Database{Name: db.Name, URL: db.URL, admin: a})
}
