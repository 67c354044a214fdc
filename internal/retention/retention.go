package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/postgres"
)

// Defaults of Config.
const (
	// DefaultBatch bounds the rows one statement deletes.
	DefaultBatch = 1000
	// DefaultEvery is the time between passes.
	DefaultEvery = time.Hour
	// DefaultMaxPass bounds one pass; what is left waits for the next.
	DefaultMaxPass = 5 * time.Minute
)

// pruneLock is the PostgreSQL advisory lock key that keeps pruning to one
// replica at a time.
const pruneLock = 0x7265_7465_6e74_696f // "retentio"

// Config configures a Pruner. Zero values take the defaults named.
type Config struct {
	// DB is required.
	DB *gorm.DB
	// Days is RETENTION_DAYS: rows older than this many days are deleted.
	// 0 disables pruning. Must not be negative.
	Days int
	// Batch is DefaultBatch when zero.
	Batch int
	// Every is DefaultEvery when zero.
	Every time.Duration
	// MaxPass is DefaultMaxPass when zero.
	MaxPass time.Duration
	// Now is the clock the cutoff is computed on; default time.Now.
	Now func() time.Time
	// Logger default: discard.
	Logger *slog.Logger
}

// Pruner deletes expired history. It is safe for concurrent use, and any
// number of Pruners (replicas) may run over one database: one prunes at a
// time.
type Pruner struct {
	cfg Config
}

// New validates cfg and applies its defaults.
func New(cfg Config) (*Pruner, error) {
	switch {
	case cfg.DB == nil:
		return nil, errors.New("retention: New needs a database")
	case cfg.Days < 0 || cfg.Batch < 0 || cfg.Every < 0 || cfg.MaxPass < 0:
		return nil, errors.New("retention: Days, Batch, Every and MaxPass must not be negative")
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Every == 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.MaxPass == 0 {
		cfg.MaxPass = DefaultMaxPass
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pruner{cfg: cfg}, nil
}

// Result counts the rows one pass deleted, per table.
type Result struct {
	Runs, RefreshEvents, GustoEvents, Alerts int64
	// Statements is how many delete statements ran.
	Statements int
	// Busy is true when another replica held the lock: this pass stopped.
	Busy bool
}

// Total is every row deleted.
func (r Result) Total() int64 { return r.Runs + r.RefreshEvents + r.GustoEvents + r.Alerts }

// Run prunes at once and then every Config.Every until ctx ends; a failed
// pass is logged and the next one tries again. With Days 0 it returns nil
// at once.
func (p *Pruner) Run(ctx context.Context) error {
	if p.cfg.Days == 0 {
		p.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "retention disabled (RETENTION_DAYS=0): history is kept")
		return nil
	}
	t := time.NewTicker(p.cfg.Every)
	defer t.Stop()
	for {
		res, err := p.Prune(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			p.cfg.Logger.LogAttrs(ctx, slog.LevelError, "retention pass failed", slog.String("error", err.Error()))
		case res.Total() > 0:
			p.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "retention pass", slog.Int64("sync_runs", res.Runs),
				slog.Int64("token_refresh_events", res.RefreshEvents), slog.Int64("gusto_events", res.GustoEvents),
				slog.Int64("alert_outbox", res.Alerts), slog.Int("statements", res.Statements))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// table is one table's pruning statement: it deletes at most $batch rows
// older than $cutoff, oldest first.
type table struct {
	name  string
	count func(*Result) *int64
	// sql takes the cutoff and the batch size, in that order.
	sql string
	// minAge, when set, is an age under which no row is deleted whatever
	// the cutoff.
	minAge time.Duration
}

var tables = []table{
	{name: "sync_runs", count: func(r *Result) *int64 { return &r.Runs }, sql: `
DELETE FROM sync_runs WHERE id IN (
	SELECT r.id FROM sync_runs r
	WHERE r.finished_at IS NOT NULL AND r.finished_at < ?
	  AND r.status IN ('succeeded', 'failed', 'stopped')
	  AND NOT EXISTS (SELECT 1 FROM sync_checkpoints c WHERE c.run_id = r.id)
	  AND NOT EXISTS (SELECT 1 FROM sync_fences f WHERE f.run_id = r.id)
	  AND NOT EXISTS (SELECT 1 FROM company_full_syncs s WHERE s.run_id = r.id)
	  AND EXISTS (SELECT 1 FROM sync_runs n WHERE n.company_uuid = r.company_uuid AND n.created_at > r.created_at)
	  AND (r.status <> 'succeeded' OR EXISTS (SELECT 1 FROM sync_runs n WHERE n.company_uuid = r.company_uuid
	       AND n.status = 'succeeded' AND n.finished_at > r.finished_at))
	ORDER BY r.finished_at LIMIT ?)`},
	{name: "token_refresh_events", count: func(r *Result) *int64 { return &r.RefreshEvents }, sql: `
DELETE FROM token_refresh_events WHERE id IN (
	SELECT id FROM token_refresh_events WHERE finished_at < ? ORDER BY finished_at LIMIT ?)`},
	{name: "gusto_events", count: func(r *Result) *int64 { return &r.GustoEvents }, minAge: gustoevents.DedupWindow, sql: `
DELETE FROM gusto_events WHERE uuid IN (
	SELECT uuid FROM gusto_events WHERE handled_at IS NOT NULL AND handled_at < ? ORDER BY handled_at LIMIT ?)`},
	{name: "alert_outbox", count: func(r *Result) *int64 { return &r.Alerts }, sql: `
DELETE FROM alert_outbox WHERE id IN (
	SELECT id FROM alert_outbox WHERE status IN ('delivered', 'failed', 'expired') AND occurred_at < ?
	ORDER BY occurred_at LIMIT ?)`},
}

// errBusy ends a pass whose lock another replica holds.
var errBusy = errors.New("retention: another replica is pruning")

// Prune runs one pass: for each table, batches of at most Config.Batch
// rows older than Config.Days (on Config.Now) until none is left or the
// pass has run Config.MaxPass. With Days 0 it deletes nothing.
func (p *Pruner) Prune(ctx context.Context) (Result, error) {
	var res Result
	if p.cfg.Days == 0 {
		return res, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.MaxPass)
	defer cancel()
	now := p.cfg.Now()
	cutoff := now.Add(-time.Duration(p.cfg.Days) * 24 * time.Hour)
	for _, t := range tables {
		c := cutoff
		if t.minAge > 0 && now.Add(-t.minAge).Before(c) {
			c = now.Add(-t.minAge)
		}
		for {
			n, err := p.batch(ctx, t, c)
			if errors.Is(err, errBusy) {
				res.Busy = true
				return res, nil
			}
			if err != nil {
				if ctx.Err() != nil {
					return res, nil // the pass's time is up (or a shutdown); the next pass goes on
				}
				return res, fmt.Errorf("retention: prune %s: %w", t.name, err)
			}
			res.Statements++
			*t.count(&res) += n
			if n < int64(p.cfg.Batch) {
				break
			}
		}
	}
	return res, nil
}

// batch deletes one batch of t older than cutoff under the prune lock.
func (p *Pruner) batch(ctx context.Context, t table, cutoff time.Time) (int64, error) {
	var n int64
	err := postgres.InTx(ctx, p.cfg.DB, postgres.TxOptions{}, func(tx *gorm.DB) error {
		var got bool
		if err := tx.Raw(`SELECT pg_try_advisory_xact_lock(?)`, int64(pruneLock)).Scan(&got).Error; err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if !got {
			return errBusy
		}
		r := tx.Exec(t.sql, cutoff, p.cfg.Batch)
		n = r.RowsAffected
		return r.Error
	})
	return n, err
}
