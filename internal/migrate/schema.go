package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"gorm.io/gorm"
)

// BehindError reports a database whose schema is older than the binary
// asking: some migration this binary embeds has not run yet. It names both
// versions and never the DSN.
type BehindError struct {
	// Have is the database's schema version (0: no migration has run).
	Have int64
	// Want is the newest migration this binary embeds (Latest).
	Want int64
}

func (e *BehindError) Error() string {
	return fmt.Sprintf("database schema version %d is older than this binary's %d: run `gustosync migrate`", e.Have, e.Want)
}

// Version returns db's schema version: the highest migration goose has
// recorded as applied, 0 when none has (goose's table absent included). It
// reads only, takes no lock, and so answers while a migration runs (the
// version before it, until it commits).
func Version(ctx context.Context, db *gorm.DB) (int64, error) {
	var v struct {
		Exists  bool
		Version int64
	}
	err := db.WithContext(ctx).Raw(`SELECT to_regclass('public.goose_db_version') IS NOT NULL AS exists`).Scan(&v).Error
	if err != nil {
		return 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	if !v.Exists {
		return 0, nil
	}
	err = db.WithContext(ctx).Raw(`SELECT COALESCE(max(version_id), 0) AS version FROM goose_db_version WHERE version_id > 0 AND is_applied`).
		Scan(&v).Error
	if err != nil {
		return 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	return v.Version, nil
}

// Current returns nil when db's schema is at least Latest, a *BehindError
// when it is older, and any other error when the version cannot be read.
// A schema newer than this binary (a rollback of the binaries, migrations
// kept) is current: migrations only add, so an older binary runs on it.
func Current(ctx context.Context, db *gorm.DB) error {
	have, err := Version(ctx, db)
	if err != nil {
		return err
	}
	if want := Latest(); have < want {
		return &BehindError{Have: have, Want: want}
	}
	return nil
}

// Gate is a binary's readiness on the schema: Check answers whether the
// database holds every migration the binary embeds, and Wait holds a
// binary's work back until it does. Once the schema was seen current, Gate
// answers from memory (schemas only move forward), so a readiness probe
// costs a query only while the schema is behind. Safe for concurrent use.
type Gate struct {
	db *gorm.DB

	mu      sync.Mutex
	current bool
}

// NewGate returns a gate reading db's schema version.
func NewGate(db *gorm.DB) *Gate { return &Gate{db: db} }

// Check returns nil once the schema is current, else *BehindError or the
// error reading the version. It reads the version again on every call until
// the schema is current.
func (g *Gate) Check(ctx context.Context) error {
	g.mu.Lock()
	current := g.current
	g.mu.Unlock()
	if current {
		return nil
	}
	if err := Current(ctx, g.db); err != nil {
		return err
	}
	g.mu.Lock()
	g.current = true
	g.mu.Unlock()
	return nil
}

// ServeHTTP answers a readiness probe on the schema alone: 200 "ready"
// once it is current, else 503 and the reason (both versions, or that the
// version could not be read; never a DSN). Binaries whose readiness is more
// than the schema (the worker's) call Check from their own handler.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var behind *BehindError
	switch err := g.Check(ctx); {
	case err == nil:
		_, _ = io.WriteString(w, "ready\n")
	case errors.As(err, &behind):
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, behind.Error()+"\n")
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "database schema version unreadable (postgresql unreachable?)\n")
	}
}

// probeTimeout bounds one readiness answer.
const probeTimeout = 2 * time.Second

// Wait returns nil as soon as the schema is current, checking every
// interval, or ctx's error when ctx ends first. It logs once that it waits
// (naming both versions), and once when the schema becomes current.
func (g *Gate) Wait(ctx context.Context, interval time.Duration, log *slog.Logger) error {
	waited := false
	for {
		cctx, cancel := context.WithTimeout(ctx, interval)
		err := g.Check(cctx)
		cancel()
		if err == nil {
			if waited {
				log.Info("database schema is current; starting", slog.Int64("schema_version", Latest()))
			}
			return nil
		}
		if !waited {
			log.Warn("waiting for the database schema; not ready until it is current", slog.String("reason", err.Error()))
			waited = true
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
