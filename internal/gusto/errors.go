package gusto

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Errors returned by the client. Callers classify them with errors.As; each
// carries the operation ("POST /oauth/token", "GET /v1/companies/{id}/employees")
// and never a token, a secret or a full URL with credentials.

// HTTPError is a non-2xx answer that no more specific type describes
// (400, 404, 422, …). The other status errors embed it.
type HTTPError struct {
	// Op names the request: method and path template.
	Op string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is Gusto's error_key, the OAuth error code ("invalid_grant"), or
	// the name of a {"name", "message"} body (Gusto's 406).
	Code string
	// Category is Gusto's error category ("not_found", "invalid_operation"…),
	// when the body had one.
	Category string
	// Message is Gusto's message, truncated; it never echoes a credential.
	Message string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("gusto: %s: %d %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
	switch {
	case e.Code != "" && e.Category != "":
		s += " (" + e.Code + ", " + e.Category + ")"
	case e.Code != "":
		s += " (" + e.Code + ")"
	case e.Category != "":
		s += " (" + e.Category + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// UnauthorizedError is a 401 on a data call: the access token was refused
// (expired, revoked, or missing a scope on some endpoints).
type UnauthorizedError struct{ HTTPError }

// ForbiddenError is a 403 that no more specific type describes: the token
// is valid but Gusto refuses access. A 403 whose body says the token lacks
// a permission is a *MissingScopeError instead (see classifyScope).
type ForbiddenError struct{ HTTPError }

// APIVersionError is Gusto refusing the X-Gusto-API-Version the client
// sent: a 406 Not Acceptable (Gusto's answer, on every endpoint, once a
// version is retired or when it is malformed), or an error of category
// invalid_api_version or deprecated_endpoint (the endpoint does not exist in
// that version), on an API call or on POST /oauth/token alike.
//
// It is a fleet-wide configuration error, never a company's fault: every
// request of every company gets the same answer until the configured
// version is changed. It is not Transient (retrying at once cannot help), it
// is not an authorization failure (no token is refused, no grant is revoked,
// no company needs re-authorization), and on the token endpoint it is never
// an *InvalidGrantError.
type APIVersionError struct {
	HTTPError
	// Version is the X-Gusto-API-Version the refused request carried.
	Version string
}

func (e *APIVersionError) Error() string {
	s := fmt.Sprintf("gusto: %s: Gusto refuses API version %s (%d %s", e.Op, e.Version, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Category != "" {
		s += ", " + e.Category
	}
	s += ")"
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// MissingScopeError is a 403 or 404 (or a 401) whose Gusto error body says
// the token lacks a permission: category or error_key missing_permissions
// (Gusto's "Error Categories" page), or one of the spellings other OAuth
// servers use (invalid_scope, insufficient_scope, missing_scope,
// missing_scopes), in Gusto's errors array or as an OAuth error. See
// classifyScope for the whole rule.
//
// The grant is valid; a person must grant the scope (re-authorize with it,
// or have Gusto add it to the application). It is not Transient and is not
// proof of revocation.
type MissingScopeError struct {
	HTTPError
	// Scopes are the scopes the answer named as missing (from the error's
	// metadata, a WWW-Authenticate scope, or resource:action words in the
	// message), sorted and without duplicates; empty when it named none.
	Scopes []string
}

// PageLimitError ends a list walk that fetched Options.MaxPages pages
// without reaching its last page (no X-Total-Pages and never an empty page,
// or an X-Total-Pages beyond the limit). The pages yielded before it are
// sound; the listing is not complete.
type PageLimitError struct {
	// Op names the list request.
	Op string
	// Limit is Options.MaxPages.
	Limit int
	// NextPage is the page the walk would have fetched next.
	NextPage int
}

func (e *PageLimitError) Error() string {
	return fmt.Sprintf("gusto: %s: walk stopped after %d pages (MaxPages) before page %d: the server sent no X-Total-Pages that ends it and no empty page", e.Op, e.Limit, e.NextPage)
}

// InvalidGrantError is the token endpoint refusing the grant with an
// explicit OAuth error invalid_grant, whatever the status. It is not yet
// proof of revocation: a sibling worker may have rotated the refresh token.
type InvalidGrantError struct{ HTTPError }

// EdgeError is a 401 or 403 that carries no verdict from Gusto: on the token
// endpoint, one without an OAuth error body; on a data call, a 403 without
// Gusto's {"errors": [...]} body. Such answers come from something in front
// of Gusto (a gateway, a WAF, a proxy in the deployment's own network), and
// say nothing about the company's grant. It is Transient and must never
// mark a company: retried with backoff like a 5xx, and counted, so that a
// persistent one alerts an operator rather than every company.
type EdgeError struct{ HTTPError }

// RateLimitedError is a 429. RetryAfter is Gusto's Retry-After (zero when
// absent or unparsable).
type RateLimitedError struct {
	HTTPError
	RetryAfter time.Duration
}

// ServerError is a 5xx.
type ServerError struct {
	HTTPError
	// RetryAfter is Retry-After when a 503 carried one.
	RetryAfter time.Duration
}

// Unwrap exposes the embedded *HTTPError, so errors.As(err, &httpErr) reads
// the op and status of any status error.
func (e *UnauthorizedError) Unwrap() error { return &e.HTTPError }

// Unwrap exposes the embedded *HTTPError.
func (e *ForbiddenError) Unwrap() error { return &e.HTTPError }

// Unwrap exposes the embedded *HTTPError.
func (e *InvalidGrantError) Unwrap() error { return &e.HTTPError }

// Unwrap exposes the embedded *HTTPError.
func (e *EdgeError) Unwrap() error { return &e.HTTPError }

// Unwrap exposes the embedded *HTTPError.
func (e *APIVersionError) Unwrap() error { return &e.HTTPError }

// Unwrap exposes the embedded *HTTPError.
func (e *MissingScopeError) Unwrap() error { return &e.HTTPError }

// Unwrap exposes the embedded *HTTPError.
func (e *RateLimitedError) Unwrap() error { return &e.HTTPError }

// Unwrap exposes the embedded *HTTPError.
func (e *ServerError) Unwrap() error { return &e.HTTPError }

// MalformedResponseError is a 2xx (or error) response whose body could not
// be understood: not JSON, truncated, too large, or missing required fields.
type MalformedResponseError struct {
	Op         string
	StatusCode int
	// Reason says what was wrong, without echoing the body.
	Reason string
	Err    error
}

func (e *MalformedResponseError) Error() string {
	return fmt.Sprintf("gusto: %s: malformed response (status %d): %s", e.Op, e.StatusCode, e.Reason)
}

func (e *MalformedResponseError) Unwrap() error { return e.Err }

// TransportError is a request that got no HTTP answer: connection refused or
// reset, DNS, timeout. It is transient.
type TransportError struct {
	Op  string
	Err error
}

func (e *TransportError) Error() string { return fmt.Sprintf("gusto: %s: %v", e.Op, e.Err) }

func (e *TransportError) Unwrap() error { return e.Err }

// Transient reports whether err is worth retrying later with the same
// credentials: a 429, a 5xx, a 401 or 403 without Gusto's verdict
// (*EdgeError), a transport failure or timeout. A transient error must never
// mark a company as needing re-authorization.
func Transient(err error) bool {
	var rl *RateLimitedError
	var se *ServerError
	var ee *EdgeError
	var te *TransportError
	return errors.As(err, &rl) || errors.As(err, &se) || errors.As(err, &ee) || errors.As(err, &te)
}

// RetryAfter returns the wait Gusto asked for with Retry-After, or zero.
func RetryAfter(err error) time.Duration {
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter
	}
	var se *ServerError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}
