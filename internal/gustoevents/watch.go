package gustoevents

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// EmployeeEventPrefixes are the event types that say a company's employee
// records (GET /v1/companies/{id}/employees, as gustosync stores them: the
// employee with its jobs, compensations and addresses) may have changed.
// Gusto's event catalogue (https://docs.gusto.com/app-integrations/docs/webhook-events):
//
//   - Employee Events: employee.created, .updated, .onboarded,
//     .marked_for_self_onboarding, .self_onboarding_completed, .terminated,
//     .terminated_effective, .termination_cancelled, .rehired,
//     .rehire_effective, .rehire_cancelled, .deleted, and whatever
//     employee.* Gusto adds (employee.payment_method_type_updated was);
//   - Employee Job Compensation Events: employee_job_compensation.*;
//   - Employee Home Address / Work Address Events:
//     employee_home_address.*, employee_work_address.*;
//   - Employee Benefit Events: employee_benefit.* (not in the stored
//     record; counted all the same, a prefix is cheaper than a doubt).
//
// Changes with no documented event (a department renamed, a compensation
// reaching its effective date, a location edited) are what the max age of
// a read (SYNC_EMPLOYEES_MAX_AGE) bounds.
var EmployeeEventPrefixes = []string{"employee.", "employee_"}

// ReconnectEvent also ends a company's quiet: the app's access to the
// company was (re)established, and while it was gone Gusto listed no event
// of the company for us, so the quiet before it says nothing.
const ReconnectEvent = "company.provisioned"

// Defaults of WatchOptions.
const (
	// DefaultFeedStale is WatchOptions.FeedStale's default: ten polls of
	// DefaultFeedPeriod.
	DefaultFeedStale = 5 * time.Minute
	// DefaultEventMargin is WatchOptions.Margin's default: far more than
	// the seconds by which Gusto's list may show a change after its event
	// (see the package comment of package jobs), a small part of an hourly
	// interval.
	DefaultEventMargin = 2 * time.Minute
)

// WatchOptions configures an EmployeeWatch. The zero value is usable.
type WatchOptions struct {
	// FeedStale: the events feed is healthy while its last complete poll
	// began less than FeedStale ago (SYNC_EVENTS_FEED_STALE). Default
	// DefaultFeedStale.
	FeedStale time.Duration
	// Margin: an employee event recorded up to Margin before a read began
	// still counts as newer than the read (see the package comment of
	// package jobs, "Employees on Gusto's word"). Zero means
	// DefaultEventMargin, negative no margin.
	Margin time.Duration
}

// EmployeeWatch says whether Gusto's events vouch that a company's
// employees are unchanged since a time: the events feed is healthy, and no
// employee event (EmployeeEventPrefixes) nor ReconnectEvent about the
// company was recorded since then (less the margin). It reads gusto_events and gusto_events_cursor, on PostgreSQL's
// clock, and writes nothing. It is safe for concurrent use.
//
// Only the feed can vouch: a webhook that does not come cannot be told
// from a webhook path that is down (a subscription lost, the intake
// unreachable past Gusto's retries), whereas a complete poll proves that
// every event Gusto listed before it was recorded. Webhooks make events
// arrive sooner; without the feed (GUSTO_EVENTS_FEED off) nothing is
// vouched for and every incremental sync reads every employee.
type EmployeeWatch struct {
	db   *gorm.DB
	opts WatchOptions
}

// NewEmployeeWatch returns the watch over db with o's defaults applied.
func NewEmployeeWatch(db *gorm.DB, o WatchOptions) *EmployeeWatch {
	if o.FeedStale <= 0 {
		o.FeedStale = DefaultFeedStale
	}
	if o.Margin < 0 {
		o.Margin = 0
	} else if o.Margin == 0 {
		o.Margin = DefaultEventMargin
	}
	return &EmployeeWatch{db: db, opts: o}
}

// EmployeesQuiet reports whether company's employees are unchanged since
// since (a time on PostgreSQL's clock) on the word of Gusto's events, and
// why not when they may have changed. An error means the question could
// not be asked: the caller reads the employees.
func (w *EmployeeWatch) EmployeesQuiet(ctx context.Context, company string, since time.Time) (bool, string, error) {
	var st struct {
		Polled  bool
		Healthy bool
		Events  int
	}
	err := w.db.WithContext(ctx).Raw(`
SELECT EXISTS (SELECT 1 FROM gusto_events_cursor WHERE polled_at IS NOT NULL) AS polled,
       EXISTS (SELECT 1 FROM gusto_events_cursor WHERE polled_at > now() - make_interval(secs => ?)) AS healthy,
       (SELECT count(*) FROM gusto_events
        WHERE company_uuid = ? AND claimed_at > ?::timestamptz - make_interval(secs => ?)
          AND (starts_with(event_type, ?) OR starts_with(event_type, ?) OR event_type = ?)) AS events`,
		w.opts.FeedStale.Seconds(), company, since, w.opts.Margin.Seconds(), EmployeeEventPrefixes[0], EmployeeEventPrefixes[1], ReconnectEvent).Scan(&st).Error
	if err != nil {
		return false, "", fmt.Errorf("gustoevents: employee events of %s: %w", company, err)
	}
	switch {
	case !st.Polled:
		return false, "the events feed has never completed a poll", nil
	case !st.Healthy:
		return false, fmt.Sprintf("the events feed has not completed a poll for %s (stale)", w.opts.FeedStale), nil
	case st.Events > 0:
		return false, fmt.Sprintf("%d employee or reconnection event(s) since the last read", st.Events), nil
	}
	return true, "", nil
}
