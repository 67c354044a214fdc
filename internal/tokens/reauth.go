package tokens

import (
	"context"
	"log/slog"
)

// MarkNeedsReauth marks company needs_reauth because Gusto refused, for a
// reason only a person can fix, the access token this manager handed out: a
// 403 for a missing scope, or a 401 for a token the manager had just
// refreshed. It is the data-call counterpart of the refused refresh token
// (onInvalidGrant) and goes through the same guarded write
// (Store.markNeedsReauth): the row changes only while it is still at the
// version of that token (the one this process has cached; the stored one
// when nothing is cached) and active or paused. A sibling's refresh or an
// operator's new tokens committed meanwhile win, and nothing changes.
//
// It records one audit event (trigger unauthorized, outcome status_change)
// in the same transaction, drops the cached token, and reports whether this
// call made the change. reason must hold no token. A missing company is a
// *NotFoundError. It is safe for concurrent use.
func (m *Manager) MarkNeedsReauth(ctx context.Context, company, reason string) (bool, error) {
	company, err := canonicalCompany(company)
	if err != nil {
		return false, err
	}
	var version int64
	m.mu.RLock()
	if e := m.cache[company]; e != nil {
		version = e.version
	}
	m.mu.RUnlock()
	if version == 0 {
		st, err := m.store.status(ctx, company)
		if err != nil {
			return false, err
		}
		version = st.Version
	}
	started := m.now()
	marked, err := m.store.markNeedsReauth(ctx, company, version, reason, Event{Worker: m.cfg.WorkerID,
		Trigger: TriggerUnauthorized, Outcome: OutcomeStatusChange, Detail: "needs_reauth: " + reason, StartedAt: started})
	if err != nil {
		return false, err
	}
	if marked {
		m.forget(company, "")
		m.announceReauth(ctx, company, reason, version)
	}
	return marked, nil
}

// announceReauth is the one log line (the operators' alert besides the
// webhook) of a company entering needs_reauth, written by the worker whose
// call made the change.
func (m *Manager) announceReauth(ctx context.Context, company, reason string, version int64) {
	m.log.LogAttrs(ctx, slog.LevelError, "company needs re-authorization; it will not be synced until a person authorizes the app again",
		slog.String("company", company), slog.String("reason", reason), slog.Int64("version", version))
}
