package tokens

import (
	"context"

	"gorm.io/gorm"
)

// This file: status changes other than refresh outcomes: an operator's
// pause and resume, and the sync side's needs_reauth (reauth.go).

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
	return s.setStatus(ctx, company, transition{from: StatusActive, to: StatusPaused, trigger: TriggerManual, op: "pause"}, reason, worker)
}

// Resume makes a paused company active again; the scheduler enqueues it at
// its next tick. A company that is not paused is left alone (false). A
// missing company is a *NotFoundError.
func (s *Store) Resume(ctx context.Context, company, worker string) (bool, error) {
	return s.setStatus(ctx, company, transition{from: StatusPaused, to: StatusActive, trigger: TriggerManual, op: "resume"}, "", worker)
}

// CompanyStatus returns a company's status and status reason; a missing
// company is a *NotFoundError.
func (s *Store) CompanyStatus(ctx context.Context, company string) (Status, string, error) {
	company, err := canonicalCompany(company)
	if err != nil {
		return "", "", err
	}
	var row struct {
		Status       string
		StatusReason string
	}
	res := s.db.WithContext(ctx).Raw(`SELECT status, status_reason FROM gusto_auth_tokens WHERE company_uuid = ?`, company).Scan(&row)
	if res.Error != nil {
		return "", "", &StoreError{Op: "read status of", Company: company, Err: res.Error}
	}
	if res.RowsAffected == 0 {
		return "", "", &NotFoundError{Company: company}
	}
	return Status(row.Status), row.StatusReason, nil
}

// transition is one guarded status change.
type transition struct {
	from, to Status
	// trigger is recorded in the audit row.
	trigger Trigger
	// failure counts the change against the company's credentials
	// (consecutive and total failures, last failure time).
	failure bool
	// op names the change in a *StoreError.
	op string
}

// setStatus moves company from t.from to t.to in one guarded statement, with
// its audit row in the same transaction, and reports whether it changed the
// row: a company in any other status keeps its status and reason. A missing
// company is a *NotFoundError. reason must hold no token.
func (s *Store) setStatus(ctx context.Context, company string, t transition, reason, worker string) (bool, error) {
	company, err := canonicalCompany(company)
	if err != nil {
		return false, err
	}
	failures := ""
	if t.failure {
		failures = `, consecutive_failures = consecutive_failures + 1, total_failures = total_failures + 1, last_failure_at = now()`
	}
	started := s.now()
	changed := false
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var out struct{ Version int64 }
		res := tx.Raw(`UPDATE gusto_auth_tokens SET status = ?, status_reason = ?, status_changed_at = now(), updated_at = now()`+failures+`
			WHERE company_uuid = ? AND status = ? RETURNING version`, string(t.to), reason, company, string(t.from)).Scan(&out)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		changed = true
		detail := string(t.from) + " -> " + string(t.to)
		if reason != "" {
			detail += ": " + reason
		}
		return insertEvent(tx, Event{
			Company: company, Worker: worker, Trigger: t.trigger, Outcome: OutcomeStatusChange,
			Detail: detail, OldVersion: out.Version, NewVersion: out.Version, StartedAt: started, FinishedAt: s.now(),
		})
	})
	if err != nil {
		return false, &StoreError{Op: t.op, Company: company, Err: err}
	}
	if !changed {
		if _, _, err := s.CompanyStatus(ctx, company); err != nil {
			return false, err
		}
	}
	return changed, nil
}
