package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/backoff"
	"github.com/gustosync/gustosync/internal/postgres"
)

// Config configures a Dispatcher. Zero values take the defaults named on each
// field; NewDispatcher validates it once.
type Config struct {
	// URL is the webhook endpoint (http or https). Required. It never appears
	// in a log line or a stored error: webhook URLs often embed a secret.
	URL string
	// Secret signs every body. Required.
	Secret []byte
	// HTTPClient sends the requests; default a client with Timeout. Redirects
	// are not followed: a 3xx is a failed attempt.
	HTTPClient *http.Client
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout time.Duration
	// Poll is how often Run looks for due events. Default 5s.
	Poll time.Duration
	// MaxAttempts is how many attempts an event gets before it is marked
	// failed. Default 20 (with the default backoff, 9 to 19 hours of retries).
	MaxAttempts int
	// Backoff is the wait after a failed attempt: the receiver's
	// Retry-After when it sent one, otherwise the policy's schedule (see
	// backoff.Policy). Default: waits of up to 5 s, 10 s, 20 s, … capped at
	// 2 h.
	Backoff backoff.Policy
	// Expire drops (status expired) events older than this instead of
	// sending them, so enabling alerts on an old database does not replay
	// stale transitions. Default 72h.
	Expire time.Duration
	// Now is the clock deciding due and expired events; default time.Now.
	Now func() time.Time
	// Logger receives one line per delivery and per failure. Default slog.Default().
	Logger *slog.Logger
}

// defaultBackoff is the default Config.Backoff: waits of up to 5 s, 10 s,
// 20 s, … capped at 2 h, each between half and all of that.
var defaultBackoff = backoff.Policy{Base: 5 * time.Second, Max: 2 * time.Hour}

func (c *Config) setDefaults() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("alerts: URL must be an http:// or https:// URL")
	}
	if len(c.Secret) == 0 {
		return errors.New("alerts: Secret is required")
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.Timeout}
	}
	client := *c.HTTPClient
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.HTTPClient = &client
	if c.Poll <= 0 {
		c.Poll = 5 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 20
	}
	if c.Backoff == (backoff.Policy{}) {
		c.Backoff = defaultBackoff
	}
	if err := c.Backoff.Validate(); err != nil {
		return fmt.Errorf("alerts: Backoff: %w", err)
	}
	if c.Expire <= 0 {
		c.Expire = 72 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Dispatcher delivers the alert outbox to the webhook. It is safe for
// concurrent use, and any number of Dispatchers (scheduler replicas) may run
// over one database: each row is claimed by one of them at a time.
type Dispatcher struct {
	db  *gorm.DB
	cfg Config
	tx  postgres.TxOptions
}

// NewDispatcher returns a Dispatcher delivering db's alert_outbox per cfg
// (db: see postgres.Open).
func NewDispatcher(db *gorm.DB, cfg Config) (*Dispatcher, error) {
	if db == nil {
		return nil, errors.New("alerts: NewDispatcher needs a database")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	// The transaction idles while the request is in flight (at most
	// Timeout): its idle timeout leaves room for that, and still ends the
	// session of a dispatcher frozen mid-delivery, releasing the row.
	tx := postgres.TxOptions{IdleTimeout: cfg.Timeout + postgres.DefaultIdleTimeout}
	return &Dispatcher{db: db, cfg: cfg, tx: tx}, nil
}

// Run delivers due events at once and then every Config.Poll until ctx ends;
// it returns nil when ctx ends. Failures are logged and retried later.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := d.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Logger.Error("alert delivery failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Stats counts what one DeliverDue call did.
type Stats struct {
	// Delivered events got a 2xx answer.
	Delivered int
	// Retrying events failed this attempt and are scheduled again.
	Retrying int
	// Failed events used their last attempt.
	Failed int
	// Expired events were too old to send.
	Expired int
}

// maxPerCall bounds one DeliverDue call, so Run notices ctx between batches.
const maxPerCall = 1000

// DeliverDue attempts every event that is due now, one at a time, each in its
// own transaction that holds the row's lock (FOR UPDATE SKIP LOCKED) while
// the request is in flight, and returns what happened. A receiver's failure
// is not an error: the event is rescheduled. The error is a database failure.
func (d *Dispatcher) DeliverDue(ctx context.Context) (Stats, error) {
	var st Stats
	for range maxPerCall {
		outcome, err := d.deliverOne(ctx)
		if err != nil || outcome == outcomeNone {
			return st, err
		}
		switch outcome {
		case outcomeDelivered:
			st.Delivered++
		case outcomeRetrying:
			st.Retrying++
		case outcomeFailed:
			st.Failed++
		case outcomeExpired:
			st.Expired++
		}
	}
	return st, nil
}

type outcome int

const (
	outcomeNone outcome = iota
	outcomeDelivered
	outcomeRetrying
	outcomeFailed
	outcomeExpired
)

// deliverOne claims the next due event, attempts it, and records the result
// before releasing the row.
func (d *Dispatcher) deliverOne(ctx context.Context) (outcome, error) {
	var (
		out      = outcomeNone
		ev       Event
		attempts int
		sendErr  error
	)
	err := postgres.InTx(ctx, d.db, d.tx, func(tx *gorm.DB) error {
		now := d.cfg.Now()
		var due []struct {
			ID             int64
			EventID        string
			Kind           string
			CompanyUUID    string
			PreviousStatus string
			Reason         string
			OccurredAt     time.Time
			Attempts       int
		}
		err := tx.Raw(`
			SELECT id, event_id::text, kind, COALESCE(company_uuid::text, '') AS company_uuid, previous_status, reason, occurred_at, attempts
			FROM alert_outbox
			WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
			ORDER BY next_attempt_at NULLS FIRST, id
			LIMIT 1
			FOR UPDATE SKIP LOCKED`, now).Scan(&due).Error
		if err != nil {
			return fmt.Errorf("claim event: %w", err)
		}
		if len(due) == 0 {
			return nil
		}
		row := due[0]
		ev = Event{ID: row.EventID, Type: row.Kind, CompanyUUID: row.CompanyUUID, PreviousStatus: row.PreviousStatus,
			Reason: row.Reason, OccurredAt: row.OccurredAt}

		if now.Sub(ev.OccurredAt) > d.cfg.Expire {
			if err := tx.Exec(`UPDATE alert_outbox SET status = 'expired', last_error = ? WHERE id = ?`,
				"older than "+d.cfg.Expire.String()+" when first due", row.ID).Error; err != nil {
				return fmt.Errorf("expire event %s: %w", ev.ID, err)
			}
			out = outcomeExpired
			return nil
		}

		attempts = row.Attempts + 1
		var retryAfter time.Duration
		retryAfter, sendErr = d.send(ctx, ev, attempts)
		switch {
		case sendErr == nil:
			err = tx.Exec(`
				UPDATE alert_outbox SET status = 'delivered', attempts = ?, delivered_at = ?, last_error = ''
				WHERE id = ?`, attempts, now, row.ID).Error
			out = outcomeDelivered
		case attempts >= d.cfg.MaxAttempts:
			err = tx.Exec(`
				UPDATE alert_outbox SET status = 'failed', attempts = ?, last_error = ? WHERE id = ?`,
				attempts, sendErr.Error(), row.ID).Error
			out = outcomeFailed
		default:
			wait := d.cfg.Backoff.Delay(attempts, retryAfter)
			err = tx.Exec(`
				UPDATE alert_outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?`,
				attempts, sendErr.Error(), now.Add(wait), row.ID).Error
			out = outcomeRetrying
		}
		if err != nil {
			return fmt.Errorf("record attempt of event %s: %w", ev.ID, err)
		}
		return nil
	})
	if err != nil {
		return outcomeNone, fmt.Errorf("alerts: %w", err)
	}
	switch out {
	case outcomeNone:
		return out, nil
	case outcomeExpired:
		d.cfg.Logger.Warn("alert expired unsent", "event", ev.ID, "company", ev.CompanyUUID, "type", ev.Type)
		return out, nil
	}
	log := d.cfg.Logger.With("event", ev.ID, "company", ev.CompanyUUID, "type", ev.Type, "attempt", attempts)
	switch out {
	case outcomeDelivered:
		log.Info("alert delivered")
	case outcomeFailed:
		log.Error("alert failed, giving up", "error", sendErr)
	default:
		log.Warn("alert attempt failed, will retry", "error", sendErr)
	}
	return out, nil
}

// DeliveryError is a failed delivery attempt: the receiver answered non-2xx,
// or could not be reached. It never holds the webhook URL.
type DeliveryError struct {
	// StatusCode is the receiver's answer, 0 when there was none.
	StatusCode int
	// Err is the transport failure when StatusCode is 0.
	Err error
}

func (e *DeliveryError) Error() string {
	if e.StatusCode != 0 {
		return "webhook answered " + strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
	}
	return "webhook unreachable: " + e.Err.Error()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// send POSTs one signed event and returns the receiver's Retry-After on failure.
func (d *Dispatcher) send(ctx context.Context, ev Event, attempt int) (time.Duration, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, &DeliveryError{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, &DeliveryError{Err: errors.New("bad webhook URL")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gustosync-alerts/1")
	req.Header.Set(SignatureHeader, Sign(d.cfg.Secret, body, d.cfg.Now()))
	req.Header.Set(EventIDHeader, ev.ID)
	req.Header.Set(EventTypeHeader, ev.Type)
	req.Header.Set(AttemptHeader, strconv.Itoa(attempt))
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		// *url.Error quotes the URL; keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, &DeliveryError{Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	return retryAfter(resp.Header.Get("Retry-After"), d.cfg.Now()), &DeliveryError{StatusCode: resp.StatusCode}
}

// retryAfter parses a Retry-After header (seconds or an HTTP date), capped at a day.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, 24*time.Hour))
}
