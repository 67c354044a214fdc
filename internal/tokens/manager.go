package tokens

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/backoff"
	"github.com/gustosync/gustosync/internal/gusto"
)

// Refresher exchanges a refresh token for a new pair at Gusto's token
// endpoint. (*gusto.Client).RefreshToken implements it. It must not retry
// internally: a retried refresh may replay a refresh token Gusto already
// rotated, and some providers revoke the whole grant on a replay.
type Refresher interface {
	RefreshToken(ctx context.Context, refreshToken string) (gusto.Token, error)
}

// RefreshBudget grants token refreshes within a fleet-wide rate, the token
// closest to expiry first. (*refreshbudget.Budget).Admit implements it.
type RefreshBudget interface {
	// Admit returns 0 when company's refresh may be sent now (the slot is
	// taken), else how long to wait before asking again. expires is when
	// the company's token expires (its priority: earliest first).
	Admit(ctx context.Context, company string, expires time.Time) (time.Duration, error)
}

// Defaults applied by New when the corresponding Config field is zero.
const (
	DefaultRefreshAhead    = 5 * time.Minute
	DefaultRefreshTimeout  = 30 * time.Second
	DefaultInvalidateGrace = 30 * time.Second
	// DefaultStatusRecheck is Config.StatusRecheck's default.
	DefaultStatusRecheck = 5 * time.Second
)

// lockKeyPrefix prefixes the per-company redsync mutex key.
const lockKeyPrefix = "gustosync:tokens:refresh-lock:"

// Config configures a Manager. Zero values of optional fields take the
// documented defaults; New validates the whole once.
type Config struct {
	// Store holds the tokens. Required.
	Store *Store
	// Refresher calls Gusto's token endpoint. Required.
	Refresher Refresher
	// Redis holds the per-company refresh locks. Required. The manager never
	// refreshes without the lock: if Redis is down, a stale token cannot be
	// refreshed (a *LockError), while fresh tokens keep being served.
	Redis redis.UniversalClient

	// WorkerID identifies this process in token_refresh_events and logs.
	// Required: the binary's configuration defaults it (config.Worker.ID).
	WorkerID string
	// RefreshAhead is the refresh-ahead window (TOKEN_REFRESH_AHEAD), capped
	// to a fifth of a token's lifetime. Default 5 min.
	RefreshAhead time.Duration
	// RefreshTimeout bounds one token request. Default 30 s.
	RefreshTimeout time.Duration
	// LockExpiry is the refresh lock's expiry; it must be longer than
	// RefreshTimeout, so a live holder keeps the lock through a call. Default
	// 2×RefreshTimeout.
	LockExpiry time.Duration
	// LockWait bounds how long a caller waits for another worker's refresh
	// (polling the row, not the lock) before giving up with a *LockError.
	// Default LockExpiry + RefreshTimeout.
	LockWait time.Duration
	// Backoff is the schedule of retries of transient token-endpoint
	// failures (429, 5xx, timeouts; invariant 5): a failed attempt waits
	// Gusto's Retry-After when it sent one, otherwise the policy's
	// exponential backoff with jitter (see backoff.Policy). Default Base 2 s,
	// Max 30 s: about 2 s, 4 s, 8 s.
	Backoff backoff.Policy
	// RefreshAttempts is the number of token requests one refresh makes
	// before it gives up with a *RefreshError (the company keeps its
	// status). Default 4.
	RefreshAttempts int
	// InvalidateGrace ignores Invalidate for a token issued less than this
	// long ago (capped to a tenth of its lifetime), so that an endpoint that
	// keeps answering 401 (a missing scope) cannot trigger a refresh per
	// request. Default 30 s.
	InvalidateGrace time.Duration
	// StatusRecheck is how long a cached token is handed out before the
	// company's row is read again: a pause, a needs_reauth or a
	// missing_scope written by another process (an operator's command, a
	// sibling worker) stops this one from using the company's token within
	// it. Default DefaultStatusRecheck: one read per company in use per
	// period.
	StatusRecheck time.Duration
	// Now is the local clock. Default time.Now.
	Now func() time.Time
	// Logger receives structured logs with the company uuid, never a token.
	// Default: discard.
	Logger *slog.Logger
	// Budget, when set, is the fleet-wide refresh budget (TOKEN_REFRESH_RATE,
	// package refreshbudget): a refresh is sent only when it grants a slot.
	// A deferred refresh of a token that has not expired hands out the
	// current token until it asks again; an expired (or refused) token's
	// refresh waits for its slot, which comes first (the budget serves the
	// token closest to expiry first). If the budget cannot answer (Redis
	// down), the refresh goes ahead: a token must not expire for want of a
	// rate limiter. Default nil: no budget.
	Budget RefreshBudget
	// Metrics, when set, receives the manager's metrics (see NewMetrics).
	Metrics *Metrics
	// Hooks are for tests and the chaos suite only.
	Hooks Hooks
}

// Hooks let tests stop the manager at the points where crashes and pauses
// matter. Each is called from the goroutine doing the refresh; nil hooks are
// skipped.
type Hooks struct {
	// BeforeRefresh runs under the lock, after the double-check found the
	// row stale and before the token request: block here past the lock's
	// expiry to test a holder that presents a refresh token a sibling has
	// rotated meanwhile.
	BeforeRefresh func(company string)
	// AfterRefreshBeforeCommit runs after Gusto issued a new pair and before
	// the pair is committed: kill the process here to test a crash between
	// refresh and commit, or block here to test a paused lock holder.
	AfterRefreshBeforeCommit func(company string)
}

// Manager hands out access tokens for companies and refreshes them safely
// across processes: it implements gusto.TokenSource and gusto.Invalidator.
// It is safe for concurrent use.
//
// AccessToken's fast path is a read of an in-process cache; the slow path
// (a stale or unknown token, or one whose company's status was read more
// than StatusRecheck ago) reads PostgreSQL and, when a refresh is due,
// coalesces callers per company in the process, takes a redsync mutex per
// company, re-reads the row, refreshes only if still stale, commits with a
// version compare-and-swap and only then hands the token out (refresh.go).
type Manager struct {
	store     *Store
	refresher Refresher
	rs        *redsync.Redsync
	cfg       Config
	log       *slog.Logger
	metrics   *Metrics
	now       func() time.Time

	mu    sync.RWMutex
	cache map[string]*cached

	fmu     sync.Mutex
	flights map[string]*flight

	skew         atomic.Int64 // nanoseconds; Gusto's clock minus ours (gusto.Client.Skew)
	skewMeasured atomic.Bool

	// afterStaleRead, for this package's tests, runs when a flight found the
	// row stale, before it takes the lock.
	afterStaleRead func(company string)
	// beforeSend, for this package's tests, runs after the send fence was
	// passed and right before the token request.
	beforeSend func(company string)
	// claimRefused, for this package's tests, runs when the send fence found
	// another sender's live claim on the version.
	claimRefused func(company string)
	// commitBlocked, for this package's tests, runs when a commit found
	// another sender's live claim on its version.
	commitBlocked func(company string)
}

// cached is an access token the fast path may hand out until refreshAt
// (Gusto's clock, unix nanoseconds) and until recheckAt (the local clock,
// unix nanoseconds: StatusRecheck after the row was read). Immutable once
// stored.
type cached struct {
	token     string
	version   int64
	refreshAt int64
	recheckAt int64
}

// handOut reports whether the fast path may hand out e's token now: not
// yet due for a refresh, and its company's status read recently enough.
func (m *Manager) handOut(e *cached) bool {
	now := m.now().UnixNano()
	return e != nil && now+m.skew.Load() < e.refreshAt && now < e.recheckAt
}

// New validates cfg, applies defaults and returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("tokens: config: Store is required")
	}
	if cfg.Refresher == nil {
		return nil, errors.New("tokens: config: Refresher is required")
	}
	if cfg.Redis == nil {
		return nil, errors.New("tokens: config: Redis is required (refresh lock)")
	}
	if cfg.WorkerID == "" {
		return nil, errors.New("tokens: config: WorkerID is required (it names this process in the audit trail)")
	}
	if cfg.RefreshAhead == 0 {
		cfg.RefreshAhead = DefaultRefreshAhead
	}
	if cfg.RefreshTimeout == 0 {
		cfg.RefreshTimeout = DefaultRefreshTimeout
	}
	if cfg.LockExpiry == 0 {
		cfg.LockExpiry = 2 * cfg.RefreshTimeout
	}
	if cfg.LockWait == 0 {
		cfg.LockWait = cfg.LockExpiry + cfg.RefreshTimeout
	}
	if cfg.Backoff.Base == 0 {
		cfg.Backoff.Base = 2 * time.Second
	}
	if cfg.Backoff.Max == 0 {
		cfg.Backoff.Max = 30 * time.Second
	}
	if cfg.RefreshAttempts == 0 {
		cfg.RefreshAttempts = 4
	}
	if cfg.InvalidateGrace == 0 {
		cfg.InvalidateGrace = DefaultInvalidateGrace
	}
	if cfg.StatusRecheck == 0 {
		cfg.StatusRecheck = DefaultStatusRecheck
	}
	switch {
	case cfg.RefreshAhead < 0 || cfg.RefreshTimeout < 0 || cfg.LockWait < 0 || cfg.InvalidateGrace < 0 || cfg.StatusRecheck < 0:
		return nil, errors.New("tokens: config: durations must not be negative")
	case cfg.LockExpiry <= cfg.RefreshTimeout:
		return nil, fmt.Errorf("tokens: config: LockExpiry (%s) must be longer than RefreshTimeout (%s)", cfg.LockExpiry, cfg.RefreshTimeout)
	case cfg.RefreshAttempts < 1:
		return nil, errors.New("tokens: config: RefreshAttempts must be at least 1")
	}
	if err := cfg.Backoff.Validate(); err != nil {
		return nil, fmt.Errorf("tokens: config: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		store:     cfg.Store,
		refresher: cfg.Refresher,
		rs:        redsync.New(goredis.NewPool(cfg.Redis)),
		cfg:       cfg,
		log:       cfg.Logger,
		metrics:   cfg.Metrics,
		now:       cfg.Now,
		cache:     make(map[string]*cached),
		flights:   make(map[string]*flight),
	}, nil
}

var (
	_ gusto.TokenSource = (*Manager)(nil)
	_ gusto.Invalidator = (*Manager)(nil)
)

// AccessToken returns an access token for the company that is committed in
// PostgreSQL and outside its refresh-ahead window on Gusto's clock,
// refreshing it first if needed. The sync code calls it before every Gusto
// request; it is safe for concurrent use.
//
// Errors: *ReauthRequiredError, *PausedError and *NotFoundError are terminal
// (see Terminal); *RefreshError, *LockError and *StoreError are transient.
// The wait is bounded by ctx; a refresh already under way continues in the
// background while any caller in the process still waits for it.
func (m *Manager) AccessToken(ctx context.Context, company string) (string, error) {
	m.mu.RLock()
	e := m.cache[company]
	m.mu.RUnlock()
	if m.handOut(e) {
		return e.token, nil
	}
	return m.slowPath(ctx, company)
}

// refreshAtOf is when rec's access token enters its refresh-ahead window, on
// Gusto's clock.
// The window starts earlier by the company's jitter (refreshJitter).
func (m *Manager) refreshAtOf(rec *record) time.Time {
	ahead := refreshAhead(m.cfg.RefreshAhead, rec.Lifetime)
	return rec.Expiration.Add(-ahead - refreshJitter(rec.Company, ahead))
}

// fresh reports whether rec's access token may be handed out without a refresh.
func (m *Manager) fresh(rec *record) bool {
	return rec.Status == StatusActive && !rec.Invalidated && m.gustoNow() < m.refreshAtOf(rec).UnixNano()
}

// remember returns rec's token as a cache entry, and caches it when it is
// fresh and not older than what is cached.
func (m *Manager) remember(rec *record) *cached {
	e := &cached{token: rec.AccessToken, version: rec.Version, refreshAt: m.refreshAtOf(rec).UnixNano(),
		recheckAt: m.now().Add(m.cfg.StatusRecheck).UnixNano()}
	if !m.fresh(rec) {
		return e
	}
	m.mu.Lock()
	if old := m.cache[rec.Company]; old == nil || old.version <= e.version {
		m.cache[rec.Company] = e
	}
	m.mu.Unlock()
	return e
}

// forget drops the company's cached token; if token is not empty, only when
// it is the cached one.
func (m *Manager) forget(company, token string) {
	m.mu.Lock()
	if e := m.cache[company]; e != nil && (token == "" || e.token == token) {
		delete(m.cache, company)
	}
	m.mu.Unlock()
}

// Invalidate is called by the Gusto client after a data call got a 401 with
// accessToken. It drops the token from the cache and marks the stored row
// stale, so that the next AccessToken in any process refreshes it, unless a
// sibling already replaced that token (the stored one differs) or the token
// was issued within InvalidateGrace. It is safe for concurrent use and never
// calls Gusto.
func (m *Manager) Invalidate(ctx context.Context, company, accessToken string) error {
	company, err := canonicalCompany(company)
	if err != nil {
		return err
	}
	m.forget(company, accessToken)
	rec, err := m.load(ctx, company)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(rec.AccessToken), []byte(accessToken)) != 1 {
		m.log.LogAttrs(ctx, slog.LevelDebug, "token already replaced by a sibling; not invalidated",
			slog.String("company", company), slog.Int64("version", rec.Version))
		return nil
	}
	if rec.Invalidated {
		return nil
	}
	grace := min(m.cfg.InvalidateGrace, rec.Lifetime/invalidateGraceDivisor)
	// A negative age (an issue time in the future: a bad clock somewhere)
	// is read as old: the refusal is believed.
	if age := time.Duration(m.gustoNow() - rec.IssuedAt.UnixNano()); age >= 0 && age < grace {
		m.log.LogAttrs(ctx, slog.LevelWarn, "gusto refused a token issued moments ago; not refreshing again (missing scope?)",
			slog.String("company", company), slog.Int64("version", rec.Version), slog.Duration("age", age))
		return nil
	}
	marked, err := m.store.markInvalidated(ctx, company, rec.Version)
	if err != nil {
		return err
	}
	if marked {
		m.metrics.invalidated()
		m.log.LogAttrs(ctx, slog.LevelInfo, "access token refused by gusto; marked stale",
			slog.String("company", company), slog.Int64("version", rec.Version))
	}
	return nil
}
