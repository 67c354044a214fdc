package gusto

import (
	"strconv"
	"strings"
	"time"
)

// Token is Gusto's token response (Refresh-Token-Authentication), plus the
// clocks it was received on. Its String method redacts both tokens.
type Token struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	// ExpiresIn is the access token's lifetime in seconds (7200 at Gusto).
	ExpiresIn int64 `json:"expires_in"`
	// CreatedAt is when Gusto created the token, in unix seconds.
	CreatedAt int64 `json:"created_at"`
	// Scope is the space-separated list of granted scopes.
	Scope string `json:"scope"`

	// ServerDate is the response's Date header: Gusto's clock when it
	// answered. Zero when the header was missing or malformed.
	ServerDate time.Time `json:"-"`
	// ReceivedAt is the local clock when the response arrived.
	ReceivedAt time.Time `json:"-"`
	// Skew is the client's clock skew estimate (Gusto's clock minus ours;
	// see Client.Skew) once this response was measured: the estimate a
	// token carries, so its expiry is computed on Gusto's clock.
	Skew time.Duration `json:"-"`
}

// String redacts the tokens.
func (t Token) String() string {
	return "gusto.Token{expires_in=" + strconv.FormatInt(t.ExpiresIn, 10) + " scope=" + t.Scope + " access_token=[redacted] refresh_token=[redacted]}"
}

// GoString redacts the tokens.
func (t Token) GoString() string { return t.String() }

// Scopes returns the granted scopes as a slice.
func (t Token) Scopes() []string { return strings.Fields(t.Scope) }

// TokenInfo is GET /v1/token_info: what a token grants and whom it is for.
type TokenInfo struct {
	// Scope is the space-separated list of granted scopes.
	Scope         string         `json:"scope"`
	Resource      *TokenResource `json:"resource"`
	ResourceOwner *TokenResource `json:"resource_owner"`
}

// TokenResource is the resource (e.g. type "Company") or owner of a token.
type TokenResource struct {
	Type string `json:"type"`
	UUID string `json:"uuid"`
}
