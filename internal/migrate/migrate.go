package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/gorm"
)

//go:embed sql/*.sql
var embedded embed.FS

// lockWait bounds how long Up waits for another process's migration to
// finish: the advisory lock is retried every second this many times.
const lockWait = 300

// FS returns the embedded migrations, rooted so that the files sit at the
// top level (00001_tokens.sql, …).
func FS() fs.FS {
	sub, err := fs.Sub(embedded, "sql")
	if err != nil {
		panic(err) // the path is a constant inside this package
	}
	return sub
}

// Fingerprint is a hex SHA-256 over the names and contents of the embedded
// migrations. Two binaries with the same fingerprint build the same schema;
// test infrastructure names its template database after it.
func Fingerprint() string {
	fsys := FS()
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		panic(err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(body))
		h.Write(body)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newProvider builds a goose provider over db's pool with the embedded
// migrations and a Postgres session locker, so concurrent runs serialize.
// goose speaks database/sql: it is handed the pool behind the gorm handle
// (never a second pool), and this is the only place that unwraps it.
func newProvider(gdb *gorm.DB) (*goose.Provider, error) {
	db, err := pool(gdb)
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, lockWait))
	if err != nil {
		return nil, fmt.Errorf("migrate: session locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS(),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return p, nil
}

// pool returns the database/sql pool behind db, for goose.
func pool(db *gorm.DB) (*sql.DB, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return sqlDB, nil
}

// Up applies every migration the database does not have yet, in order, and
// returns the file names it applied (empty when the schema was up to date).
// It holds a PostgreSQL advisory lock while it works, so a concurrent Up in
// another process waits for this one and then applies nothing. Each
// migration runs in its own transaction: a failure leaves the schema at the
// last migration that succeeded, and the error names the file.
func Up(ctx context.Context, db *gorm.DB) (applied []string, err error) {
	p, err := newProvider(db)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, r.Source.Path)
		}
	}
	if err != nil {
		return applied, fmt.Errorf("migrate: up: %w", err)
	}
	return applied, nil
}

// UpTo is Up stopping after version: it applies the pending migrations
// numbered at most version, under the same lock. Releases use Up; UpTo
// builds a database as an older release left it (tests of the schema gate).
func UpTo(ctx context.Context, db *gorm.DB, version int64) (applied []string, err error) {
	p, err := newProvider(db)
	if err != nil {
		return nil, err
	}
	results, err := p.UpTo(ctx, version)
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, r.Source.Path)
		}
	}
	if err != nil {
		return applied, fmt.Errorf("migrate: up to %d: %w", version, err)
	}
	return applied, nil
}

// Migration is one embedded migration and whether the database has it.
type Migration struct {
	// Version is the number the file name starts with.
	Version int64
	// Name is the file name, e.g. "00001_tokens.sql".
	Name string
	// Applied reports whether the database has run it.
	Applied bool
	// AppliedAt is when it ran; zero when pending.
	AppliedAt time.Time
}

// Status lists every embedded migration, oldest first, with whether db has
// applied it. It takes the same lock as Up, so it waits for a migration in
// progress and then reports its outcome. It changes nothing but creating
// goose's version table when it is missing, as goose always does.
func Status(ctx context.Context, db *gorm.DB) ([]Migration, error) {
	p, err := newProvider(db)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: status: %w", err)
	}
	out := make([]Migration, 0, len(st))
	for _, s := range st {
		out = append(out, Migration{
			Version:   s.Source.Version,
			Name:      s.Source.Path,
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// Latest returns the highest embedded migration version: the version a
// fully migrated database reports.
func Latest() int64 {
	names, err := fs.Glob(FS(), "*.sql")
	if err != nil {
		panic(err)
	}
	var latest int64
	for _, name := range names {
		v, err := goose.NumericComponent(name)
		if err != nil {
			panic(fmt.Sprintf("migrate: embedded file %s: %v", name, err))
		}
		latest = max(latest, v)
	}
	return latest
}
