package gusto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const opToken = "POST /oauth/token"

// maxExpiresIn bounds expires_in (ten years) so that expiry arithmetic
// cannot overflow.
const maxExpiresIn = 10 * 365 * 24 * 3600

// RefreshToken exchanges refreshToken for a new access token and a new
// refresh token (grant_type=refresh_token). It sends one request and never
// retries: the caller owns backoff, and a refresh token must not be replayed.
//
// Errors: *InvalidGrantError only for an explicit OAuth invalid_grant,
// *APIVersionError for a 406 (never an *InvalidGrantError), *HTTPError with
// Code "invalid_client" for bad client credentials, *EdgeError for a 401 or
// 403 without an OAuth error body (transient: a gateway's answer, not a
// verdict on the grant), *RateLimitedError (429), *ServerError (5xx),
// *TransportError, *MalformedResponseError when the answer lacks
// access_token, refresh_token or a positive expires_in.
func (c *Client) RefreshToken(ctx context.Context, refreshToken string) (Token, error) {
	if refreshToken == "" {
		return Token{}, errors.New("gusto: " + opToken + ": empty refresh token")
	}
	return c.tokenRequest(ctx, map[string]string{
		"grant_type":    "refresh_token",
		"refresh_token": refreshToken,
	}, refreshToken)
}

// ExchangeCode exchanges an authorization code from the OAuth redirect for a
// token pair (grant_type=authorization_code). Errors are those of
// RefreshToken.
func (c *Client) ExchangeCode(ctx context.Context, code string) (Token, error) {
	if code == "" {
		return Token{}, errors.New("gusto: " + opToken + ": empty authorization code")
	}
	return c.tokenRequest(ctx, map[string]string{
		"grant_type": "authorization_code",
		"code":       code,
	}, code)
}

// AuthorizeURL returns the URL to send a user to for consent:
// {BaseURL}/oauth/authorize with client_id, redirect_uri,
// response_type=code, state and the space-separated scopes (omitted when
// empty). It never contains the client secret.
func (c *Client) AuthorizeURL(state string, scopes []string) string {
	q := url.Values{}
	q.Set("client_id", c.opts.ClientID)
	q.Set("redirect_uri", c.opts.RedirectURI)
	q.Set("response_type", "code")
	q.Set("state", state)
	if len(scopes) > 0 {
		q.Set("scope", strings.Join(scopes, " "))
	}
	u := *c.base
	u.Path = c.base.Path + "/oauth/authorize"
	u.RawQuery = q.Encode()
	return u.String()
}

// tokenRequest posts a grant to /oauth/token; grant is the credential being
// exchanged (refresh token or code), kept out of every error.
func (c *Client) tokenRequest(ctx context.Context, fields map[string]string, grant string) (Token, error) {
	if c.opts.ClientID == "" || c.opts.ClientSecret == "" {
		return Token{}, errors.New("gusto: " + opToken + ": ClientID and ClientSecret are required")
	}
	fields["client_id"] = c.opts.ClientID
	fields["client_secret"] = c.opts.ClientSecret
	if c.opts.RedirectURI != "" {
		fields["redirect_uri"] = c.opts.RedirectURI
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return Token{}, fmt.Errorf("gusto: %s: encode body: %w", opToken, err)
	}
	r, err := c.do(ctx, request{op: opToken, method: http.MethodPost, path: "/oauth/token", body: body})
	if err != nil {
		return Token{}, err
	}
	secrets := []string{c.opts.ClientSecret, grant}
	if r.status < 200 || r.status > 299 {
		return Token{}, c.tokenStatusError(r, secrets)
	}
	if r.tooLarge {
		return Token{}, tooLarge(opToken, r)
	}
	t, err := decodeToken(r.body)
	if err != nil {
		return Token{}, malformed(opToken, r.status, err)
	}
	t.ServerDate = r.serverDate
	t.ReceivedAt = r.receivedAt
	t.Skew = c.Skew()
	return t, nil
}

// tokenStatusError classifies a non-2xx token endpoint answer: 429 and 5xx
// first (transient whatever the body says), then a refused API version (a
// 406 is the version, never the grant), then invalid_client (our
// configuration, never the company's grant), then an explicit
// invalid_grant, the only answer that can mean a refused grant. A 401 or 403
// without an OAuth error body is an *EdgeError: RFC 6749 §5.2 has the token
// endpoint answer 401 only for client authentication (invalid_client), and
// an answer with no OAuth body at all is a gateway's, a WAF's or a proxy's;
// reading it as invalid_grant would mark every company refreshed meanwhile
// as needing a person.
func (c *Client) tokenStatusError(r *response, secrets []string) error {
	if r.status == http.StatusTooManyRequests || r.status >= 500 {
		return c.statusError(opToken, r, secrets...)
	}
	info := errorDetails(r.header, r.body, secrets...)
	he := HTTPError{Op: opToken, StatusCode: r.status, Code: info.code, Category: info.category, Message: info.message}
	switch {
	case r.status == http.StatusNotAcceptable || info.versionRefused:
		return &APIVersionError{HTTPError: he, Version: c.version}
	case info.code == "invalid_client":
		return &he
	case info.code == "invalid_grant":
		return &InvalidGrantError{HTTPError: he}
	case (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden) && !info.oauthError:
		return &EdgeError{HTTPError: he}
	default:
		return c.statusError(opToken, r, secrets...)
	}
}

// tokenWire is the token response as sent: expires_in is "number" in
// Gusto's reference and decoded leniently (a number or a numeric string);
// created_at is decoded by ParseCreatedAt.
type tokenWire struct {
	AccessToken  *string         `json:"access_token"`
	TokenType    *string         `json:"token_type"`
	RefreshToken *string         `json:"refresh_token"`
	ExpiresIn    json.Number     `json:"expires_in"`
	CreatedAt    json.RawMessage `json:"created_at"`
	Scope        *string         `json:"scope"`
}

// decodeToken decodes and validates a refresh or code grant response.
func decodeToken(b []byte) (Token, error) {
	var w tokenWire
	if err := unmarshalObject(b, &w); err != nil {
		return Token{}, err
	}
	var t Token
	if w.AccessToken == nil || *w.AccessToken == "" {
		return Token{}, errMissing("access_token")
	}
	if w.RefreshToken == nil || *w.RefreshToken == "" {
		return Token{}, errMissing("refresh_token")
	}
	t.AccessToken, t.RefreshToken = *w.AccessToken, *w.RefreshToken
	if w.TokenType != nil {
		t.TokenType = *w.TokenType
		if t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer") {
			return Token{}, decodeError("token_type is not Bearer")
		}
	}
	if w.Scope != nil {
		t.Scope = *w.Scope
	}
	if w.ExpiresIn == "" {
		return Token{}, errMissing("expires_in")
	}
	exp, ok := wholeSeconds(w.ExpiresIn)
	if !ok || exp <= 0 || exp > maxExpiresIn {
		return Token{}, decodeError("expires_in is not a positive number of seconds")
	}
	t.ExpiresIn = exp
	ca, err := ParseCreatedAt(w.CreatedAt)
	if err != nil {
		return Token{}, err
	}
	t.CreatedAt = ca
	return t, nil
}

// ParseCreatedAt reads a token response's created_at as unix seconds. Gusto's
// reference says a number of unix seconds; responses have also carried it
// as a string, either the same number ("1767644464") or an RFC 3339
// timestamp ("2026-01-05T20:21:04Z"). Absent, null or "" is 0 (unknown).
// Anything else, or a time before 1970, is an error naming the field.
func ParseCreatedAt(raw json.RawMessage) (int64, error) {
	const bad = decodeError("created_at is neither unix seconds nor an RFC 3339 timestamp")
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var text string
	switch raw[0] {
	case '"':
		if json.Unmarshal(raw, &text) != nil {
			return 0, bad
		}
		text = strings.TrimSpace(text)
		if text == "" {
			return 0, nil
		}
	default:
		text = string(raw)
	}
	var secs int64
	if n, ok := wholeSeconds(json.Number(text)); ok && (text[0] == '-' || text[0] >= '0' && text[0] <= '9') && json.Valid([]byte(text)) {
		secs = n
	} else if raw[0] == '"' {
		ts, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			return 0, bad
		}
		secs = ts.Unix()
	} else {
		return 0, bad
	}
	if secs < 0 {
		return 0, decodeError("created_at is before 1970")
	}
	return secs, nil
}

// wholeSeconds reads a JSON number as whole seconds (7200 or 7200.0).
func wholeSeconds(n json.Number) (int64, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}
