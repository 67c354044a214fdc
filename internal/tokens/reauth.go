package tokens

import "context"

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
	return s.setStatus(ctx, company, transition{from: StatusActive, to: StatusNeedsReauth,
		trigger: TriggerUnauthorized, failure: true, op: "mark needs_reauth"}, reason, worker)
}
