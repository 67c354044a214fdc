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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/postgres"
)

// DefaultAdminURL is the admin DSN used when TEST_DATABASE_URL is not set.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// setupTimeout bounds creating (or dropping) one test database, including
// waiting for another test binary that is building the template.
const setupTimeout = 2 * time.Minute

// Database name prefixes. A test database's name carries its creation time
// (unix seconds) so that leftovers of killed test binaries can be reaped.
const (
	testPrefix     = "gustosync_test_"
	templatePrefix = "gustosync_tmpl_"
)

// reapAge is how old a leftover test database, or a template of another
// schema, must be before a process building a template drops it. Test
// binaries run for minutes; an hour leaves a wide margin.
const reapAge = time.Hour

// templateLockKey is the advisory lock that serializes template builds
// across processes ("gustosync-pgtest" as a number).
const templateLockKey int64 = 0x67757374_6f706774

// fixedName is what Spec.Name accepts: a plain lower-case identifier.
var fixedName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// AdminURL is the admin DSN Create uses when Spec.AdminURL is empty:
// TEST_DATABASE_URL, else DefaultAdminURL.
func AdminURL() string {
	if dsn := os.Getenv("TEST_DATABASE_URL"); dsn != "" {
		return dsn
	}
	return DefaultAdminURL
}

// Spec says which database Create makes.
type Spec struct {
	// AdminURL is the DSN of the server's admin database, on which the
	// database is created beside it. Empty means AdminURL().
	AdminURL string
	// Name, when set, is the database's fixed name (a lower-case
	// identifier, e.g. gustosync_demo): a database of that name is dropped
	// first, its sessions terminated, so every Create starts afresh. Empty
	// means a new unique name (gustosync_test_<unix seconds>_<random>),
	// dropped by a later process's reaper if its owner dies before Drop.
	Name string
	// Schema copies the template database holding every migration (built
	// once per server and schema); false creates an empty database from
	// template0, for code that migrates it itself.
	Schema bool
}

// Database is a database Create made: the core of New and NewEmpty, and
// what the proof tools (proof/devstack) use, with no testing.TB.
type Database struct {
	// Name is the database's name.
	Name string
	// URL is its DSN: the admin DSN with the database's name as its path.
	URL string

	admin *admin
}

// Create makes a fresh database as spec says and returns its name and DSN.
// It opens no pool on it. It is safe for concurrent use, within a process
// and across processes. It fails with a message saying how to start
// PostgreSQL when the server is unreachable.
func Create(ctx context.Context, spec Spec) (*Database, error) {
	if spec.AdminURL == "" {
		spec.AdminURL = AdminURL()
	}
	if spec.Name != "" && !fixedName.MatchString(spec.Name) {
		return nil, fmt.Errorf("pgtest: database name %q: want a lower-case identifier", spec.Name)
	}
	a, err := adminFor(ctx, spec.AdminURL)
	if err != nil {
		return nil, err
	}
	template := "template0"
	if spec.Schema {
		if template, err = ensureTemplate(ctx, a); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	name := spec.Name
	if name == "" {
		name = fmt.Sprintf("%s%d_%s", testPrefix, time.Now().Unix(), randomHex(6))
	} else if err := dropDatabase(ctx, a.db, name); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	err = createDatabase(ctx, a.db, name, template)
	if spec.Schema && isNotExist(err) {
		// A process with another schema reaped this template (built more
		// than reapAge ago) since this process last saw it: build it again.
		a.forget(template)
		if template, err = ensureTemplate(ctx, a); err == nil {
			err = createDatabase(ctx, a.db, name, template)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	u := *a.url
	u.Path = "/" + name
	return &Database{Name: name, URL: u.String(), admin: a}, nil
}

// Drop drops the database, terminating its sessions (WITH (FORCE)).
// Dropping a dropped database does nothing.
func (d *Database) Drop(ctx context.Context) error {
	if err := dropDatabase(ctx, d.admin.db, d.Name); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// admin is the process-wide connection to one server's admin database, and
// what this process knows of that server.
type admin struct {
	db  *sql.DB
	url *url.URL

	// templates holds the template names this process has seen built;
	// reaped is set once this process has reaped leftovers. Both under
	// adminMu.
	templates map[string]bool
	reaped    bool
}

var (
	adminMu sync.Mutex
	admins  = map[string]*admin{} // by admin DSN
)

// adminDB is the admin connection of TEST_DATABASE_URL's server.
func adminDB(ctx context.Context) (*admin, error) { return adminFor(ctx, AdminURL()) }

func adminFor(ctx context.Context, dsn string) (*admin, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if a, ok := admins[dsn]; ok {
		return a, nil
	}
	db, u, err := openAdmin(ctx, dsn)
	if err != nil {
		return nil, err
	}
	a := &admin{db: db, url: u, templates: map[string]bool{}}
	admins[dsn] = a
	return a, nil
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

// templateName names the template after the embedded migrations. A
// variable so that a test can build a template of its own.
var templateName = func() string { return templatePrefix + migrate.Fingerprint()[:16] }

// builds counts the templates this process built, for tests.
var builds atomic.Int64

// ensureTemplate returns the name of the template database for the embedded
// migrations, building it first if no process has.
func ensureTemplate(ctx context.Context, a *admin) (string, error) {
	name := templateName()
	adminMu.Lock()
	done := a.templates[name]
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

	if err := a.reap(ctx, conn, name); err != nil {
		return "", err
	}

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
		builds.Add(1)
	default:
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	adminMu.Lock()
	a.templates[name] = true
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
	db, err := postgres.Open(ctx, u.String(), 1)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	_, err = migrate.Up(ctx, db)
	if cerr := postgres.Close(db); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	comment := fmt.Sprintf("pgtest template built %d", time.Now().Unix())
	if _, err := conn.ExecContext(ctx, "COMMENT ON DATABASE "+ident(name)+" IS "+literal(comment)); err != nil {
		return fmt.Errorf("comment: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+ident(name)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("mark as template: %w", err)
	}
	return nil
}

// reap drops, once per process and server, the leftovers of test binaries
// that were killed before their cleanup ran (test databases older than
// reapAge) and templates of other schemas built more than reapAge ago. The
// caller holds the template lock.
func (a *admin) reap(ctx context.Context, conn *sql.Conn, current string) error {
	adminMu.Lock()
	done := a.reaped
	a.reaped = true
	adminMu.Unlock()
	if done {
		return nil
	}
	rows, err := conn.QueryContext(ctx, `
		SELECT datname, datistemplate, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE datname LIKE $1 OR datname LIKE $2`,
		strings.ReplaceAll(testPrefix, "_", `\_`)+"%", strings.ReplaceAll(templatePrefix, "_", `\_`)+"%")
	if err != nil {
		return fmt.Errorf("reap: %w", err)
	}
	var drop []string
	cutoff := time.Now().Add(-reapAge).Unix()
	for rows.Next() {
		var name, comment string
		var isTemplate bool
		if err := rows.Scan(&name, &isTemplate, &comment); err != nil {
			_ = rows.Close()
			return fmt.Errorf("reap: %w", err)
		}
		if born, ok := bornAt(name, isTemplate, comment); ok && born < cutoff && name != current {
			drop = append(drop, name)
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("reap: %w", err)
	}
	for _, name := range drop {
		// A template must stop being one before it can be dropped.
		_, _ = conn.ExecContext(ctx, "ALTER DATABASE "+ident(name)+" WITH IS_TEMPLATE false")
		if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("reap %s: %w", name, err)
		}
	}
	return nil
}

// bornAt reads a pgtest database's creation time from its name (test
// databases) or its comment (templates).
func bornAt(name string, isTemplate bool, comment string) (int64, bool) {
	if rest, ok := strings.CutPrefix(name, testPrefix); ok {
		stamp, _, _ := strings.Cut(rest, "_")
		n, err := strconv.ParseInt(stamp, 10, 64)
		return n, err == nil
	}
	if !isTemplate {
		return 0, false // a template being built right now, or half-built
	}
	stamp, ok := strings.CutPrefix(comment, "pgtest template built ")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(stamp, 10, 64)
	return n, err == nil
}

// forget clears this process's memory that template is built.
func (a *admin) forget(template string) {
	adminMu.Lock()
	delete(a.templates, template)
	adminMu.Unlock()
}

// isNotExist reports whether err is PostgreSQL's "database does not exist"
// (SQLSTATE 3D000).
func isNotExist(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000"
}

func createDatabase(ctx context.Context, db *sql.DB, name, template string) error {
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)); err != nil {
		return fmt.Errorf("create database %s from %s: %w", name, template, err)
	}
	return nil
}

func dropDatabase(ctx context.Context, db *sql.DB, name string) error {
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
