package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/google/uuid"
)

// The send fence (invariant 1's first half, docs/invariants.md). The version
// compare-and-swap fences the commit; this file fences the request itself:
// a refresh token is presented to Gusto only by the one sender that owns that
// version's refresh, so one stored refresh token is never exchanged twice by
// us, concurrently, whatever the provider does with a second exchange.
//
// Right before each token request, Manager.fenceSend
//
//  1. extends the redsync lock (a failed extension aborts: a worker stalled
//     past LockExpiry, or whose key a Redis failover dropped, sends nothing)
//     and checks that it has at least RefreshTimeout left;
//  2. claims the row's version in PostgreSQL (Store.claimRefresh: one
//     conditional UPDATE, refused while another sender's claim on the same
//     version is live), for RefreshTimeout + commitBudget on PostgreSQL's
//     clock;
//  3. bounds the request by RefreshTimeout from before the claim, so the
//     request is over (answered or abandoned) before the claim can lapse.
//
// A sender whose claim is refused waits, polling the row, until the
// claimer's commit moves the version (it then takes that token) or the claim
// lapses (it then claims). Two requests for one version never overlap.
//
// A claimer that dies mid-request (kill -9, the node lost) leaves its claim
// behind: the version's refresh is blocked for at most the claim's lifetime
// (RefreshTimeout + commitBudget), then the next sender claims it and
// presents the same refresh token again. That is exactly the crash between
// Gusto's answer and the commit (invariant 2): if the dead request never
// reached Gusto, nothing happened; if Gusto answered it, the pair it issued
// is lost with the process, and the second exchange is a replay. Under
// Gusto's rule (the old refresh token lives until the new access token is
// first used, and nobody used it) Gusto answers and the company stays
// active; under a strict or a family rule the grant is gone and the company
// is marked needs_reauth once, as after any such crash. No fence can do
// better: whether a request that got no answer reached the provider is
// unknowable.
//
// A sender paused after Gusto answered, past its claim, may wake while
// another sender holds a claim on the same version: the commit is fenced by
// the claim too (Store.commitRefresh refuses it with errForeignClaim) and
// Manager.commit waits for the other's outcome, so the pair kept is the one
// the provider honours: the later one where the latest exchange wins, ours
// where the second exchange was refused.

// errFenceLost is wrapped by the *LockError of a sender that no longer owns
// the refresh right before sending: nothing was sent.
var errFenceLost = errors.New("the refresh is no longer ours to send: nothing was sent")

// claimTTL is how long a claim holds: the request's deadline plus the time
// to store its answer.
func (m *Manager) claimTTL() time.Duration {
	return m.cfg.RefreshTimeout + commitBudget
}

// newClaimer names one refresh's claims: the worker and a nonce, so that two
// refreshes of one process are two claimers.
func (m *Manager) newClaimer() string {
	return m.cfg.WorkerID + "/" + uuid.NewString()[:8]
}

// fenceSend holds the send fence: it returns the deadline of a token
// request for rec's refresh token when this sender still owns the refresh
// (lock extended with RefreshTimeout left, version claimed in PostgreSQL).
// When a sibling committed meanwhile (or the company left active), it
// returns that row instead (sibling), and a terminal error for a company no
// longer usable. A lost lock is a *LockError wrapping errFenceLost: nothing
// may be sent. While another sender's claim on the version is live, it
// waits for that claim's outcome, bounded by ctx.
func (m *Manager) fenceSend(ctx context.Context, lock *redsync.Mutex, rec *record, claimer string) (deadline time.Time, sibling *record, err error) {
	started := time.Now()
	for polls := 1; ; polls++ {
		if ok, err := lock.ExtendContext(ctx); !ok {
			m.log.LogAttrs(ctx, slog.LevelWarn, "refresh lock lost before sending; nothing sent",
				slog.String("company", rec.Company), slog.Int64("version", rec.Version), slog.String("worker", m.cfg.WorkerID),
				slog.String("error", errString(err)))
			return m.fenceLost(ctx, rec, started, "the refresh lock could not be extended")
		}
		sendStart := time.Now()
		if left := time.Until(lock.Until()); left < m.cfg.RefreshTimeout {
			return m.fenceLost(ctx, rec, started, fmt.Sprintf("the refresh lock has %s left, less than RefreshTimeout", left.Round(time.Millisecond)))
		}
		claimed, err := m.store.claimRefresh(ctx, rec.Company, rec.Version, claimer, m.claimTTL())
		if err != nil {
			return time.Time{}, nil, err
		}
		if claimed {
			deadline := sendStart.Add(m.cfg.RefreshTimeout)
			if time.Until(deadline) < m.cfg.RefreshTimeout/2 {
				// Stalled between the checks and here: the claim may lapse
				// before an answer comes.
				_ = m.store.releaseClaim(context.WithoutCancel(ctx), rec.Company, rec.Version, claimer)
				return m.fenceLost(ctx, rec, started, "stalled after claiming")
			}
			return deadline, nil, nil
		}
		if m.claimRefused != nil {
			m.claimRefused(rec.Company)
		}
		// Another sender's claim on this version is live (its lock was lost
		// to us, or it is finishing): wait for its commit or for the claim to
		// lapse. The row tells which.
		cur, err := m.load(ctx, rec.Company)
		if err != nil {
			return time.Time{}, nil, err
		}
		if cur.Version != rec.Version || cur.Status != StatusActive {
			if uerr := usable(cur); uerr != nil {
				return time.Time{}, nil, uerr
			}
			return time.Time{}, cur, nil
		}
		if !sleep(ctx, lockPoll.Delay(polls, 0)) {
			return time.Time{}, nil, &LockError{Company: rec.Company, Waited: time.Since(started),
				Err: fmt.Errorf("another worker's refresh request for version %d is in flight: %w", rec.Version, context.Cause(ctx))}
		}
	}
}

// fenceLost ends a refresh that no longer owns the send: the row is read
// again, and a sibling's committed token (or the company's terminal status)
// is returned; otherwise a *LockError wrapping errFenceLost.
func (m *Manager) fenceLost(ctx context.Context, rec *record, started time.Time, why string) (time.Time, *record, error) {
	m.metrics.fenceAbort()
	cur, err := m.load(ctx, rec.Company)
	if err != nil {
		return time.Time{}, nil, err
	}
	if uerr := usable(cur); uerr != nil {
		return time.Time{}, nil, uerr
	}
	if cur.Version != rec.Version || m.fresh(cur) {
		return time.Time{}, cur, nil
	}
	return time.Time{}, nil, &LockError{Company: rec.Company, Waited: time.Since(started), Err: fmt.Errorf("%s: %w", why, errFenceLost)}
}

// claimRefresh is the PostgreSQL half of the send fence: in one conditional
// UPDATE it claims the refresh of company's version for claimer, for ttl on
// PostgreSQL's clock, only if the row is still at that version and active
// and no other claim on that version is live (a claimer may renew its own
// claim, for a retry). It reports whether the claim is held.
func (s *Store) claimRefresh(ctx context.Context, company string, version int64, claimer string, ttl time.Duration) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE gusto_auth_tokens SET refresh_claimed_version = ?, refresh_claimed_by = ?,
			refresh_claimed_until = now() + make_interval(secs => ?)
		WHERE company_uuid = ? AND version = ? AND status = 'active'
			AND (refresh_claimed_until IS NULL OR refresh_claimed_until < now()
				OR refresh_claimed_version IS DISTINCT FROM ? OR refresh_claimed_by = ?)`,
		version, claimer, ttl.Seconds(), company, version, version, claimer)
	if res.Error != nil {
		return false, &StoreError{Op: "claim the refresh of", Company: company, Err: res.Error}
	}
	return res.RowsAffected == 1, nil
}

// releaseClaim ends claimer's claim on company's version early, once its
// request got an answer that rotated nothing (a 429, a 5xx): the next sender
// need not wait for the claim to lapse. A request that got no answer keeps
// its claim until it lapses: Gusto may still be processing it.
func (s *Store) releaseClaim(ctx context.Context, company string, version int64, claimer string) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE gusto_auth_tokens SET refresh_claimed_until = NULL
		WHERE company_uuid = ? AND refresh_claimed_version = ? AND refresh_claimed_by = ?`, company, version, claimer).Error
	if err != nil {
		return &StoreError{Op: "release the refresh claim of", Company: company, Err: err}
	}
	return nil
}
