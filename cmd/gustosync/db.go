package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/postgres"
)

// openDB is openPool for every command but `migrate`: it also refuses a
// database whose schema is older than this binary's migrations (a
// *migrate.BehindError naming both versions and `gustosync migrate`), so a
// command never half-works on tables that are not there yet (invariant 29).
// Close the handle with postgres.Close.
func openDB(ctx context.Context, e *env, maxConns int) (*gorm.DB, error) {
	db, err := openPool(ctx, e, maxConns)
	if err != nil {
		return nil, err
	}
	if err := migrate.Current(ctx, db); err != nil {
		_ = postgres.Close(db)
		return nil, err
	}
	return db, nil
}

// openPool reads the Database configuration and opens the pool, sized to
// DATABASE_MAX_CONNS or else to maxConns. A DSN that the driver cannot parse
// is bad input: it comes back as a *config.Error naming DATABASE_URL.
// Close the handle with postgres.Close.
func openPool(ctx context.Context, e *env, maxConns int) (*gorm.DB, error) {
	var cfg config.Database
	if err := e.config(&cfg); err != nil {
		return nil, err
	}
	return dial(ctx, cfg.URL, "DATABASE_URL", cfg.MaxConns, maxConns)
}

// openMigrationPool is openPool for `migrate` and `migrate status`: it
// connects with DATABASE_MIGRATE_URL when set (a role that owns the
// schema), else with DATABASE_URL.
func openMigrationPool(ctx context.Context, e *env, maxConns int) (*gorm.DB, error) {
	var cfg config.Migration
	if err := e.config(&cfg); err != nil {
		return nil, err
	}
	dsn, variable := cfg.DSN()
	return dial(ctx, dsn, variable, cfg.MaxConns, maxConns)
}

// dial opens the pool on dsn, read from variable, sized to configured
// (DATABASE_MAX_CONNS) or else to maxConns; a DSN the driver cannot parse
// is a *config.Error naming variable.
func dial(ctx context.Context, dsn, variable string, configured, maxConns int) (*gorm.DB, error) {
	if configured > 0 {
		maxConns = configured
	}
	// The commands' stderr is their one-line error: no statement log there.
	db, err := postgres.Open(ctx, dsn, maxConns, postgres.WithLogger(slog.New(slog.DiscardHandler)))
	var pe *postgres.Error
	if errors.As(err, &pe) && pe.Op == postgres.OpParse {
		return nil, &config.Error{Var: variable, Reason: "not a valid PostgreSQL DSN: " + parseReason(pe)}
	}
	return db, err
}

// parseReason is the driver's reason for refusing a DSN, without the DSN:
// pgx says "cannot parse `DSN`: reason".
func parseReason(pe *postgres.Error) string {
	msg := pe.Error()
	if _, after, ok := strings.Cut(msg, "`: "); ok {
		return after
	}
	return "the driver refused it"
}
