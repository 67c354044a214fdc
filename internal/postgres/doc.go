// Package postgres opens gustosync's PostgreSQL connection pool: gorm over
// pgx (gorm.io/driver/postgres), with the database/sql pool sized for the
// caller's concurrency and a logger that never prints SQL parameters.
//
// It owns connection set-up only. It must never run migrations (package
// migrate does), never log a statement's values (tokens are ciphertext, but
// values stay out of logs all the same) and never echo a DSN's password in an
// error.
package postgres
