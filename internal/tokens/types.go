package tokens

import (
	"strconv"
	"time"
)

// Status is a company's token status (gusto_auth_tokens.status).
type Status string

// The statuses a company can be in.
const (
	// StatusActive companies are synced; their tokens are refreshed as needed.
	StatusActive Status = "active"
	// StatusNeedsReauth companies lost their grant; status_reason says why.
	StatusNeedsReauth Status = "needs_reauth"
	// StatusPaused companies were paused by an operator.
	StatusPaused Status = "paused"
	// StatusMissingScope companies' grants lack a scope a sync needs (Gusto
	// answered missing_permissions); status_reason names it. The grant is
	// not revoked: it is synced again once a person grants the scope (the
	// company re-consents and is added again, or an operator resumes it).
	StatusMissingScope Status = "missing_scope"
	// StatusKeyMissing companies' tokens are sealed under a key that
	// TOKEN_ENCRYPTION_KEYS no longer holds (or that the key of that id no
	// longer opens): nothing is synced until an operator puts the key back
	// and runs `gustosync tokens rekey` or `gustosync companies resume`
	// (the row must open), or stores new tokens (companies add);
	// status_reason names the key id, never a key.
	StatusKeyMissing Status = "key_missing"
)

// Trigger says what asked for a refresh (token_refresh_events.trigger).
type Trigger string

// The triggers recorded in token_refresh_events.
const (
	// TriggerExpiry: the stored token was inside its refresh-ahead window.
	TriggerExpiry Trigger = "expiry"
	// TriggerUnauthorized: a data call got a 401 and invalidated the token.
	TriggerUnauthorized Trigger = "unauthorized"
	// TriggerOnboard: an operator stored tokens (gustosync companies add).
	TriggerOnboard Trigger = "onboard"
	// TriggerRekey: an operator re-encrypted the rows (gustosync tokens rekey).
	TriggerRekey Trigger = "rekey"
	// TriggerManual: an operator paused or resumed a company.
	TriggerManual Trigger = "manual"
	// TriggerKeyMissing: a worker found the company's row sealed under a
	// key it cannot open, and marked it key_missing.
	TriggerKeyMissing Trigger = "key_missing"
)

// Outcome is the result of one refresh attempt (token_refresh_events.outcome).
type Outcome string

// The outcomes recorded in token_refresh_events and counted by the
// refreshes metric.
const (
	// OutcomeRefreshed: Gusto issued a new pair and it was committed.
	OutcomeRefreshed Outcome = "refreshed"
	// OutcomeSiblingRefreshed: the grant was refused, but another worker had
	// already rotated it; its token is used.
	OutcomeSiblingRefreshed Outcome = "sibling_refreshed"
	// OutcomeCASLost: Gusto issued a new pair but another worker committed
	// first; the new pair was thrown away unused.
	OutcomeCASLost Outcome = "cas_lost"
	// OutcomeRevoked: the stored refresh token was refused; the company now
	// needs re-authorization.
	OutcomeRevoked Outcome = "revoked"
	// OutcomeTransient: 429, 5xx or a timeout; retried with backoff.
	OutcomeTransient Outcome = "transient"
	// OutcomeFailed: any other failure (bad client credentials, malformed
	// response, the commit failing).
	OutcomeFailed Outcome = "failed"
	// OutcomeStatusChange: an operator action changed the row.
	OutcomeStatusChange Outcome = "status_change"
)

// Grant is a token pair handed to gustosync by an operator: the token
// response Gusto returns for a company (`gustosync companies add` reads it as
// JSON). Its String method redacts both tokens.
type Grant struct {
	// CompanyUUID is the company the pair is for.
	CompanyUUID string `json:"company_uuid"`
	// AccessToken and RefreshToken are the pair, in plaintext: never log them.
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64 `json:"expires_in"`
	// Scope is the space-separated list of granted scopes; empty when unknown
	// (Gusto's partner-managed company creation does not return it).
	Scope string `json:"scope,omitempty"`
	// CreatedAt is when Gusto issued the pair, in unix seconds on Gusto's
	// clock; zero means now.
	CreatedAt int64 `json:"created_at,omitempty"`
}

// String redacts the tokens.
func (g Grant) String() string {
	return "tokens.Grant{company_uuid=" + g.CompanyUUID + " expires_in=" + strconv.FormatInt(g.ExpiresIn, 10) +
		" scope=" + g.Scope + " access_token=[redacted] refresh_token=[redacted]}"
}

// GoString redacts the tokens.
func (g Grant) GoString() string { return g.String() }

// Event is one row of token_refresh_events: the audit of one refresh attempt
// or operator action. It never holds a token.
type Event struct {
	// ID is the row's id (set when read back).
	ID int64
	// Company is the company uuid.
	Company string
	// Worker identifies the process (Config.WorkerID).
	Worker  string
	Trigger Trigger
	Outcome Outcome
	// Detail says more (an error's class and status, a reason); never a token.
	Detail string
	// OldVersion and NewVersion are the row versions before and after; zero
	// when not applicable.
	OldVersion int64
	NewVersion int64
	// StartedAt and FinishedAt bound the attempt (the local clock).
	StartedAt  time.Time
	FinishedAt time.Time
}

// record is a decrypted row. Never log it.
type record struct {
	Company      string
	AccessToken  string
	RefreshToken string
	KeyID        string
	Expiration   time.Time // Gusto's clock
	IssuedAt     time.Time // Gusto's clock
	Lifetime     time.Duration
	Scopes       string
	Version      int64
	Status       Status
	StatusReason string
	Invalidated  bool
	Skew         time.Duration
}
