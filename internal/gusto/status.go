package gusto

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxMessageBytes bounds a message taken from an error body.
const maxMessageBytes = 200

// maxRetryAfter caps a Retry-After so that absurd values cannot overflow.
const maxRetryAfter = 24 * time.Hour

// errorInfo is what an error answer says. Every string is sanitized (see
// clean); a body that is not a JSON object says nothing, and is never echoed.
type errorInfo struct {
	// code is the first error's error_key, else the OAuth error, else the
	// name of a {"name", "message"} body.
	code string
	// category is the first error's category.
	category string
	// message joins the errors' messages, else error_description, else
	// message.
	message string
	// scopeMissing reports that the answer says the token lacks a
	// permission, and scopes are the scopes it names (see classifyScope).
	scopeMissing bool
	scopes       []string
	// versionRefused reports an error of category (or error_key)
	// invalid_api_version or deprecated_endpoint.
	versionRefused bool
	// gustoErrors reports Gusto's API error body ({"errors": [...]} with at
	// least one entry); oauthError an OAuth error body ({"error": "..."}).
	// An answer with neither came from something in front of Gusto, or
	// from Gusto without a verdict (see EdgeError).
	gustoErrors, oauthError bool
}

// errorEntry is one item of Gusto's {"errors": [...]} array.
type errorEntry struct {
	key, category, message string
	metadata               map[string]json.RawMessage
}

// errorDetails reads an error answer: the shapes Gusto returns (the API's
// {"errors":[{error_key, category, message, metadata}]}, OAuth's {"error",
// "error_description"}, the 406's {"name", "message"}, a bare {"message"})
// and a Bearer WWW-Authenticate challenge. Each field is read on its own, so
// one field of an unexpected type costs only that field.
func errorDetails(h http.Header, body []byte, secrets ...string) errorInfo {
	var top map[string]json.RawMessage
	if len(body) > 0 {
		_ = json.Unmarshal(body, &top) // not an object: nothing to read
	}
	var entries []errorEntry
	var raws []json.RawMessage
	if json.Unmarshal(top["errors"], &raws) == nil {
		for _, raw := range raws {
			var m map[string]json.RawMessage
			if json.Unmarshal(raw, &m) != nil || m == nil {
				continue
			}
			e := errorEntry{key: looseString(m["error_key"]), category: looseString(m["category"]), message: looseString(m["message"])}
			_ = json.Unmarshal(m["metadata"], &e.metadata) // optional; another shape is ignored
			entries = append(entries, e)
		}
	}
	oauthErr := looseString(top["error"])

	info := errorInfo{gustoErrors: len(entries) > 0, oauthError: oauthErr != ""}
	switch {
	case len(entries) > 0:
		info.code, info.category = entries[0].key, entries[0].category
		msgs := make([]string, 0, len(entries))
		for _, e := range entries {
			if e.message != "" {
				msgs = append(msgs, e.message)
			}
		}
		info.message = strings.Join(msgs, "; ")
	case oauthErr != "":
		info.code, info.message = oauthErr, looseString(top["error_description"])
	default:
		info.code, info.message = looseString(top["name"]), looseString(top["message"])
	}
	for _, e := range entries {
		info.versionRefused = info.versionRefused || versionCategory(e.key) || versionCategory(e.category)
	}
	info.scopeMissing, info.scopes = classifyScope(h, top, entries, secrets)
	info.code = clean(info.code, 64, secrets)
	info.category = clean(info.category, 64, secrets)
	info.message = clean(info.message, maxMessageBytes, secrets)
	return info
}

// versionCategory reports a Gusto error category that refuses the API
// version: invalid_api_version (406) or deprecated_endpoint (404, "no longer
// supported in the requested API version"), both on
// https://docs.gusto.com/embedded-payroll/docs/error-categories.
func versionCategory(s string) bool {
	return strings.EqualFold(s, "invalid_api_version") || strings.EqualFold(s, "deprecated_endpoint")
}

// clean makes s safe to put in an error string: invalid UTF-8 and control
// characters become spaces (so that removing them cannot join the halves of
// a secret), every non-empty secret is replaced by "[redacted]", so is
// anything shaped like a credential the client does not know (see
// redactOpaque), and the result is cut to at most n bytes on a rune boundary.
func clean(s string, n int, secrets []string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unicode.IsControl(r) || r == utf8.RuneError {
			b.WriteByte(' ')
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	s = b.String()
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = redactOpaque(s)
	s = strings.TrimSpace(s)
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// retryAfter parses Retry-After as delay-seconds or an HTTP date. A date is
// measured against the response's own Date header when present (both are
// Gusto's clock), else against the local clock corrected by skew. Missing,
// unparsable or past values give zero; values are capped at maxRetryAfter.
func retryAfter(h http.Header, serverDate, now time.Time, skew time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || secs <= 0 {
			return 0
		}
		if secs >= maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		return time.Duration(secs * float64(time.Second))
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	ref := serverDate
	if ref.IsZero() {
		ref = now.Add(skew)
	}
	d := t.Sub(ref)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// statusError turns a non-2xx answer into the matching typed error. The
// order matters: 429 and 5xx are transient whatever the body says; then a
// refused API version (406, or a version category), which is never a
// company's fault; then a missing scope (401, 403 or 404 whose body says
// so); then 401 (Gusto's 401 has no guaranteed body), a 403 without Gusto's
// error body (*EdgeError, transient), a 403 in Gusto's words, and any other
// status as a plain *HTTPError.
func (c *Client) statusError(op string, r *response, secrets ...string) error {
	info := errorDetails(r.header, r.body, secrets...)
	he := HTTPError{Op: op, StatusCode: r.status, Code: info.code, Category: info.category, Message: info.message}
	switch {
	case r.status == http.StatusTooManyRequests:
		return &RateLimitedError{HTTPError: he, RetryAfter: retryAfter(r.header, r.serverDate, r.receivedAt, c.Skew())}
	case r.status >= 500:
		return &ServerError{HTTPError: he, RetryAfter: retryAfter(r.header, r.serverDate, r.receivedAt, c.Skew())}
	case r.status == http.StatusNotAcceptable || (info.versionRefused && r.status >= 400):
		return &APIVersionError{HTTPError: he, Version: c.version}
	case info.scopeMissing && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden || r.status == http.StatusNotFound):
		return &MissingScopeError{HTTPError: he, Scopes: info.scopes}
	case r.status == http.StatusUnauthorized:
		return &UnauthorizedError{HTTPError: he}
	case r.status == http.StatusForbidden && !info.gustoErrors && !info.oauthError:
		// Gusto's own 403s say why in {"errors": [...]} (an OAuth
		// server in {"error": ...}); one with neither is a gateway's or a
		// WAF's, and says nothing about the grant.
		return &EdgeError{HTTPError: he}
	case r.status == http.StatusForbidden:
		return &ForbiddenError{HTTPError: he}
	default:
		return &he
	}
}

// minOpaque is the shortest run that redactOpaque treats as a credential.
// Gusto's tokens are 43 characters of base64url.
const minOpaque = 20

// redactOpaque replaces every run of at least minOpaque token characters
// (letters, digits, "-._~+/=") that mixes letters and digits and is not a
// UUID by "[redacted]": an error body could echo a token the client does not
// hold (a refresh token in an API error), and such runs are not prose.
func redactOpaque(s string) string {
	var b strings.Builder
	start := -1
	flush := func(end int) {
		run := s[start:end]
		if len(run) >= minOpaque && mixesLettersAndDigits(run) && !isUUID(run) {
			b.WriteString("[redacted]")
		} else {
			b.WriteString(run)
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		if isTokenChar(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			flush(i)
		}
		b.WriteByte(s[i])
	}
	if start >= 0 {
		flush(len(s))
	}
	return b.String()
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/=", c) >= 0
}

func mixesLettersAndDigits(s string) bool {
	var letter, digit bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter = letter || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		digit = digit || c >= '0' && c <= '9'
	}
	return letter && digit
}

// isUUID reports whether s is 8-4-4-4-12 hex digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
