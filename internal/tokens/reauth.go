package tokens

import (
	"context"
	"log/slog"
	"strings"
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
	marked, version, err := m.markRefused(ctx, company, m.store.markNeedsReauth, reason, "needs_reauth: "+reason)
	if marked {
		m.announceReauth(ctx, company, reason, version)
	}
	return marked, err
}

// MarkMissingScope holds invariant 13 (docs/invariants.md): it marks company
// missing_scope because Gusto refused a data call for a scope its grant
// lacks (scopes, when Gusto named them). The grant is not revoked: the
// company is not synced until a person grants the scope and it is added
// again or resumed. Like MarkNeedsReauth it changes the row only at the
// version of the refused token and while it is active, records one audit
// event, and reports whether this call made the change (one alert per
// transition, written by the database trigger).
func (m *Manager) MarkMissingScope(ctx context.Context, company string, scopes []string, cause string) (bool, error) {
	reason := "Gusto refused a call for a missing scope"
	if len(scopes) > 0 {
		reason += " (" + strings.Join(scopes, " ") + ")"
	}
	if cause != "" {
		reason += ": " + cause
	}
	marked, version, err := m.markRefused(ctx, company, m.store.markMissingScope, reason, "missing_scope: "+reason)
	if marked {
		m.log.LogAttrs(ctx, slog.LevelError, "company lacks a scope; it will not be synced until a person grants it",
			slog.String("company", company), slog.String("reason", reason), slog.Int64("version", version))
	}
	return marked, err
}

// markRefused makes a guarded status change (mark) at the version of the token this process
// handed out for company (the stored one when nothing is cached), with one
// audit event, and drops the cached token when it changed the row.
func (m *Manager) markRefused(ctx context.Context, company string,
	mark func(ctx context.Context, company string, version int64, reason string, ev Event) (bool, error),
	reason, detail string) (marked bool, version int64, err error) {
	company, err = canonicalCompany(company)
	if err != nil {
		return false, 0, err
	}
	m.mu.RLock()
	if e := m.cache[company]; e != nil {
		version = e.version
	}
	m.mu.RUnlock()
	if version == 0 {
		st, err := m.store.status(ctx, company)
		if err != nil {
			return false, 0, err
		}
		version = st.Version
	}
	marked, err = mark(ctx, company, version, reason, Event{Worker: m.cfg.WorkerID,
		Trigger: TriggerUnauthorized, Outcome: OutcomeStatusChange, Detail: detail, StartedAt: m.now()})
	if err != nil {
		return false, version, err
	}
	if marked {
		m.forget(company, "")
	}
	return marked, version, nil
}

// announceReauth is the one log line (the operators' alert besides the
// webhook) of a company entering needs_reauth, written by the worker whose
// call made the change.
func (m *Manager) announceReauth(ctx context.Context, company, reason string, version int64) {
	m.log.LogAttrs(ctx, slog.LevelError, "company needs re-authorization; it will not be synced until a person authorizes the app again",
		slog.String("company", company), slog.String("reason", reason), slog.Int64("version", version))
}
