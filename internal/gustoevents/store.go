package gustoevents

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/tokens"
)

// staleClaim is how long a claim without handled_at holds: after it, the
// claimant is taken for dead and the event can be claimed again.
const staleClaim = time.Minute

// DedupWindow is how long a handled event's row must be kept for its
// claim to keep deduplicating (invariant 22): Gusto's events feed lists
// the last 30 days of events, and the feed reads all of them again when
// its cursor is refused, so an event can be seen again up to 30 days after
// it happened (and so after it was handled); a day more covers clock skew
// and a late webhook retry. Retention never deletes a younger row.
const DedupWindow = 31 * 24 * time.Hour

// Store is the package's PostgreSQL state. It is safe for concurrent use.
type Store struct {
	db   *gorm.DB
	keys *tokens.Keyring
}

// NewStore returns the store on db. keys seals and opens the webhook
// signing keys (webhookkeys.go), with TOKEN_ENCRYPTION_KEYS like the
// tokens; it may be nil for a store that never handles them (the
// scheduler's events feed): those methods then fail with an error saying
// so.
func NewStore(db *gorm.DB, keys *tokens.Keyring) *Store { return &Store{db: db, keys: keys} }

// Source says which path saw an event.
type Source string

// The sources.
const (
	SourceWebhook Source = "webhook"
	SourceFeed    Source = "feed"
)

// claim records e as being acted on and reports whether this caller owns
// it: true for a new uuid, or one whose earlier claimant died (no
// handled_at after staleClaim); false for an event acted on, or being acted
// on, by someone else.
func (s *Store) claim(ctx context.Context, e gusto.Event, src Source) (bool, error) {
	var company any
	if e.ResourceUUID != "" {
		company = e.ResourceUUID
	}
	var occurred any
	if e.Timestamp > 0 {
		occurred = time.Unix(e.Timestamp, 0).UTC()
	}
	var got []string
	err := s.db.WithContext(ctx).Raw(`INSERT INTO gusto_events (uuid, event_type, company_uuid, source, occurred_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (uuid) DO UPDATE SET claimed_at = now(), source = EXCLUDED.source
		WHERE gusto_events.handled_at IS NULL AND gusto_events.claimed_at < now() - make_interval(secs => ?)
		RETURNING uuid::text`, e.UUID, e.EventType, company, string(src), occurred, staleClaim.Seconds()).Scan(&got).Error
	if err != nil {
		return false, fmt.Errorf("gustoevents: claim event %s: %w", e.UUID, err)
	}
	return len(got) == 1, nil
}

// finish records what the claimant did.
func (s *Store) finish(ctx context.Context, id string, outcome Outcome) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE gusto_events SET handled_at = now(), outcome = ? WHERE uuid = ?`, string(outcome), id).Error
	if err != nil {
		return fmt.Errorf("gustoevents: finish event %s: %w", id, err)
	}
	return nil
}

// release drops a claim whose action failed, so the event is acted on
// when it comes again (a retried delivery, the next poll).
func (s *Store) release(ctx context.Context, id string) error {
	return s.db.WithContext(ctx).Exec(`DELETE FROM gusto_events WHERE uuid = ? AND handled_at IS NULL`, id).Error
}

// Handled reports whether event id was acted on, and how.
func (s *Store) Handled(ctx context.Context, id string) (Outcome, bool, error) {
	var rows []struct{ Outcome *string }
	if err := s.db.WithContext(ctx).Raw(`SELECT outcome FROM gusto_events WHERE uuid = ? AND handled_at IS NOT NULL`, id).Scan(&rows).Error; err != nil {
		return "", false, err
	}
	if len(rows) == 0 || rows[0].Outcome == nil {
		return "", false, nil
	}
	return Outcome(*rows[0].Outcome), true, nil
}

// Cursor is the uuid of the last event the feed handled ("" before the
// first).
func (s *Store) Cursor(ctx context.Context) (string, error) {
	var got []string
	if err := s.db.WithContext(ctx).Raw(`SELECT starting_after FROM gusto_events_cursor`).Scan(&got).Error; err != nil {
		return "", fmt.Errorf("gustoevents: read cursor: %w", err)
	}
	if len(got) == 0 {
		return "", nil
	}
	return got[0], nil
}

// setCursor moves the feed's cursor to id.
func (s *Store) setCursor(ctx context.Context, id string) error {
	err := s.db.WithContext(ctx).Exec(`INSERT INTO gusto_events_cursor (id, starting_after) VALUES (true, ?)
		ON CONFLICT (id) DO UPDATE SET starting_after = EXCLUDED.starting_after, updated_at = now()`, id).Error
	if err != nil {
		return fmt.Errorf("gustoevents: move cursor: %w", err)
	}
	return nil
}

// debounce takes company's sync slot: true when no event-driven sync was
// enqueued for it within period (the slot is then this caller's).
func (s *Store) debounce(ctx context.Context, company string, period time.Duration, now time.Time) (bool, error) {
	var got []string
	err := s.db.WithContext(ctx).Raw(`INSERT INTO gusto_event_syncs (company_uuid, last_enqueued_at) VALUES (?, ?)
		ON CONFLICT (company_uuid) DO UPDATE SET last_enqueued_at = EXCLUDED.last_enqueued_at
		WHERE gusto_event_syncs.last_enqueued_at <= EXCLUDED.last_enqueued_at - make_interval(secs => ?)
		RETURNING company_uuid::text`, company, now, period.Seconds()).Scan(&got).Error
	if err != nil {
		return false, fmt.Errorf("gustoevents: debounce sync of %s: %w", company, err)
	}
	return len(got) == 1, nil
}

// undebounce gives the slot back after a failed enqueue.
func (s *Store) undebounce(ctx context.Context, company string, at time.Time) error {
	return s.db.WithContext(ctx).Exec(`DELETE FROM gusto_event_syncs WHERE company_uuid = ? AND last_enqueued_at = ?`, company, at).Error
}
