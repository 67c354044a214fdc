package tokens

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// This file: operator status changes (gustosync companies pause|resume).
// Added by the scheduler/CLI owner; additive only.

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
	return s.setStatus(ctx, company, StatusActive, StatusPaused, reason, worker)
}

// Resume makes a paused company active again; the scheduler enqueues it at
// its next tick. A company that is not paused is left alone (false). A
// missing company is a *NotFoundError.
func (s *Store) Resume(ctx context.Context, company, worker string) (bool, error) {
	return s.setStatus(ctx, company, StatusPaused, StatusActive, "", worker)
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

// setStatus moves company from one status to another in one guarded
// statement, with its audit row, and reports whether it changed the row.
func (s *Store) setStatus(ctx context.Context, company string, from, to Status, reason, worker string) (bool, error) {
	company, err := canonicalCompany(company)
	if err != nil {
		return false, err
	}
	started := s.now()
	changed := false
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var out struct{ Version int64 }
		res := tx.Raw(`UPDATE gusto_auth_tokens SET status = ?, status_reason = ?, status_changed_at = now(), updated_at = now()
			WHERE company_uuid = ? AND status = ? RETURNING version`, string(to), reason, company, string(from)).Scan(&out)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil
		}
		changed = true
		detail := string(from) + " -> " + string(to)
		if reason != "" {
			detail += ": " + reason
		}
		return insertEvent(tx, Event{
			Company: company, Worker: worker, Trigger: Trigger("manual"), Outcome: OutcomeStatusChange,
			Detail: detail, OldVersion: out.Version, NewVersion: out.Version, StartedAt: started, FinishedAt: time.Now(),
		})
	})
	if err != nil {
		return false, &StoreError{Op: "change status of", Company: company, Err: err}
	}
	if !changed {
		if _, _, err := s.CompanyStatus(ctx, company); err != nil {
			return false, err
		}
	}
	return changed, nil
}
