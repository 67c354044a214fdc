package tokens

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gustosync/gustosync/internal/gusto"
)

// Errors returned by the token manager and the store. Callers classify them
// with errors.As, or with Terminal and RetryAfter. None of them carries a
// token, a secret or a key.

// ErrInvalidCompany is wrapped by errors about a company id that is not a uuid.
var ErrInvalidCompany = errors.New("company id is not a uuid")

// ReauthRequiredError means the company's grant is gone (revoked in Gusto, or
// its refresh token refused while still the stored one): a person must
// authorize the app again. It is terminal: retrying cannot help.
type ReauthRequiredError struct {
	// Company is the company uuid.
	Company string
	// Reason is the stored status reason.
	Reason string
}

func (e *ReauthRequiredError) Error() string {
	return fmt.Sprintf("tokens: company %s needs re-authorization: %s", e.Company, e.Reason)
}

// ScopeRequiredError means the company's grant lacks a scope a sync needs
// (status missing_scope): a person must grant it. It is terminal for the
// current sync, and not a revocation.
type ScopeRequiredError struct {
	// Company is the company uuid.
	Company string
	// Reason is the stored status reason, naming the scope.
	Reason string
}

func (e *ScopeRequiredError) Error() string {
	return fmt.Sprintf("tokens: company %s lacks a scope: %s", e.Company, e.Reason)
}

// KeyMissingError means the company's tokens are sealed under a key this
// process cannot open (status key_missing): the key was dropped from
// TOKEN_ENCRYPTION_KEYS before `gustosync tokens rekey` moved the row off
// it, or the key of that id changed. It is terminal: an operator puts the
// key back and runs `gustosync tokens rekey` (or `gustosync companies
// resume`), or stores new tokens. It names the key id, never a key.
type KeyMissingError struct {
	// Company is the company uuid.
	Company string
	// KeyID is the id of the key the row is sealed under.
	KeyID string
	// Reason is the stored status reason.
	Reason string
	// Err is the *KeyError of this attempt to open the row, when there was
	// one (Unwrap).
	Err error
}

func (e *KeyMissingError) Error() string {
	return fmt.Sprintf("tokens: company %s: tokens cannot be opened (key %q): %s", e.Company, e.KeyID, e.Reason)
}

func (e *KeyMissingError) Unwrap() error { return e.Err }

// PausedError means an operator paused the company. It is terminal for the
// current sync: the company is not synced until it is resumed.
type PausedError struct {
	// Company is the company uuid.
	Company string
	// Reason is the stored status reason.
	Reason string
}

func (e *PausedError) Error() string {
	s := "tokens: company " + e.Company + " is paused"
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// NotFoundError means no tokens are stored for the company.
type NotFoundError struct {
	// Company is the company uuid.
	Company string
}

func (e *NotFoundError) Error() string {
	return "tokens: no tokens stored for company " + e.Company
}

// RefreshError is a refresh that did not produce a committed token: the
// token endpoint kept failing transiently (429, 5xx, timeouts; Unwrap gives
// the last *gusto error, so gusto.Transient and gusto.RetryAfter see through
// it), or it failed in a way that is neither transient nor a refused grant
// (a 400 invalid_client, a malformed response), or the new pair could not be
// stored. It is never terminal: the company keeps its status.
type RefreshError struct {
	// Company is the company uuid.
	Company string
	// Attempts is how many token requests were made.
	Attempts int
	// RetryAfter is how long Gusto asked to wait, when it did.
	RetryAfter time.Duration
	// Err is the last failure.
	Err error
}

func (e *RefreshError) Error() string {
	return fmt.Sprintf("tokens: refresh company %s (%d attempts): %v", e.Company, e.Attempts, e.Err)
}

func (e *RefreshError) Unwrap() error { return e.Err }

// LockError is a failure to take the per-company refresh lock: Redis was
// unreachable, or the lock stayed taken longer than the wait allowed while
// the stored token stayed stale. It is transient. The manager never
// refreshes without the lock.
type LockError struct {
	// Company is the company uuid.
	Company string
	// Waited is how long the manager waited.
	Waited time.Duration
	// Err is the cause (a Redis error, or a context error).
	Err error
}

func (e *LockError) Error() string {
	return fmt.Sprintf("tokens: refresh lock for company %s (waited %s): %v", e.Company, e.Waited.Round(time.Millisecond), e.Err)
}

func (e *LockError) Unwrap() error { return e.Err }

// StoreError is a PostgreSQL failure while reading or writing a company's
// tokens. It is transient.
type StoreError struct {
	// Op says what was being done ("load", "commit refresh", …).
	Op string
	// Company is the company uuid, when there is one.
	Company string
	// Err is the driver's error.
	Err error
}

func (e *StoreError) Error() string {
	if e.Company == "" {
		return fmt.Sprintf("tokens: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("tokens: %s company %s: %v", e.Op, e.Company, e.Err)
}

func (e *StoreError) Unwrap() error { return e.Err }

// MissingScopesError refuses a token whose granted scopes lack ones that
// gustosync's endpoints need.
type MissingScopesError struct {
	// Company is the company uuid.
	Company string
	// Missing lists the required scopes not granted, sorted.
	Missing []string
}

func (e *MissingScopesError) Error() string {
	return fmt.Sprintf("tokens: company %s: token lacks required scopes: %s", e.Company, strings.Join(e.Missing, ", "))
}

// GrantError is an invalid token grant given to Store.Put. Field names the
// JSON field at fault.
type GrantError struct {
	// Field is the JSON field name ("company_uuid", "expires_in", …).
	Field string
	// Reason says what is wrong, never the value of a token.
	Reason string
}

func (e *GrantError) Error() string { return e.Field + ": " + e.Reason }

// Terminal reports whether err means the company cannot be synced until a
// person acts (re-authorize, grant a scope, resume, onboard, restore an
// encryption key): a *ReauthRequiredError, a *ScopeRequiredError, a
// *PausedError, a *KeyMissingError, or a *NotFoundError. The job layer does
// not retry these.
func Terminal(err error) bool {
	var re *ReauthRequiredError
	var se *ScopeRequiredError
	var pe *PausedError
	var km *KeyMissingError
	var nf *NotFoundError
	return errors.As(err, &re) || errors.As(err, &se) || errors.As(err, &pe) || errors.As(err, &km) || errors.As(err, &nf)
}

// RetryAfter returns how long Gusto asked to wait before the next attempt,
// or zero.
func RetryAfter(err error) time.Duration {
	var re *RefreshError
	if errors.As(err, &re) && re.RetryAfter > 0 {
		return re.RetryAfter
	}
	return gusto.RetryAfter(err)
}
