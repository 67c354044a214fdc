package pgtest

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/postgres"
)

// MaxConns is the pool size of each test database's handles.
const MaxConns = 10

// DB is one test's private database.
type DB struct {
	// Name is the database's name.
	Name string
	// URL is its DSN, for code under test that opens its own pool (or a
	// binary under test, through DATABASE_URL).
	URL string
	// Gorm is a gorm handle opened with postgres.Open.
	Gorm *gorm.DB
}

// New creates a fresh database holding every migration, opens Gorm
// on it, and registers a cleanup that closes them and drops the database.
// Two calls, in the same test or not, never share data; New is safe to call
// from parallel tests. It fails the test (never skips) when PostgreSQL is
// unreachable.
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
	d, err := Create(ctx, Spec{Schema: withSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop(t, d) })

	g, err := postgres.Open(ctx, d.URL, MaxConns)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", d.Name, err)
	}
	t.Cleanup(func() { _ = postgres.Close(g) })
	return &DB{Name: d.Name, URL: d.URL, Gorm: g}
}

// drop is the cleanup of a test's database.
func drop(t testing.TB, d *Database) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := d.Drop(ctx); err != nil {
		t.Error(err)
	}
}
