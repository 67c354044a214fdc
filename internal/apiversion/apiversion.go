package apiversion

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// DefaultRecent is how long after its last sighting an uncleared refusal is
// still reported by Current. Workers whose version is refused retry every few
// minutes and record each refusal, so a refusal not seen for this long is one
// no running worker sends any more (a rollout replaced it).
const DefaultRecent = 15 * time.Minute

// Rejection is Gusto refusing one API version.
type Rejection struct {
	// Version is the X-Gusto-API-Version Gusto refused.
	Version string
	// Message is Gusto's message, as sanitized by the client.
	Message string
	// Worker is the worker that saw the latest refusal.
	Worker string
	// Rejections counts the refusals recorded.
	Rejections int64
	// FirstSeen and LastSeen bound the refusals (the database's clock).
	FirstSeen, LastSeen time.Time
}

// Advice is the one line operators see: what Gusto refuses and what to do.
func (r Rejection) Advice() string {
	return fmt.Sprintf("Gusto refuses API version %s (406 Not Acceptable, %d times, last %s by %s): set GUSTO_API_VERSION to a version Gusto supports and restart the workers",
		r.Version, r.Rejections, r.LastSeen.UTC().Format(time.RFC3339), r.Worker)
}

// Store reads and writes gusto_api_version_rejections. It is safe for
// concurrent use.
type Store struct {
	db     *gorm.DB
	recent time.Duration
	// clean is true once this process has cleared its version after a
	// success, so that later successes cost no statement; Rejected resets it.
	clean atomic.Bool
}

// NewStore returns a Store over db. recent is DefaultRecent when zero.
func NewStore(db *gorm.DB, recent time.Duration) *Store {
	if recent <= 0 {
		recent = DefaultRecent
	}
	return &Store{db: db, recent: recent}
}

// Rejected records that Gusto refused version (406), with Gusto's message
// (already sanitized: never a token) and the worker that saw it. The first
// refusal of a version, or the first after it was cleared, alerts once
// (through the outbox trigger).
func (s *Store) Rejected(ctx context.Context, version, message, worker string) error {
	s.clean.Store(false)
	err := s.db.WithContext(ctx).Exec(`
INSERT INTO gusto_api_version_rejections AS r (version, message, worker)
VALUES (?, ?, ?)
ON CONFLICT (version) DO UPDATE SET
    message = excluded.message, worker = excluded.worker,
    rejections = r.rejections + 1, last_seen_at = now(), cleared_at = NULL`,
		version, message, worker).Error
	if err != nil {
		return fmt.Errorf("apiversion: record refusal of %s: %w", version, err)
	}
	return nil
}

// Accepted records that a request with version succeeded: a refusal of it,
// if any, is cleared. After the first call that succeeds it costs nothing
// until the next Rejected.
func (s *Store) Accepted(ctx context.Context, version string) error {
	if s.clean.Load() {
		return nil
	}
	err := s.db.WithContext(ctx).Exec(
		`UPDATE gusto_api_version_rejections SET cleared_at = now() WHERE version = ? AND cleared_at IS NULL`, version).Error
	if err != nil {
		return fmt.Errorf("apiversion: clear refusal of %s: %w", version, err)
	}
	s.clean.Store(true)
	return nil
}

// Current returns the refusals not cleared and seen within the recent
// window, newest first.
func (s *Store) Current(ctx context.Context) ([]Rejection, error) {
	var rows []struct {
		Version, Message, Worker string
		Rejections               int64
		FirstSeenAt, LastSeenAt  time.Time
	}
	err := s.db.WithContext(ctx).Raw(`
SELECT version, message, worker, rejections, first_seen_at, last_seen_at
FROM gusto_api_version_rejections
WHERE cleared_at IS NULL AND last_seen_at > now() - make_interval(secs => ?)
ORDER BY last_seen_at DESC`, s.recent.Seconds()).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("apiversion: read refusals: %w", err)
	}
	out := make([]Rejection, len(rows))
	for i, r := range rows {
		out[i] = Rejection{Version: r.Version, Message: r.Message, Worker: r.Worker, Rejections: r.Rejections,
			FirstSeen: r.FirstSeenAt, LastSeen: r.LastSeenAt}
	}
	return out, nil
}
