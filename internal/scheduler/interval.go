package scheduler

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Bounds of a company's own sync interval (SetInterval).
const (
	// MinInterval is the shortest: a sync of a large company can take
	// minutes, and each sync costs Gusto requests out of the grant's
	// 200 per minute.
	MinInterval = time.Minute
	// MaxInterval is the longest: a company synced less often than weekly
	// would be stale by any freshness measure the operators alert on.
	MaxInterval = 7 * 24 * time.Hour
)

// IntervalError refuses an interval outside [MinInterval, MaxInterval] or
// not a whole number of seconds.
type IntervalError struct {
	// Interval is the interval asked for.
	Interval time.Duration
	// Reason says what is wrong with it.
	Reason string
}

func (e *IntervalError) Error() string {
	return fmt.Sprintf("interval %s: %s", e.Interval, e.Reason)
}

// CheckInterval returns an *IntervalError unless d is a whole number of
// seconds within [MinInterval, MaxInterval].
func CheckInterval(d time.Duration) error {
	switch {
	case d < MinInterval:
		return &IntervalError{Interval: d, Reason: fmt.Sprintf("shorter than the minimum %s", MinInterval)}
	case d > MaxInterval:
		return &IntervalError{Interval: d, Reason: fmt.Sprintf("longer than the maximum %s", MaxInterval)}
	case d%time.Second != 0:
		return &IntervalError{Interval: d, Reason: "want a whole number of seconds"}
	}
	return nil
}

// SetInterval sets how often company is synced (company_schedules, the
// scheduler's table); zero returns it to the scheduler's default
// (SYNC_INTERVAL). A non-zero d must pass CheckInterval. The company's next
// window opens no later than one new interval from now (a shorter interval
// takes effect at once; a longer one after the window already planned). It
// returns *UnknownCompanyError for a company that is not onboarded.
func SetInterval(ctx context.Context, db *gorm.DB, company string, d time.Duration) error {
	var secs any // NULL: the default
	if d != 0 {
		if err := CheckInterval(d); err != nil {
			return err
		}
		secs = int64(d / time.Second)
	}
	// The join on gusto_auth_tokens (the row company_schedules references)
	// makes an unknown company a zero-row insert, not a foreign-key error.
	res := db.WithContext(ctx).Exec(`
		INSERT INTO company_schedules AS s (company_uuid, interval_seconds, updated_at)
		SELECT t.company_uuid, ?::integer, now() FROM gusto_auth_tokens t WHERE t.company_uuid = ?
		ON CONFLICT (company_uuid) DO UPDATE SET
			interval_seconds = EXCLUDED.interval_seconds,
			next_due_at = CASE WHEN EXCLUDED.interval_seconds IS NULL THEN s.next_due_at
			                   ELSE LEAST(s.next_due_at, now() + make_interval(secs => EXCLUDED.interval_seconds)) END,
			updated_at = now()`, secs, company)
	if res.Error != nil {
		return fmt.Errorf("scheduler: set the interval of company %s: %w", company, res.Error)
	}
	if res.RowsAffected == 0 {
		return &UnknownCompanyError{Company: company}
	}
	return nil
}
