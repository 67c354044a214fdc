// Package tokens owns each company's Gusto OAuth tokens: it stores them
// encrypted in PostgreSQL (gusto_auth_tokens, audited in
// token_refresh_events) and hands out access tokens through a Manager that
// refreshes them safely however many worker processes race and whatever
// crashes.
//
// It is the one writer of gusto_auth_tokens and token_refresh_events: the
// credential columns, the refresh, and every change of a company's status
// (active, paused, needs_reauth, with its reason), each a compare-and-swap
// on the row's version in one transaction with its audit row (status.go;
// Store.markNeedsReauth is the only writer of needs_reauth), and the
// row's deletion when a company is offboarded (Store.Delete, called by
// package offboard). Every
// transaction goes through postgres.InTx. Other packages read companies
// through package companies and change a status only by calling Pause,
// Resume or Manager.VerifyGrant.
//
// The Manager implements gusto.TokenSource and gusto.Invalidator. The sync
// code calls AccessToken before every Gusto request; the Gusto client calls
// Invalidate once after a 401. Its guarantees (numbered as in
// docs/invariants.md, which names the test of each) and where each lives:
//
//   - Fenced refresh (invariant 1): the redsync mutex per company only keeps
//     refreshes from piling up; correctness comes from the row's version,
//     compared-and-swapped at commit (Store.commitRefresh). A holder that lost
//     its lock and then the compare-and-swap throws its new pair away unused.
//     The send is fenced too (fence.go): a token request goes out only after
//     the lock was extended with RefreshTimeout left and the version claimed
//     in PostgreSQL (Manager.fenceSend, Store.claimRefresh).
//   - Spread over time: each company's refresh starts up to half its
//     refresh-ahead window early, by a hash of its uuid (refreshJitter), and
//     an optional fleet-wide budget (Config.Budget, TOKEN_REFRESH_RATE)
//     defers refreshes of still-valid tokens, the token closest to expiry
//     first.
//   - Commit before use (invariant 2): a new access token leaves the package
//     only after the row holding it is committed (Manager.commit), so a crash
//     between Gusto's answer and the commit leaves the stored refresh token in
//     place (still valid under Gusto's rule).
//   - Double-checked refresh (invariant 3): after taking the lock the row is
//     read again; waiters poll the row, not the lock, and take a sibling's
//     token as soon as it is committed (Manager.refreshLocked, Manager.lock).
//   - invalid_grant is not yet revocation (invariant 4): only a refused
//     refresh token that is still the stored one marks the company
//     needs_reauth, once (Manager.onInvalidGrant).
//   - Transient is not terminal (invariant 5): 429, 5xx and timeouts back
//     off (Retry-After, else exponential with jitter) and never change the
//     company's status (Manager.exchange, with a backoff.Policy).
//   - Secrets stay secret (invariant 8): AES-256-GCM with a key id per row and
//     the company uuid as associated data (Keyring); no token in any log,
//     error, event or metric.
//   - Clock skew is measured (invariant 9): expiries are on Gusto's clock
//     (its Date header), compared with the local clock plus the skew the
//     Gusto client measured (gusto.Client.Skew, carried by each token and
//     fed through Manager.ObserveSkew; the client logs it above 30 s), and
//     exported as a metric (expiry.go, Manager.nextRecord).
//
// The package must never refresh without the lock, never change a status
// without the version guard, never hand out a token
// before its commit, never retry a refused grant, and never let a token or
// key reach a log line, an error string or a metric label. It knows nothing
// of asynq: callers classify its errors with Terminal and RetryAfter.
package tokens
