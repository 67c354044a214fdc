package tokens

import (
	"context"
	"log/slog"
	"strings"
)

// VerifyGrant is the data-call half of invariant 4: Gusto refused a data
// call (a 401 the client's one invalidation and retry did not cure, or a 403
// in Gusto's own words) with a token this manager handed out for company.
// Such an answer alone never marks the company: only the token endpoint can
// say the grant is gone. VerifyGrant asks it. It flags the token of the
// version this process handed out (the stored one when nothing is cached)
// as refused, grace or not, and obtains a token the usual way: lock,
// double-check, one refresh for the whole fleet, version CAS. An explicit
// invalid_grant for the refresh token that is still the stored one marks
// the company needs_reauth through onInvalidGrant (the one guarded writer,
// one audit event, one alert) and VerifyGrant returns its
// *ReauthRequiredError. It returns nil when the grant is alive: the refresh
// succeeded, or a sibling or an operator had stored a newer pair meanwhile;
// the refusal was then the endpoint's, not the grant's. Any other error
// (the token endpoint or Redis unavailable) is transient: nothing is
// marked. A missing company is a *NotFoundError; a paused company a
// *PausedError. It is safe for concurrent use.
func (m *Manager) VerifyGrant(ctx context.Context, company string) error {
	company, err := canonicalCompany(company)
	if err != nil {
		return err
	}
	version, err := m.refusedVersion(ctx, company)
	if err != nil {
		return err
	}
	if _, err := m.store.markInvalidated(ctx, company, version); err != nil {
		return err
	}
	m.forget(company, "")
	m.log.LogAttrs(ctx, slog.LevelInfo, "gusto refused a data call; asking the token endpoint whether the grant is alive",
		slog.String("company", company), slog.Int64("version", version))
	if _, err := m.AccessToken(ctx, company); err != nil {
		return err
	}
	return nil
}

// MarkMissingScope holds invariant 13 (docs/invariants.md): it marks company
// missing_scope because Gusto refused a data call for a scope its grant
// lacks (scopes, when Gusto named them). The grant is not revoked: the
// company is not synced until a person grants the scope and it is added
// again or resumed. It changes the row only at the
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
	company, err := canonicalCompany(company)
	if err != nil {
		return false, err
	}
	version, err := m.refusedVersion(ctx, company)
	if err != nil {
		return false, err
	}
	marked, err := m.store.markMissingScope(ctx, company, version, reason, Event{Worker: m.cfg.WorkerID,
		Trigger: TriggerUnauthorized, Outcome: OutcomeStatusChange, Detail: "missing_scope: " + reason, StartedAt: m.now()})
	if err != nil {
		return false, err
	}
	if marked {
		m.forget(company, "")
		m.log.LogAttrs(ctx, slog.LevelError, "company lacks a scope; it will not be synced until a person grants it",
			slog.String("company", company), slog.String("reason", reason), slog.Int64("version", version))
	}
	return marked, err
}

// refusedVersion is the version of the token Gusto refused: the one this
// process handed out for company (cached), else the stored one.
func (m *Manager) refusedVersion(ctx context.Context, company string) (int64, error) {
	m.mu.RLock()
	e := m.cache[company]
	m.mu.RUnlock()
	if e != nil {
		return e.version, nil
	}
	st, err := m.store.status(ctx, company)
	if err != nil {
		return 0, err
	}
	return st.Version, nil
}

// announceReauth is the one log line (the operators' alert besides the
// webhook) of a company entering needs_reauth, written by the worker whose
// call made the change.
func (m *Manager) announceReauth(ctx context.Context, company, reason string, version int64) {
	m.log.LogAttrs(ctx, slog.LevelError, "company needs re-authorization; it will not be synced until a person authorizes the app again",
		slog.String("company", company), slog.String("reason", reason), slog.Int64("version", version))
}
