package gustoevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/tokens"
)

// Outcome is what handling an event did (gusto_events.outcome, and the
// outcome label of the events metric).
type Outcome string

// The outcomes.
const (
	// OutcomeNeedsReauth: company.deprovisioned made the company needs_reauth.
	OutcomeNeedsReauth Outcome = "needs_reauth"
	// OutcomeAlreadyReauth: company.deprovisioned for a company that was
	// not active or paused (already needs_reauth): nothing changed.
	OutcomeAlreadyReauth Outcome = "already_needs_reauth"
	// OutcomeNoted: company.provisioned for a company we sync.
	OutcomeNoted Outcome = "noted"
	// OutcomeSync: a data event enqueued a sync of its company.
	OutcomeSync Outcome = "sync"
	// OutcomeDebounced: a data event within SyncDebounce of the last
	// event-driven sync of its company: nothing enqueued.
	OutcomeDebounced Outcome = "debounced"
	// OutcomeSkipped: a data event for a company that is not synced now
	// (not active).
	OutcomeSkipped Outcome = "skipped"
	// OutcomeUnknownCompany: an event about a company we do not know.
	OutcomeUnknownCompany Outcome = "unknown_company"
	// OutcomeUnknownEvent: an event type we do not act on.
	OutcomeUnknownEvent Outcome = "unknown_event"
	// OutcomeDuplicate: an event already acted on (or being acted on).
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeTooOld: an event that happened longer than DedupWindow ago
	// (a replayed old body): its claim may have been pruned (package
	// retention), so it is not acted on.
	OutcomeTooOld Outcome = "too_old"
)

// ErrSkipped is what Config.Sync returns for a company it does not sync
// now (not active): the event is handled, nothing is enqueued.
var ErrSkipped = errors.New("gustoevents: company not synced now")

// ErrUnknownCompany is what Config.Sync returns for a company that is not
// onboarded.
var ErrUnknownCompany = errors.New("gustoevents: unknown company")

// Revoker marks a company needs_reauth on Gusto's word
// (*tokens.Store.MarkDeprovisioned).
type Revoker interface {
	MarkDeprovisioned(ctx context.Context, company, reason, worker string) (bool, error)
}

// Config configures a Handler.
type Config struct {
	// Store is required.
	Store *Store
	// Revoker is required.
	Revoker Revoker
	// Sync enqueues a sync of company now (the scheduler's
	// EnqueueCompany); ErrSkipped and ErrUnknownCompany are outcomes, any
	// other error is a failure (the event is acted on when it comes again).
	// Nil: data events are only recorded (OutcomeSkipped).
	Sync func(ctx context.Context, company string) error
	// Known reports whether company is onboarded (company.provisioned is
	// noted only for those). Nil: every company is taken as known.
	Known func(ctx context.Context, company string) (bool, error)
	// SyncDebounce is the least time between two event-driven syncs of one
	// company. Default DefaultSyncDebounce.
	SyncDebounce time.Duration
	// By names this process in audit rows (worker column).
	By string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger default: discard.
	Logger *slog.Logger
	// Metrics, when set, count events by source and outcome.
	Metrics *Metrics
}

// DefaultSyncDebounce is Config.SyncDebounce's default.
const DefaultSyncDebounce = 5 * time.Minute

// Handler acts on events, each once. It is safe for concurrent use.
type Handler struct {
	cfg Config
}

// NewHandler validates cfg and applies its defaults.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Revoker == nil {
		return nil, errors.New("gustoevents: NewHandler needs a Store and a Revoker")
	}
	if cfg.SyncDebounce <= 0 {
		cfg.SyncDebounce = DefaultSyncDebounce
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg}, nil
}

// Metrics counts events.
type Metrics struct {
	events *prometheus.CounterVec
}

// NewMetrics registers gustosync_gusto_events_total{source,outcome} on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gustosync_gusto_events_total",
		Help: "Gusto events received, by source (webhook, feed) and outcome (what was done; duplicate when already acted on).",
	}, []string{"source", "outcome"})}
	if reg != nil {
		if err := reg.Register(m.events); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// InvalidEventError is an event missing what acting on it needs.
type InvalidEventError struct{ Reason string }

func (e *InvalidEventError) Error() string { return "gustoevents: invalid event: " + e.Reason }

// Handle acts on e once, whichever source sees it first, and returns what
// it did (OutcomeDuplicate when another delivery or the other path already
// did). An error means nothing was done and the event is left for its next
// delivery; an *InvalidEventError is an event that can never be acted on.
func (h *Handler) Handle(ctx context.Context, e gusto.Event, src Source) (Outcome, error) {
	if err := validate(&e); err != nil {
		return "", err
	}
	if e.Timestamp > 0 && h.cfg.Now().Sub(time.Unix(e.Timestamp, 0)) > DedupWindow {
		// Older than any claim is kept for: acting could repeat what its
		// pruned claim once recorded (invariant 22).
		h.count(src, OutcomeTooOld)
		return OutcomeTooOld, nil
	}
	claimed, err := h.cfg.Store.claim(ctx, e, src)
	if err != nil {
		return "", err
	}
	if !claimed {
		h.count(src, OutcomeDuplicate)
		return OutcomeDuplicate, nil
	}
	out, err := h.act(ctx, e)
	if err != nil {
		if rerr := h.cfg.Store.release(context.WithoutCancel(ctx), e.UUID); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return "", err
	}
	if err := h.cfg.Store.finish(context.WithoutCancel(ctx), e.UUID, out); err != nil {
		return "", err
	}
	h.count(src, out)
	h.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "gusto event", slog.String("event", e.UUID), slog.String("type", e.EventType),
		slog.String("company", e.ResourceUUID), slog.String("source", string(src)), slog.String("outcome", string(out)))
	return out, nil
}

func (h *Handler) count(src Source, out Outcome) {
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.events.WithLabelValues(string(src), string(out)).Inc()
	}
}

// validate checks the fields acting needs and canonicalizes the uuids.
func validate(e *gusto.Event) error {
	id, err := canonicalUUID(e.UUID)
	if err != nil {
		return &InvalidEventError{Reason: "uuid is not a uuid"}
	}
	e.UUID = id
	if e.EventType == "" {
		return &InvalidEventError{Reason: "event_type is missing"}
	}
	if e.ResourceUUID != "" {
		c, err := canonicalUUID(e.ResourceUUID)
		if err != nil {
			return &InvalidEventError{Reason: "resource_uuid is not a uuid"}
		}
		e.ResourceUUID = c
	}
	return nil
}

// dataPrefixes are the event families that start a sync.
var dataPrefixes = []string{"employee.", "payroll.", "external_payroll."}

func (h *Handler) act(ctx context.Context, e gusto.Event) (Outcome, error) {
	switch {
	case e.EventType == "company.deprovisioned":
		if e.ResourceUUID == "" {
			return OutcomeUnknownCompany, nil
		}
		reason := "Gusto reported company.deprovisioned (event " + e.UUID + "): the app's access to the company was removed"
		marked, err := h.cfg.Revoker.MarkDeprovisioned(ctx, e.ResourceUUID, reason, h.cfg.By)
		var nf *tokens.NotFoundError
		switch {
		case errors.As(err, &nf):
			return OutcomeUnknownCompany, nil
		case err != nil:
			return "", fmt.Errorf("gustoevents: mark %s needs_reauth: %w", e.ResourceUUID, err)
		case marked:
			h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "company needs re-authorization: Gusto reported its access removed",
				slog.String("company", e.ResourceUUID), slog.String("event", e.UUID))
			return OutcomeNeedsReauth, nil
		}
		return OutcomeAlreadyReauth, nil
	case e.EventType == "company.provisioned":
		if e.ResourceUUID == "" {
			return OutcomeUnknownCompany, nil
		}
		if h.cfg.Known != nil {
			known, err := h.cfg.Known(ctx, e.ResourceUUID)
			if err != nil {
				return "", fmt.Errorf("gustoevents: look up %s: %w", e.ResourceUUID, err)
			}
			if !known {
				return OutcomeUnknownCompany, nil
			}
		}
		h.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "Gusto reported the company connected", slog.String("company", e.ResourceUUID), slog.String("event", e.UUID))
		return OutcomeNoted, nil
	case hasDataPrefix(e.EventType):
		if e.ResourceUUID == "" {
			return OutcomeUnknownCompany, nil
		}
		return h.sync(ctx, e.ResourceUUID)
	}
	return OutcomeUnknownEvent, nil
}

func hasDataPrefix(t string) bool {
	for _, p := range dataPrefixes {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// sync enqueues a sync of company unless one was enqueued within
// SyncDebounce.
func (h *Handler) sync(ctx context.Context, company string) (Outcome, error) {
	if h.cfg.Sync == nil {
		return OutcomeSkipped, nil
	}
	now := h.cfg.Now().UTC().Truncate(time.Microsecond)
	ok, err := h.cfg.Store.debounce(ctx, company, h.cfg.SyncDebounce, now)
	if err != nil {
		return "", err
	}
	if !ok {
		return OutcomeDebounced, nil
	}
	err = h.cfg.Sync(ctx, company)
	switch {
	case err == nil:
		return OutcomeSync, nil
	case errors.Is(err, ErrSkipped):
		return OutcomeSkipped, nil
	case errors.Is(err, ErrUnknownCompany):
		return OutcomeUnknownCompany, nil
	}
	if uerr := h.cfg.Store.undebounce(context.WithoutCancel(ctx), company, now); uerr != nil {
		err = errors.Join(err, uerr)
	}
	return "", fmt.Errorf("gustoevents: sync %s: %w", company, err)
}
