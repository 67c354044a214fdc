// Package postgres is gustosync's one database layer: it opens the
// PostgreSQL connection pool (gorm over pgx, gorm.io/driver/postgres, the
// pool sized for the caller's concurrency, a logger that never prints SQL
// parameters) and owns the one transaction helper, InTx, which bounds every
// transaction with lock_timeout and idle_in_transaction_session_timeout.
//
// Product code reaches PostgreSQL through the *gorm.DB that Open returns,
// with `?` placeholders (db.Raw / db.Exec on hot paths) and InTx for every
// transaction; a Go slice that must travel as one array parameter is wrapped
// in Array. There is no second pool and no database/sql idiom: lint_test.go
// fails when BeginTx, a *sql.Tx, Commit/Rollback or a `$1` placeholder
// appears in a product package outside this one.
//
// It owns connection set-up and transaction bounds only. It must never run
// migrations (package migrate does), never log a statement's values (tokens
// are ciphertext, but values stay out of logs all the same), never echo a
// DSN's password in an error, and never change global state at import.
package postgres
