package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/postgres"
)

// DefaultAdminURL is the admin DSN used when TEST_DATABASE_URL is not set.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// MaxConns is the pool size of each test database's handles.
const MaxConns = 10

// setupTimeout bounds creating (or dropping) one test database, including
// waiting for another test binary that is building the template.
const setupTimeout = 2 * time.Minute

// templateLockKey is the advisory lock that serializes template builds
// across processes ("gustosync-pgtest" as a number).
const templateLockKey int64 = 0x67757374_6f706774

// DB is one test's private database.
type DB struct {
	// Name is the database's name.
	Name string
	// URL is its DSN, for code under test that opens its own pool (or a
	// binary under test, through DATABASE_URL).
	URL string
	// SQL is a database/sql pool on it (the pool behind Gorm).
	SQL *sql.DB
	// Gorm is a gorm handle opened with postgres.Open.
	Gorm *gorm.DB
}

// New creates a fresh database holding every migration, opens SQL and Gorm
// on it, and registers a cleanup that closes them and drops the database.
// Two calls, in the same test or not, never share data. It fails the test
// (never skips) when PostgreSQL is unreachable.
func New(t testing.TB) *DB {
	t.Helper()
	return create(t, true)
}

// NewEmpty is New without the schema: a fresh database copied from
// template0, for tests of the migrations themselves.
func NewEmpty(t testing.TB) *DB {
	t.Helper()
	return create(t, false)
}

func create(t testing.TB, withSchema bool) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	admin, err := adminDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	template := "template0"
	if withSchema {
		if template, err = ensureTemplate(ctx, admin); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	name := "gustosync_test_" + randomHex(8)
	if err := createDatabase(ctx, admin.db, name, template); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { dropDatabase(t, admin.db, name) })

	u := *admin.url
	u.Path = "/" + name
	dsn := u.String()
	g, err := postgres.Open(ctx, dsn, MaxConns)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", name, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	return &DB{Name: name, URL: dsn, SQL: sqlDB, Gorm: g}
}

// admin is the process-wide connection to the admin database.
type admin struct {
	db  *sql.DB
	url *url.URL
}

var (
	adminMu   sync.Mutex
	adminConn *admin
	// templates holds the template names this process has seen built.
	templates = map[string]bool{}
)

func adminDB(ctx context.Context) (*admin, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if adminConn != nil {
		return adminConn, nil
	}
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		dsn = DefaultAdminURL
	}
	db, u, err := openAdmin(ctx, dsn)
	if err != nil {
		return nil, err
	}
	adminConn = &admin{db: db, url: u}
	return adminConn, nil
}

// openAdmin connects to the admin database, or says why it cannot and how
// to fix it.
func openAdmin(ctx context.Context, dsn string) (*sql.DB, *url.URL, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, nil, fmt.Errorf("pgtest: TEST_DATABASE_URL: want a postgres:// URL, got %q", postgres.Redact(dsn))
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: open %s: %w", postgres.Redact(dsn), err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("pgtest: PostgreSQL is not reachable at %s (%v); "+
			"start it with `bash scripts/services.sh`, or point TEST_DATABASE_URL at a server "+
			"where this user may CREATE DATABASE", postgres.Redact(dsn), scrub(err, u))
	}
	return db, u, nil
}

// scrub returns err's message without the DSN's password.
func scrub(err error, u *url.URL) string {
	msg := err.Error()
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// ensureTemplate returns the name of the template database for the embedded
// migrations, building it first if no process has.
func ensureTemplate(ctx context.Context, a *admin) (string, error) {
	name := "gustosync_tmpl_" + migrate.Fingerprint()[:16]
	adminMu.Lock()
	done := templates[name]
	adminMu.Unlock()
	if done {
		return name, nil
	}

	// The advisory lock is held by this connection's session, and only
	// while the template is checked or built.
	conn, err := a.db.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return "", fmt.Errorf("template %s: lock: %w", name, err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockKey)
	}()

	var isTemplate bool
	err = conn.QueryRowContext(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&isTemplate)
	switch {
	case err == nil && isTemplate:
		// Built by this or another process.
	case err == nil || errors.Is(err, sql.ErrNoRows):
		if err == nil {
			// Left half-built by a process that died: start again.
			if _, err := conn.ExecContext(ctx, "DROP DATABASE "+ident(name)+" WITH (FORCE)"); err != nil {
				return "", fmt.Errorf("template %s: drop half-built: %w", name, err)
			}
		}
		if err := buildTemplate(ctx, a, conn, name); err != nil {
			return "", fmt.Errorf("template %s: %w", name, err)
		}
	default:
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	adminMu.Lock()
	templates[name] = true
	adminMu.Unlock()
	return name, nil
}

// buildTemplate creates name, migrates it, and marks it a template that
// accepts no connections (a connection would block CREATE DATABASE …
// TEMPLATE). datistemplate is the mark of a finished build.
func buildTemplate(ctx context.Context, a *admin, conn *sql.Conn, name string) error {
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	u := *a.url
	u.Path = "/" + name
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	_, err = migrate.Up(ctx, db)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+ident(name)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("mark as template: %w", err)
	}
	return nil
}

func createDatabase(ctx context.Context, db *sql.DB, name, template string) error {
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)); err != nil {
		return fmt.Errorf("create database %s from %s: %w", name, template, err)
	}
	return nil
}

func dropDatabase(t testing.TB, db *sql.DB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop %s: %v", name, err)
	}
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
