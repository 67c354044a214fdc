package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// DefaultSlowThreshold is how long a statement runs before Open's logger
// reports it as slow.
const DefaultSlowThreshold = 200 * time.Millisecond

// Logger is a gorm logger that writes to slog: errors at Error level, slow
// statements at Warn level, nothing else. It logs the statement's SQL with
// its placeholders ($1, $2…) and never the values bound to them, so no
// ciphertext, uuid or payload reaches a log line. gorm.ErrRecordNotFound is
// not logged: a miss is an answer, not a failure.
//
// A Logger is safe for concurrent use.
type Logger struct {
	log   *slog.Logger // nil: slog.Default() at the time of logging
	slow  time.Duration
	level gormlogger.LogLevel
}

var (
	_ gormlogger.Interface = (*Logger)(nil)
	_ gorm.ParamsFilter    = (*Logger)(nil)
)

// recorderOnce guards the one change Open makes to gorm's globals.
var recorderOnce sync.Once

// placeholderOnlyRecorder makes gorm's trace recorder drop values. gorm's
// db.Scan traces its statement through a recorder that consults a
// package-level filter (logger.RecorderParamsFilter) instead of the
// logger's ParamsFilter, and renders the SQL eagerly on every call: without
// this, db.Raw(…).Scan(…) would hand the Logger its values inline, and pay
// for rendering them each time. Open calls it, once per process; importing
// the package changes nothing.
func placeholderOnlyRecorder() {
	recorderOnce.Do(func() {
		gormlogger.RecorderParamsFilter = func(_ context.Context, sql string, _ ...any) (string, []any) {
			return sql, nil
		}
	})
}

// leftover matches what gorm's Explain leaves of a $n placeholder when it is
// given no values ("$1$").
var leftover = regexp.MustCompile(`\$(\d+)\$`)

// placeholders returns gorm's rendering of sql with $n placeholders restored.
func placeholders(sql string) string { return leftover.ReplaceAllString(sql, "$$$1") }

// errAttr renders a statement's error for the log. PostgreSQL's data
// exceptions (SQLSTATE class 22, e.g. invalid input syntax) quote the
// offending value, so their message is withheld; the code says what failed.
func errAttr(err error) slog.Attr {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return slog.String("error", err.Error())
	}
	msg := pgErr.Message
	if strings.HasPrefix(pgErr.Code, "22") {
		msg = "data exception (message withheld: it may quote a value)"
	}
	return slog.Group("error",
		slog.String("sqlstate", pgErr.Code),
		slog.String("msg", msg),
		slog.String("table", pgErr.TableName),
		slog.String("column", pgErr.ColumnName),
		slog.String("constraint", pgErr.ConstraintName),
	)
}

// NewLogger returns a Logger writing to log (slog.Default() when nil) that
// reports statements slower than slow (never, when slow <= 0).
func NewLogger(log *slog.Logger, slow time.Duration) *Logger {
	return &Logger{log: log, slow: slow, level: gormlogger.Warn}
}

func (l *Logger) logger() *slog.Logger {
	if l.log != nil {
		return l.log
	}
	return slog.Default()
}

// LogMode returns a copy of l at the given gorm level (Silent, Error, Warn).
// Info is treated as Warn: logging every statement is not offered.
func (l *Logger) LogMode(level gormlogger.LogLevel) gormlogger.Interface {
	c := *l
	c.level = level
	return &c
}

// Info logs gorm's informational messages at Info level.
func (l *Logger) Info(ctx context.Context, msg string, args ...any) {
	if l.level >= gormlogger.Info {
		l.logger().InfoContext(ctx, "gorm", "msg", sprintf(msg, args))
	}
}

// Warn logs gorm's warnings at Warn level.
func (l *Logger) Warn(ctx context.Context, msg string, args ...any) {
	if l.level >= gormlogger.Warn {
		l.logger().WarnContext(ctx, "gorm", "msg", sprintf(msg, args))
	}
}

// Error logs gorm's error messages at Error level.
func (l *Logger) Error(ctx context.Context, msg string, args ...any) {
	if l.level >= gormlogger.Error {
		l.logger().ErrorContext(ctx, "gorm", "msg", sprintf(msg, args))
	}
}

// Trace logs a failed statement at Error level and a slow one at Warn level,
// with its SQL text (placeholders, no values), duration and rows affected.
// A failure is logged with its SQLSTATE, and with PostgreSQL's message
// except for data exceptions, whose message may quote a value.
func (l *Logger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if l.level <= gormlogger.Silent {
		return
	}
	elapsed := time.Since(begin)
	switch {
	case err != nil && l.level >= gormlogger.Error && !errors.Is(err, gormlogger.ErrRecordNotFound):
		sql, rows := fc()
		l.logger().ErrorContext(ctx, "sql failed", "sql", placeholders(sql), "rows", rows, "elapsed", elapsed, errAttr(err))
	case l.slow > 0 && elapsed > l.slow && l.level >= gormlogger.Warn:
		sql, rows := fc()
		l.logger().WarnContext(ctx, "sql slow", "sql", placeholders(sql), "rows", rows, "elapsed", elapsed, "threshold", l.slow)
	}
}

// ParamsFilter drops the statement's values before gorm renders it for Trace,
// so the SQL that reaches the log keeps its placeholders.
func (l *Logger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func sprintf(msg string, args []any) string {
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}
