package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Defaults of TxOptions.
const (
	// DefaultLockTimeout bounds each wait for a lock inside a transaction.
	DefaultLockTimeout = 30 * time.Second
	// DefaultIdleTimeout ends the session of a transaction left idle this long.
	DefaultIdleTimeout = 15 * time.Second
)

// TxOptions bounds what a transaction may wait for. The zero value takes
// the defaults.
type TxOptions struct {
	// LockTimeout is PostgreSQL's lock_timeout for the transaction: a
	// statement that waits longer than this for a row or table lock fails
	// (a transient error; the transaction rolls back). Zero means
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// IdleTimeout is PostgreSQL's idle_in_transaction_session_timeout for
	// the transaction: a holder frozen inside it (SIGSTOP, a long GC pause,
	// a partitioned VM, a slow call made while the transaction is open) has
	// its session ended by the server and its locks released, so it cannot
	// block whoever needs them next. Set it above the longest pause the
	// caller makes on purpose inside the transaction. Zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// pgMillis renders d as a PostgreSQL interval setting, at least 1ms (0
// would mean "no limit").
func pgMillis(d time.Duration) string { return fmt.Sprintf("%dms", max(d.Milliseconds(), 1)) }

// settings returns the two timeouts as set_config values, defaults applied.
func (o TxOptions) settings() (lock, idle string) {
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	return pgMillis(o.LockTimeout), pgMillis(o.IdleTimeout)
}

// InTx runs fn in one transaction on db, bounded by o's lock and
// idle-in-transaction timeouts (SET LOCAL, so they end with the
// transaction), and commits when fn returns nil. It rolls back when fn
// returns an error, when fn panics (the panic goes on), or when the
// timeouts cannot be set; fn's error is returned as is, so callers classify
// it with errors.As.
//
// The transaction runs on one connection taken from the pool for its
// duration, so CopyFrom can stream rows into it over the same connection.
//
// It is the one way product code opens a transaction: fn must do all its
// work through tx and must not keep tx after it returns. On a db that is
// already a transaction, fn runs inside a savepoint of it.
func InTx(ctx context.Context, db *gorm.DB, o TxOptions, fn func(tx *gorm.DB) error) error {
	lock, idle := o.settings()
	run := func(tx *gorm.DB) error {
		if err := tx.Exec(`SELECT set_config('lock_timeout', ?, true), set_config('idle_in_transaction_session_timeout', ?, true)`,
			lock, idle).Error; err != nil {
			return fmt.Errorf("postgres: set transaction timeouts: %w", err)
		}
		return fn(tx)
	}
	if _, nested := db.Statement.ConnPool.(gorm.TxCommitter); nested {
		if c := pinnedConn(db); c != nil && ctx.Value(pinKey{}) == nil {
			ctx = context.WithValue(ctx, pinKey{}, c)
		}
		return db.WithContext(ctx).Transaction(run)
	}
	pool, err := db.DB()
	if err != nil {
		return fmt.Errorf("postgres: transaction: %w", err)
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("postgres: transaction: take a connection: %w", err)
	}
	defer conn.Close() // returns it to the pool; the transaction has ended
	pinned := db.Session(&gorm.Session{Context: context.WithValue(ctx, pinKey{}, conn)})
	pinned.Statement.ConnPool = conn
	return pinned.Transaction(run)
}

// rawConn is the pool connection InTx pins a transaction to (a *sql.Conn):
// Raw reaches the driver's connection under it.
type rawConn interface {
	Raw(func(driverConn any) error) error
}

// pinKey is the context key under which InTx keeps its connection.
type pinKey struct{}

func pinnedConn(tx *gorm.DB) rawConn {
	if tx.Statement == nil || tx.Statement.Context == nil {
		return nil
	}
	c, _ := tx.Statement.Context.Value(pinKey{}).(rawConn)
	return c
}

// CopyFrom streams rows into table (its columns named in order) with
// PostgreSQL's COPY, inside tx, a transaction InTx opened: the COPY runs on
// the transaction's own connection, so its rows commit or roll back with
// it. It returns how many rows were copied. It is for bulk writes into
// staging tables (COPY cannot upsert); row values are encoded by pgx in the
// binary format (uuid.UUID or [16]byte for uuid, []byte or
// json.RawMessage for jsonb, string, bool…).
func CopyFrom(tx *gorm.DB, table string, columns []string, rows pgx.CopyFromSource) (int64, error) {
	if _, ok := tx.Statement.ConnPool.(gorm.TxCommitter); !ok {
		return 0, fmt.Errorf("postgres: copy into %s: not inside a transaction of InTx", table)
	}
	conn := pinnedConn(tx)
	if conn == nil {
		return 0, fmt.Errorf("postgres: copy into %s: the transaction was not opened by InTx", table)
	}
	var n int64
	err := conn.Raw(func(dc any) error {
		pc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return fmt.Errorf("driver connection %T is not pgx's", dc)
		}
		var err error
		n, err = pc.Conn().CopyFrom(tx.Statement.Context, pgx.Identifier{table}, columns, rows)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("postgres: copy into %s: %w", table, err)
	}
	return n, nil
}

// Array binds a Go slice as one parameter, a PostgreSQL array, for
// statements such as `unnest(?::uuid[])` or `= ANY(?)`. gorm binds a bare
// slice as a list of parameters, one per element (`IN ?`); Array keeps it
// whole, and pgx encodes it as an array without any text conversion.
func Array[T any](v []T) clause.Expression { return array{ptr: &v} }

// array holds a pointer to the slice: gorm binds a pointer as one value,
// and pgx dereferences it.
type array struct{ ptr any }

// Build binds the slice as one parameter.
func (a array) Build(b clause.Builder) { b.AddVar(b, a.ptr) }
