package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// DefaultMaxConns is the pool size Open uses when maxConns is zero or less.
const DefaultMaxConns = 10

// Open connects to the PostgreSQL database at url and returns a gorm handle
// over a database/sql pool of maxConns connections (DefaultMaxConns when
// maxConns <= 0). Both the open and the idle limits are maxConns: with Go's
// default of two idle connections, a busy handler keeps dialling and runs
// several times slower.
//
// gorm's default wrapping transaction is off (SkipDefaultTransaction): callers
// that need several statements to commit together open a transaction
// themselves. Statements are not prepared by gorm: pgx already caches
// prepared statements per connection.
//
// Its logger (Logger) never prints a bound value; so that db.Raw(…).Scan(…)
// traces hold none either, the first call of Open in a process sets gorm's
// package-level recorder filter to drop values (importing this package
// changes nothing in gorm).
//
// Open pings the database with ctx before returning, so a wrong address or a
// database that does not exist fails here. Errors are *Error values and never
// hold the DSN's password. The returned handle is safe for concurrent use; close
// it with Close.
//
// The statements' log (failures, and statements slower than
// DefaultSlowThreshold) goes to slog.Default() unless WithLogger says
// otherwise: a daemon passes its own logger; a one-shot command, whose
// stderr is its one-line error, passes a discarding one.
func Open(ctx context.Context, url string, maxConns int, opts ...Option) (*gorm.DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	target := Redact(url)
	if _, err := pgx.ParseConfig(url); err != nil {
		return nil, newError(OpParse, url, target, err)
	}
	placeholderOnlyRecorder()
	db, err := gorm.Open(gormpg.New(gormpg.Config{DSN: url}), &gorm.Config{
		SkipDefaultTransaction: true,
		// Open pings below, with the caller's context.
		DisableAutomaticPing: true,
		Logger:               NewLogger(o.log, DefaultSlowThreshold),
	})
	if err != nil {
		return nil, newError(OpOpen, url, target, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, newError(OpOpen, url, target, err)
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	// Recycle connections now and then so a failover or a pgbouncer restart
	// does not pin the pool to a dead server forever.
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, newError(OpConnect, url, target, err)
	}
	return db, nil
}

// Option adjusts Open.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sends the statements' log to log instead of slog.Default().
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// Close closes the connection pool behind db.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("postgres: close: %w", err)
	}
	return sqlDB.Close()
}

// The operations an *Error names.
const (
	// OpParse: the DSN is not one the driver accepts (bad input).
	OpParse = "parse"
	// OpOpen: setting up the handle failed.
	OpOpen = "open"
	// OpConnect: the server could not be reached, refused the login, or the
	// database does not exist.
	OpConnect = "connect"
)

// Error is a failure to open or reach the database. Its message names the
// target with the password redacted; Unwrap gives the driver's error.
type Error struct {
	// Op is what failed: OpParse, OpOpen or OpConnect.
	Op string
	// Target is the DSN with its password replaced by "xxxxx".
	Target string
	// Err is the underlying error.
	Err error

	password string
}

func newError(op, dsn, target string, err error) *Error {
	e := &Error{Op: op, Target: target, Err: err}
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		e.password, _ = u.User.Password()
	}
	return e
}

// Error names the operation and the redacted target. Should the driver's
// message ever quote the password, it is scrubbed here.
func (e *Error) Error() string {
	msg := "postgres: " + e.Op + " " + e.Target + ": " + e.Err.Error()
	if e.password != "" {
		msg = strings.ReplaceAll(msg, e.password, "xxxxx")
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Redact returns dsn with its password replaced by "xxxxx", for messages.
// A DSN that does not parse as a URL is replaced entirely: it might be a
// key=value string holding a password.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "[unparsable DSN]"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// StatsCollector is the Prometheus collector of db's pool statistics
// (collectors.NewDBStatsCollector: go_sql_* labelled db_name=name), so that
// the pool under the gorm handle is unwrapped here, in the one database
// layer, and nowhere else.
func StatsCollector(db *gorm.DB, name string) (prometheus.Collector, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("postgres: database pool: %w", err)
	}
	return collectors.NewDBStatsCollector(sqlDB, name), nil
}
