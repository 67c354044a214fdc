package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-redsync/redsync/v4"

	"github.com/gustosync/gustosync/internal/backoff"
	"github.com/gustosync/gustosync/internal/gusto"
)

// The refresh path. Each invariant it holds lives in one function (the
// numbers and their tests: docs/invariants.md):
//
//	1 fenced refresh             Manager.fenceSend and Store.claimRefresh (the send,
//	                             fence.go), Store.commitRefresh (the commit), and
//	                             Manager.commit for the loser
//	2 commit before use          Manager.commit
//	3 double-checked refresh     Manager.refreshLocked (and the waiters in Manager.lock)
//	4 invalid_grant ≠ revocation Manager.onInvalidGrant
//	5 transient ≠ terminal       Manager.exchange, with backoff.Policy.Delay
//	9 skew measured              gusto.Client.recordSkew; applied by Manager.nextRecord

const (
	// commitBudget bounds storing a pair Gusto already issued, whatever the
	// callers' contexts: losing it would cost the grant under strict rules.
	commitBudget = 10 * time.Second
)

// commitRetry is the wait between two tries to store a pair Gusto already
// issued: 50–100 ms, growing to 0.5–1 s, within commitBudget.
var commitRetry = backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second}

// lockPoll is the wait between two looks at the row while another worker
// holds the refresh lock: 10–20 ms, growing to 125–250 ms.
var lockPoll = backoff.Policy{Base: 20 * time.Millisecond, Max: 250 * time.Millisecond}

// obtain is one flight's slow path: read the row, hand out its token if it is
// fresh, refresh it under the lock otherwise.
func (m *Manager) obtain(ctx context.Context, company string) (*cached, error) {
	rec, err := m.load(ctx, company)
	if err != nil {
		return nil, err
	}
	m.adoptSkew(rec)
	if err := usable(rec); err != nil {
		m.forget(company, "")
		return nil, err
	}
	if m.fresh(rec) {
		return m.remember(rec), nil
	}
	if m.afterStaleRead != nil {
		m.afterStaleRead(company)
	}
	if m.cfg.Budget != nil {
		e, err := m.admit(ctx, rec)
		if err != nil || e != nil {
			return e, err
		}
	}
	return m.refreshLocked(ctx, rec)
}

// admit asks the fleet-wide budget for rec's refresh (Config.Budget). It
// returns nil, nil when the refresh may go ahead; a cache entry handing out
// rec's still-valid token until the budget's wait is over; or, for a token
// that has expired or was refused (nothing to hand out), it waits for the
// slot, bounded by ctx, and returns a sibling's token if one was committed
// meanwhile.
func (m *Manager) admit(ctx context.Context, rec *record) (*cached, error) {
	for {
		now := m.gustoNow()
		usableNow := !rec.Invalidated && now < rec.Expiration.UnixNano()
		priority := rec.Expiration
		if rec.Invalidated {
			priority = time.Unix(0, now)
		}
		wait, err := m.cfg.Budget.Admit(ctx, rec.Company, priority)
		if err != nil {
			m.log.LogAttrs(ctx, slog.LevelWarn, "refresh budget unavailable; refreshing anyway",
				slog.String("company", rec.Company), slog.String("error", err.Error()))
			return nil, nil
		}
		if wait <= 0 {
			return nil, nil
		}
		m.metrics.budgetDeferred()
		if usableNow {
			e := &cached{token: rec.AccessToken, version: rec.Version,
				refreshAt: min(now+int64(wait), rec.Expiration.UnixNano()),
				recheckAt: m.now().Add(min(wait, m.cfg.StatusRecheck)).UnixNano()}
			m.mu.Lock()
			if old := m.cache[rec.Company]; old == nil || old.version <= e.version {
				m.cache[rec.Company] = e
			}
			m.mu.Unlock()
			return e, nil
		}
		if !sleep(ctx, wait) {
			return nil, &RefreshError{Company: rec.Company, RetryAfter: wait,
				Err: fmt.Errorf("waiting for the fleet's refresh budget: %w", context.Cause(ctx))}
		}
		cur, err := m.load(ctx, rec.Company)
		if err != nil {
			return nil, err
		}
		if err := usable(cur); err != nil {
			return nil, err
		}
		if m.fresh(cur) {
			return m.remember(cur), nil
		}
		rec = cur
	}
}

// usable turns a non-active status into its terminal error.
func usable(rec *record) error {
	switch rec.Status {
	case StatusActive:
		return nil
	case StatusNeedsReauth:
		return &ReauthRequiredError{Company: rec.Company, Reason: rec.StatusReason}
	case StatusPaused:
		return &PausedError{Company: rec.Company, Reason: rec.StatusReason}
	case StatusMissingScope:
		return &ScopeRequiredError{Company: rec.Company, Reason: rec.StatusReason}
	case StatusKeyMissing:
		return &KeyMissingError{Company: rec.Company, KeyID: rec.KeyID, Reason: rec.StatusReason}
	default:
		return &StoreError{Op: "load", Company: rec.Company, Err: fmt.Errorf("unknown status %q", rec.Status)}
	}
}

// refreshLocked holds invariant 3 (double-checked refresh): it takes the
// company's refresh lock (or learns, while waiting, that a sibling refreshed)
// and re-reads the row under the lock; only a row that is still stale is
// refreshed. Waiters never call the token endpoint for a fresh token.
func (m *Manager) refreshLocked(ctx context.Context, stale *record) (*cached, error) {
	lock, sibling, err := m.lock(ctx, stale)
	if err != nil {
		return nil, err
	}
	if sibling != nil {
		return m.remember(sibling), nil
	}
	defer m.unlock(lock, stale.Company)

	rec, err := m.load(ctx, stale.Company)
	if err != nil {
		return nil, err
	}
	if err := usable(rec); err != nil {
		m.forget(rec.Company, "")
		return nil, err
	}
	if m.fresh(rec) {
		return m.remember(rec), nil
	}
	trigger := TriggerExpiry
	if rec.Invalidated {
		trigger = TriggerUnauthorized
	}
	if h := m.cfg.Hooks.BeforeRefresh; h != nil {
		h(rec.Company)
	}
	return m.refresh(ctx, lock, rec, trigger)
}

// lock takes the company's redsync mutex (SET NX PX). While another worker
// holds it, lock does not hammer Redis: it re-reads the row with a growing,
// jittered pause, and returns the row as sibling as soon as it is fresh (or
// a terminal error if it turned needs_reauth). The wait is bounded by ctx and
// LockWait. A Redis failure is a *LockError: no refresh without the lock.
func (m *Manager) lock(ctx context.Context, stale *record) (*redsync.Mutex, *record, error) {
	company := stale.Company
	factor := min(0.5, max(0.05, float64(500*time.Millisecond)/float64(m.cfg.LockExpiry)))
	mutex := m.rs.NewMutex(lockKeyPrefix+company,
		redsync.WithExpiry(m.cfg.LockExpiry), redsync.WithTries(1), redsync.WithTimeoutFactor(factor))
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, m.cfg.LockWait)
	defer cancel()
	for polls := 1; ; polls++ {
		err := mutex.TryLockContext(ctx)
		if err == nil {
			m.metrics.observeLockWait(time.Since(start))
			return mutex, nil, nil
		}
		var taken *redsync.ErrTaken
		if !errors.As(err, &taken) && ctx.Err() == nil {
			m.metrics.observeLockWait(time.Since(start))
			return nil, nil, &LockError{Company: company, Waited: time.Since(start), Err: err}
		}
		if ctx.Err() == nil {
			rec, err := m.load(ctx, company)
			if err == nil {
				if uerr := usable(rec); uerr != nil {
					m.metrics.observeLockWait(time.Since(start))
					return nil, nil, uerr
				}
				if m.fresh(rec) {
					m.metrics.observeLockWait(time.Since(start))
					return nil, rec, nil
				}
			} else if ctx.Err() == nil {
				return nil, nil, err
			}
		}
		if !sleep(ctx, lockPoll.Delay(polls, 0)) {
			m.metrics.observeLockWait(time.Since(start))
			return nil, nil, &LockError{Company: company, Waited: time.Since(start),
				Err: fmt.Errorf("refresh lock held by another worker and the token stayed stale: %w", context.Cause(ctx))}
		}
	}
}

// unlock releases the lock; a lock that expired first means this holder was
// slower than LockExpiry (its commit was still fenced by the version).
func (m *Manager) unlock(mutex *redsync.Mutex, company string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if ok, err := mutex.UnlockContext(ctx); !ok {
		m.log.LogAttrs(ctx, slog.LevelWarn, "refresh lock had expired before release",
			slog.String("company", company), slog.String("worker", m.cfg.WorkerID), slog.String("error", errString(err)))
	}
}

// refresh exchanges rec's refresh token for a new pair and commits it.
func (m *Manager) refresh(ctx context.Context, lock *redsync.Mutex, rec *record, trigger Trigger) (*cached, error) {
	started := m.now()
	claimer := m.newClaimer()
	tok, sibling, attempts, err := m.exchange(ctx, lock, rec, trigger, claimer)
	if sibling != nil {
		return m.remember(sibling), nil
	}
	if err != nil {
		var ig *gusto.InvalidGrantError
		if errors.As(err, &ig) {
			return m.onInvalidGrant(ctx, rec, ig, trigger, started)
		}
		return nil, err
	}
	next := m.nextRecord(rec, tok)
	if h := m.cfg.Hooks.AfterRefreshBeforeCommit; h != nil {
		h(rec.Company)
	}
	return m.commit(rec, next, trigger, started, attempts, claimer)
}

// exchange holds invariant 5 (transient is not terminal): it calls the token
// endpoint, and on a 429, a 5xx or a timeout waits (Retry-After, else
// exponential backoff with jitter) and tries again, up to RefreshAttempts
// times, never marking the company. Each attempt that fails writes an audit
// event. A wait that would outlast the lock, the caller's deadline or ctx
// ends the refresh with a *RefreshError carrying RetryAfter for the job layer.
// Before each retry it re-reads the row: if a sibling committed meanwhile, it
// returns that row as sibling. An invalid_grant is returned as is.
func (m *Manager) exchange(ctx context.Context, lock *redsync.Mutex, rec *record, trigger Trigger, claimer string) (tok gusto.Token, sibling *record, attempts int, err error) {
	for attempt := 1; ; attempt++ {
		// Invariant 1, the send: only while this refresh still owns the lock
		// and the version's claim (fence.go).
		deadline, sib, err := m.fenceSend(ctx, lock, rec, claimer)
		if err != nil || sib != nil {
			return gusto.Token{}, sib, attempt - 1, err
		}
		if m.beforeSend != nil {
			m.beforeSend(rec.Company)
		}
		started := m.now()
		// The request is never cut short by the callers leaving: once sent it
		// may rotate the grant, and its answer must be kept. It ends before
		// the claim can lapse.
		callCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		tok, err := m.refresher.RefreshToken(callCtx, rec.RefreshToken)
		cancel()
		if err == nil {
			return tok, nil, attempt, nil
		}
		var ig *gusto.InvalidGrantError
		if errors.As(err, &ig) {
			// Answered: a sender paused with a pair for this version may
			// commit it now (the fence on the commit, Store.commitRefresh).
			_ = m.store.releaseClaim(context.WithoutCancel(ctx), rec.Company, rec.Version, claimer)
			return gusto.Token{}, nil, attempt, err
		}
		var te *gusto.TransportError
		if !errors.As(err, &te) {
			// Gusto answered, and rotated nothing: the next sender need not
			// wait for the claim to lapse.
			if rerr := m.store.releaseClaim(context.WithoutCancel(ctx), rec.Company, rec.Version, claimer); rerr != nil {
				m.log.LogAttrs(ctx, slog.LevelWarn, "could not release the refresh claim", slog.String("company", rec.Company), slog.String("error", rerr.Error()))
			}
		}
		ev := Event{Company: rec.Company, Worker: m.cfg.WorkerID, Trigger: trigger, Detail: describe(err, attempt),
			OldVersion: rec.Version, StartedAt: started, FinishedAt: m.now()}
		if !gusto.Transient(err) {
			ev.Outcome = OutcomeFailed
			m.failed(ctx, ev, err)
			return gusto.Token{}, nil, attempt, &RefreshError{Company: rec.Company, Attempts: attempt, Err: err}
		}
		ev.Outcome = OutcomeTransient
		m.failed(ctx, ev, err)
		retryAfter := gusto.RetryAfter(err)
		giveUp := &RefreshError{Company: rec.Company, Attempts: attempt, RetryAfter: retryAfter, Err: err}
		if attempt >= m.cfg.RefreshAttempts {
			return gusto.Token{}, nil, attempt, giveUp
		}
		wait := m.cfg.Backoff.Delay(attempt, retryAfter)
		if wait+m.cfg.RefreshTimeout >= m.cfg.LockExpiry {
			// Waiting this long would outlast the lock: leave it to the job
			// layer, which honours RetryAfter.
			giveUp.RetryAfter = max(retryAfter, wait)
			return gusto.Token{}, nil, attempt, giveUp
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return gusto.Token{}, nil, attempt, giveUp
		}
		if ok, _ := lock.ExtendContext(ctx); !ok {
			m.log.LogAttrs(ctx, slog.LevelWarn, "could not extend the refresh lock before retrying",
				slog.String("company", rec.Company))
		}
		if !sleep(ctx, wait) {
			return gusto.Token{}, nil, attempt, giveUp
		}
		cur, lerr := m.load(ctx, rec.Company)
		if lerr != nil {
			return gusto.Token{}, nil, attempt, lerr
		}
		if cur.Version != rec.Version || cur.Status != StatusActive {
			if uerr := usable(cur); uerr != nil {
				return gusto.Token{}, nil, attempt, uerr
			}
			return gusto.Token{}, cur, attempt, nil
		}
	}
}

// failed counts and records one failed attempt.
func (m *Manager) failed(ctx context.Context, ev Event, err error) {
	m.metrics.refresh(ev.Outcome)
	level := slog.LevelWarn
	if ev.Outcome == OutcomeFailed {
		level = slog.LevelError
	}
	m.log.LogAttrs(ctx, level, "token refresh attempt failed", slog.String("company", ev.Company),
		slog.String("outcome", string(ev.Outcome)), slog.Int64("version", ev.OldVersion), slog.String("error", err.Error()))
	if rerr := m.store.recordFailure(context.WithoutCancel(ctx), ev); rerr != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "could not record refresh failure", slog.String("company", ev.Company), slog.String("error", rerr.Error()))
	}
}

// nextRecord builds the row for a pair Gusto just issued. Invariant 9: the
// issue time is Gusto's Date header, the skew is the one the client
// measured on the same response (carried by the token), and the expiry is
// on Gusto's clock.
func (m *Manager) nextRecord(rec *record, tok gusto.Token) *record {
	received := tok.ReceivedAt
	if received.IsZero() {
		received = m.now()
	}
	skew := m.Skew()
	if !tok.ServerDate.IsZero() {
		skew = tok.Skew
		m.ObserveSkew(skew)
	}
	issued := issuedAt(tok.ServerDate, received, skew)
	lifetime := time.Duration(tok.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = rec.Lifetime
	}
	scope := strings.Join(strings.Fields(tok.Scope), " ")
	if scope != "" {
		if missing := MissingScopes(scope); len(missing) > 0 {
			m.log.Warn("refreshed token lacks required scopes; syncs of those endpoints will fail",
				slog.String("company", rec.Company), slog.String("missing", strings.Join(missing, " ")))
		}
	}
	return &record{
		Company:      rec.Company,
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		Expiration:   expiration(issued, lifetime),
		IssuedAt:     issued,
		Lifetime:     lifetime,
		Scopes:       scope,
		Status:       StatusActive,
		Skew:         skew,
	}
}

// commit holds invariants 1 and 2. It stores the new pair with the version
// compare-and-swap (retrying a failed write briefly, whatever the callers'
// contexts: the pair is the company's credentials now), and only after the
// commit hands the new token out. If another worker committed first, the new
// pair is thrown away unused and the committed token is returned instead.
//
// While another sender's live claim on the same version blocks the commit
// (this one was paused past its claim and the other presented the same
// refresh token since), it waits for the other's outcome, within the
// claim's lifetime: the other's commit makes this one lose the
// compare-and-swap and take the later pair, the one a latest-wins provider
// honours; the other's refusal (a strict provider: this pair is the live
// one) releases the claim and this pair is committed.
func (m *Manager) commit(rec, next *record, trigger Trigger, started time.Time, attempts int, claimer string) (*cached, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitBudget+m.claimTTL())
	defer cancel()
	ev := Event{Company: rec.Company, Worker: m.cfg.WorkerID, Trigger: trigger, Outcome: OutcomeRefreshed,
		Detail: fmt.Sprintf("attempts=%d", attempts), StartedAt: started}
	// Gusto has already rotated the grant: keep trying for the whole
	// budget. Each failed try may only have drawn a dead pooled connection
	// (a failover, or backends terminated: each dead connection fails one
	// statement before the pool drops it), and a retry of a commit that did
	// land loses the compare-and-swap to itself and reads its own pair back.
	var ok bool
	var err error
	for try := 0; ; try++ {
		ev.FinishedAt = m.now()
		ok, err = m.store.commitRefresh(ctx, rec, next, ev, claimer)
		if errors.Is(err, errForeignClaim) {
			if m.commitBlocked != nil {
				m.commitBlocked(rec.Company)
			}
			if !sleep(ctx, lockPoll.Delay(try+1, 0)) {
				break
			}
			continue
		}
		var ke *KeyError
		if err == nil || errors.As(err, &ke) || !sleep(ctx, commitRetry.Delay(try+1, 0)) {
			break
		}
	}
	if err != nil {
		m.metrics.refresh(OutcomeFailed)
		m.log.LogAttrs(ctx, slog.LevelError, "could not store a refreshed token pair; it is lost",
			slog.String("company", rec.Company), slog.Int64("version", rec.Version), slog.String("error", err.Error()))
		_ = m.store.recordEvent(ctx, Event{Company: rec.Company, Worker: m.cfg.WorkerID, Trigger: trigger,
			Outcome: OutcomeFailed, Detail: "commit failed: " + err.Error(), OldVersion: rec.Version,
			StartedAt: started, FinishedAt: m.now()})
		return nil, &RefreshError{Company: rec.Company, Attempts: attempts, Err: err}
	}
	if !ok {
		m.metrics.casConflict()
		m.metrics.refresh(OutcomeCASLost)
		m.log.LogAttrs(ctx, slog.LevelWarn, "another worker committed first; new token pair discarded unused",
			slog.String("company", rec.Company), slog.Int64("version", rec.Version), slog.String("worker", m.cfg.WorkerID))
		if err := m.store.recordEvent(ctx, Event{Company: rec.Company, Worker: m.cfg.WorkerID, Trigger: trigger,
			Outcome: OutcomeCASLost, Detail: "pair discarded unused", OldVersion: rec.Version,
			StartedAt: started, FinishedAt: m.now()}); err != nil {
			m.log.LogAttrs(ctx, slog.LevelWarn, "could not record event", slog.String("company", rec.Company), slog.String("error", err.Error()))
		}
		cur, err := m.load(ctx, rec.Company)
		if err != nil {
			return nil, err
		}
		if err := usable(cur); err != nil {
			return nil, err
		}
		return m.remember(cur), nil
	}
	m.metrics.refresh(OutcomeRefreshed)
	m.log.LogAttrs(ctx, slog.LevelInfo, "token refreshed", slog.String("company", rec.Company),
		slog.Int64("version", next.Version), slog.String("trigger", string(trigger)),
		slog.Time("expires", next.Expiration), slog.Duration("skew", next.Skew))
	return m.remember(next), nil
}

// onInvalidGrant holds invariant 4 (invalid_grant is not yet revocation). It
// re-reads the row: if the version moved, a sibling rotated the grant and its
// token is used. Only when the refused refresh token is still the stored one
// is the company marked needs_reauth with the reason, by a guarded update
// that writes exactly one audit event and one error log (the alert) however
// many workers saw the refusal. It never retries the refresh.
func (m *Manager) onInvalidGrant(ctx context.Context, rec *record, cause *gusto.InvalidGrantError, trigger Trigger, started time.Time) (*cached, error) {
	ctx = context.WithoutCancel(ctx)
	cur, err := m.load(ctx, rec.Company)
	if err != nil {
		return nil, err
	}
	if cur.Version != rec.Version {
		m.metrics.refresh(OutcomeSiblingRefreshed)
		if err := m.store.recordEvent(ctx, Event{Company: rec.Company, Worker: m.cfg.WorkerID, Trigger: trigger,
			Outcome: OutcomeSiblingRefreshed, Detail: "grant refused, but a sibling had rotated it",
			OldVersion: rec.Version, NewVersion: cur.Version, StartedAt: started, FinishedAt: m.now()}); err != nil {
			m.log.LogAttrs(ctx, slog.LevelWarn, "could not record event", slog.String("company", rec.Company), slog.String("error", err.Error()))
		}
		if err := usable(cur); err != nil {
			return nil, err
		}
		return m.remember(cur), nil
	}
	code := cause.Code
	if code == "" {
		code = "invalid_grant"
	}
	reason := fmt.Sprintf("refresh token refused by Gusto (%s, HTTP %d) at version %d", code, cause.StatusCode, rec.Version)
	marked, err := m.store.markNeedsReauth(ctx, rec.Company, rec.Version, reason, Event{Company: rec.Company,
		Worker: m.cfg.WorkerID, Trigger: trigger, Outcome: OutcomeRevoked, Detail: reason, StartedAt: started, FinishedAt: m.now()})
	if err != nil {
		return nil, err
	}
	m.forget(rec.Company, "")
	if marked {
		m.metrics.refresh(OutcomeRevoked)
		m.announceReauth(ctx, rec.Company, reason, rec.Version)
		return nil, &ReauthRequiredError{Company: rec.Company, Reason: reason}
	}
	// Someone else marked it, or a sibling committed between our two reads.
	cur, err = m.load(ctx, rec.Company)
	if err != nil {
		return nil, err
	}
	if err := usable(cur); err != nil {
		return nil, err
	}
	return m.remember(cur), nil
}

// describe summarises a refresh failure for the audit trail: the error's
// class and status, never a token (the gusto package's errors hold none).
func describe(err error, attempt int) string {
	return fmt.Sprintf("attempt %d: %s", attempt, err.Error())
}

// sleep waits d or until ctx ends; it reports whether the full wait elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
