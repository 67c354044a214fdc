package tokens

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// This file: every change of a company's status (gusto_auth_tokens.status
// and status_reason) other than the ones a token write implies (Put and
// commitRefresh make a needs_reauth company active again, under the same
// version fence). Each goes through changeStatus, a compare-and-swap on the
// row's version:
//
//	active -> paused              Store.Pause (an operator)
//	paused|missing_scope -> active Store.Resume (an operator)
//	active -> key_missing         Manager.load (the row does not open with
//	                              the keyring, keymissing.go)
//	key_missing -> active         Store.reopenRow (the row opens again),
//	                              from Store.Resume and Store.Rekey
//	active -> missing_scope       Manager.MarkMissingScope (a data call
//	                              refused for a missing scope, reauth.go)
//	active|paused -> needs_reauth Store.markNeedsReauth, the one writer of
//	                              needs_reauth, called by Manager.onInvalidGrant
//	                              (a refresh token refused with an explicit
//	                              invalid_grant, also when Manager.VerifyGrant
//	                              asked after a refused data call, reauth.go);
//	                              the same transition by Store.MarkDeprovisioned
//	                              (Gusto's company.deprovisioned, deprovisioned.go)
//
// A status change never moves the version: the version fences token
// writes, and a refresh in flight must still be able to commit the pair
// Gusto already rotated.

// statusTries bounds how often an operator's change re-reads a row whose
// version moved under it (a refresh committed meanwhile).
const statusTries = 3

// transition is one kind of guarded status change.
type transition struct {
	// from lists the statuses the change may leave; to is where it goes.
	from []Status
	to   Status
	// failure counts the change against the company's credentials
	// (consecutive and total failures, last failure time).
	failure bool
	// op names the change in a *StoreError.
	op string
}

// The transitions.
var (
	pause        = transition{from: []Status{StatusActive}, to: StatusPaused, op: "pause"}
	resume       = transition{from: []Status{StatusPaused, StatusMissingScope}, to: StatusActive, op: "resume"}
	missingScope = transition{from: []Status{StatusActive}, to: StatusMissingScope, op: "mark missing_scope"}
	needsReauth  = transition{from: []Status{StatusActive, StatusPaused}, to: StatusNeedsReauth, failure: true, op: "mark needs_reauth"}
)

func (t transition) leaves(s Status) bool {
	for _, f := range t.from {
		if f == s {
			return true
		}
	}
	return false
}

// Pause stops a company from being synced until Resume: the scheduler skips
// it and the Manager refuses its tokens (*PausedError). Only an active
// company can be paused; a needs_reauth company keeps its status (it must be
// reconnected first). It reports whether this call changed the row, and
// records the change in token_refresh_events in the same transaction. A
// missing company is a *NotFoundError. reason is kept as status_reason.
func (s *Store) Pause(ctx context.Context, company, reason, worker string) (bool, error) {
	if reason == "" {
		reason = "paused by an operator"
	}
	return s.operatorChange(ctx, company, pause, reason, worker)
}

// Resume makes a paused company, or one whose missing scope a person has
// since granted, active again; the scheduler enqueues it at its next tick.
// A key_missing company becomes active only if its row opens with the
// keyring now (the key was put back); otherwise the error wraps the
// *KeyError naming the key id. A company in another status is left alone
// (false). A missing company is a *NotFoundError.
func (s *Store) Resume(ctx context.Context, company, worker string) (bool, error) {
	changed, err := s.operatorChange(ctx, company, resume, "", worker)
	if err != nil || changed {
		return changed, err
	}
	company, err = canonicalCompany(company)
	if err != nil {
		return false, err
	}
	return s.reopenRow(ctx, company, Event{Worker: worker, Trigger: TriggerManual, Outcome: OutcomeStatusChange})
}

// operatorChange is an operator's change t (trigger manual).
func (s *Store) operatorChange(ctx context.Context, company string, t transition, reason, worker string) (bool, error) {
	return s.changeAtCurrent(ctx, company, t, reason, Event{Worker: worker, Trigger: TriggerManual, Outcome: OutcomeStatusChange})
}

// changeAtCurrent reads the row's status and version and makes change t at
// that version, with ev as the audit row (its detail and start filled in);
// when a refresh moved the version in between, it reads the row again
// (statusTries times at most). A row in a status t does not leave is left
// alone (false).
func (s *Store) changeAtCurrent(ctx context.Context, company string, t transition, reason string, ev Event) (bool, error) {
	company, err := canonicalCompany(company)
	if err != nil {
		return false, err
	}
	for range statusTries {
		st, err := s.status(ctx, company)
		if err != nil {
			return false, err
		}
		if !t.leaves(st.Status) {
			return false, nil
		}
		e := ev
		e.Detail = string(st.Status) + " -> " + string(t.to)
		if reason != "" {
			e.Detail += ": " + reason
		}
		e.StartedAt = s.now()
		changed, err := s.changeStatus(ctx, company, st.Version, t, reason, e)
		if err != nil || changed {
			return changed, err
		}
	}
	return false, &StoreError{Op: t.op, Company: company, Err: errors.New("the row kept changing; try again")}
}

// markNeedsReauth is the one writer of needs_reauth (invariant 4's write).
// It marks the company with reason only if the row is still at version (the
// refused token is still the stored one) and active or paused, and writes
// ev in the same transaction. It reports whether this call made the change,
// so exactly one audit event and one alert exist per revocation however
// many workers saw the refusal.
func (s *Store) markNeedsReauth(ctx context.Context, company string, version int64, reason string, ev Event) (bool, error) {
	return s.changeStatus(ctx, company, version, needsReauth, reason, ev)
}

// markMissingScope is the one writer of missing_scope: as markNeedsReauth,
// for a grant that lacks a scope rather than one that is gone.
func (s *Store) markMissingScope(ctx context.Context, company string, version int64, reason string, ev Event) (bool, error) {
	return s.changeStatus(ctx, company, version, missingScope, reason, ev)
}

// changeStatus holds the status fence (invariant 12 in docs/invariants.md):
// in one transaction, it moves company
// from one of t.from to t.to with reason, only if the row is still at
// version (`UPDATE … WHERE company_uuid = ? AND version = ? AND status IN ?`,
// RowsAffected checked), and writes ev (its company and versions filled in)
// as the audit row. It reports whether it changed the row; a row at another
// version or in another status is left as it is. A missing company is a
// *NotFoundError. reason must hold no token.
func (s *Store) changeStatus(ctx context.Context, company string, version int64, t transition, reason string, ev Event) (bool, error) {
	failures := ""
	if t.failure {
		failures = `, consecutive_failures = consecutive_failures + 1, total_failures = total_failures + 1, last_failure_at = now()`
	}
	from := make([]string, len(t.from))
	for i, f := range t.from {
		from[i] = string(f)
	}
	changed := false
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE gusto_auth_tokens SET status = ?, status_reason = ?, status_changed_at = now(), updated_at = now()`+failures+`
			WHERE company_uuid = ? AND version = ? AND status IN ?`, string(t.to), reason, company, version, from)
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error
		}
		changed = true
		ev.Company, ev.OldVersion, ev.NewVersion = company, version, version
		if ev.FinishedAt.IsZero() {
			ev.FinishedAt = s.now()
		}
		return insertEvent(tx, ev)
	})
	if err != nil {
		return false, &StoreError{Op: t.op, Company: company, Err: err}
	}
	if !changed {
		if _, err := s.status(ctx, company); err != nil {
			return false, err
		}
	}
	return changed, nil
}

// rowStatus is a company's status as stored, with the version it is at.
type rowStatus struct {
	Status       Status
	StatusReason string
	Version      int64
}

// status reads a company's status, reason and version (company canonical);
// a missing company is a *NotFoundError. Operators and other packages read
// statuses through package companies.
func (s *Store) status(ctx context.Context, company string) (rowStatus, error) {
	var rows []rowStatus
	err := s.db.WithContext(ctx).Raw(`SELECT status, status_reason, version FROM gusto_auth_tokens WHERE company_uuid = ?`, company).
		Scan(&rows).Error
	if err != nil {
		return rowStatus{}, &StoreError{Op: "read status of", Company: company, Err: err}
	}
	if len(rows) == 0 {
		return rowStatus{}, &NotFoundError{Company: company}
	}
	return rows[0], nil
}
