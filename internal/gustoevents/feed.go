package gustoevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/postgres"
)

// EventLister is GET /v1/events (*gusto.Client.Events with a system token
// source bound).
type EventLister interface {
	Events(ctx context.Context, q gusto.EventsQuery) ([]gusto.Event, error)
}

// FeedConfig configures a Feed.
type FeedConfig struct {
	// DB, Handler, Store and Events are required.
	DB      *gorm.DB
	Handler *Handler
	Store   *Store
	Events  EventLister
	// Period is the time between polls. Default DefaultFeedPeriod.
	Period time.Duration
	// Logger default: discard.
	Logger *slog.Logger
}

// DefaultFeedPeriod is FeedConfig.Period's default.
const DefaultFeedPeriod = 30 * time.Second

// feedLock is the PostgreSQL advisory lock key that keeps polls to one
// replica at a time.
const feedLock = 0x6775_7374_6f65_7631 // "gustoev1"

// feedPage is the page size asked for (Gusto's maximum).
const feedPage = 100

// Feed polls GET /v1/events and hands each event to the Handler: the
// fallback that needs no public endpoint. One replica polls at a time (a
// transaction-scoped advisory lock); the cursor (the last handled event's
// uuid) is in PostgreSQL and moves only past handled events.
type Feed struct {
	cfg FeedConfig
}

// NewFeed validates cfg.
func NewFeed(cfg FeedConfig) (*Feed, error) {
	if cfg.DB == nil || cfg.Handler == nil || cfg.Store == nil || cfg.Events == nil {
		return nil, errors.New("gustoevents: NewFeed needs DB, Handler, Store and Events")
	}
	if cfg.Period <= 0 {
		cfg.Period = DefaultFeedPeriod
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Feed{cfg: cfg}, nil
}

// Run polls every Period until ctx ends; a failed poll is logged and
// retried at the next period.
func (f *Feed) Run(ctx context.Context) error {
	t := time.NewTicker(f.cfg.Period)
	defer t.Stop()
	for {
		if n, err := f.Poll(ctx); err != nil && ctx.Err() == nil {
			f.cfg.Logger.LogAttrs(ctx, slog.LevelError, "events feed poll failed", slog.String("error", err.Error()))
		} else if n > 0 {
			f.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "events feed", slog.Int("events", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// feedHoldTimeout bounds how long a poller may sit in its lock-holding
// transaction without a statement (PostgreSQL's
// idle_in_transaction_session_timeout): a poller frozen past it loses the
// lock to another replica.
const feedHoldTimeout = 2 * time.Minute

// Poll reads every event after the cursor and handles each, unless another
// replica is polling (0, nil). It returns how many events it read. A poll
// that reads the feed to its end records its start as the feed's last
// complete poll (gusto_events_cursor.polled_at), what EmployeeWatch calls
// the feed's health.
func (f *Feed) Poll(ctx context.Context) (int, error) {
	n := 0
	// The advisory lock lives as long as this transaction, which stays
	// open (idle) while the events are fetched and handled: its idle
	// timeout is long enough for a drain, and ends a frozen poller's hold.
	err := postgres.InTx(ctx, f.cfg.DB, postgres.TxOptions{IdleTimeout: feedHoldTimeout}, func(tx *gorm.DB) error {
		var got bool
		if err := tx.Raw(`SELECT pg_try_advisory_xact_lock(?)`, int64(feedLock)).Scan(&got).Error; err != nil {
			return fmt.Errorf("gustoevents: feed lock: %w", err)
		}
		if !got {
			return nil
		}
		var err error
		if n, err = f.drain(ctx); err != nil {
			return err
		}
		// The feed was read to its end: every event Gusto listed before
		// this transaction began (now()) is in gusto_events (watch.go).
		if err := tx.Exec(`INSERT INTO gusto_events_cursor (id, starting_after, polled_at) VALUES (true, '', now())
			ON CONFLICT (id) DO UPDATE SET polled_at = now()`).Error; err != nil {
			return fmt.Errorf("gustoevents: record the poll: %w", err)
		}
		return nil
	})
	return n, err
}

func (f *Feed) drain(ctx context.Context) (int, error) {
	cursor, err := f.cfg.Store.Cursor(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		page, err := f.cfg.Events.Events(ctx, gusto.EventsQuery{StartingAfter: cursor, Limit: feedPage})
		var he *gusto.HTTPError
		if cursor != "" && errors.As(err, &he) && he.StatusCode == http.StatusUnprocessableEntity {
			// The cursor's event is older than Gusto keeps (30 days): read
			// everything kept again; the dedup table drops what was handled.
			f.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "events feed cursor refused; reading the whole feed again", slog.String("cursor", cursor))
			cursor = ""
			continue
		}
		if err != nil {
			return n, fmt.Errorf("gustoevents: list events: %w", err)
		}
		for _, e := range page {
			n++
			if _, err := f.cfg.Handler.Handle(ctx, e, SourceFeed); err != nil {
				var invalid *InvalidEventError
				if !errors.As(err, &invalid) {
					return n, err
				}
				f.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "events feed skipped an invalid event", slog.String("error", err.Error()))
			}
			if e.UUID != "" {
				if err := f.cfg.Store.setCursor(ctx, e.UUID); err != nil {
					return n, err
				}
				cursor = e.UUID
			}
		}
		if len(page) < feedPage {
			return n, nil
		}
	}
}
