package tokens

import (
	"context"

	"gorm.io/gorm"
)

// This file: marking a company needs_reauth from the sync side (added by the
// jobs owner; additive only).

// MarkNeedsReauth marks an active company needs_reauth because Gusto
// refused its access for a reason only a person can fix: a 403 for a
// missing scope, or a 401 for a token the manager had just refreshed. It is
// the data-call counterpart of the refused refresh token (onInvalidGrant).
// It changes only an active row (a paused or already-marked company keeps
// its status and reason), records one audit event (trigger unauthorized,
// outcome status_change) in the same transaction, and reports whether this
// call made the change. reason must hold no token. A missing company is a
// *NotFoundError.
func (s *Store) MarkNeedsReauth(ctx context.Context, company, reason, worker string) (bool, error) {
	company, err := canonicalCompany(company)
	if err != nil {
		return false, err
	}
	started := s.now()
	changed := false
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var out struct{ Version int64 }
		res := tx.Raw(`UPDATE gusto_auth_tokens SET status = 'needs_reauth', status_reason = ?, status_changed_at = now(),
				updated_at = now(), consecutive_failures = consecutive_failures + 1, total_failures = total_failures + 1,
				last_failure_at = now()
			WHERE company_uuid = ? AND status = 'active' RETURNING version`, reason, company).Scan(&out)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		changed = true
		return insertEvent(tx, Event{
			Company: company, Worker: worker, Trigger: TriggerUnauthorized, Outcome: OutcomeStatusChange,
			Detail: "active -> needs_reauth: " + reason, OldVersion: out.Version, NewVersion: out.Version,
			StartedAt: started, FinishedAt: s.now(),
		})
	})
	if err != nil {
		return false, &StoreError{Op: "mark needs_reauth", Company: company, Err: err}
	}
	if !changed {
		if _, _, err := s.CompanyStatus(ctx, company); err != nil {
			return false, err
		}
	}
	return changed, nil
}
