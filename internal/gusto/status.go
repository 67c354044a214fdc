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

// errorBody is the union of the error shapes Gusto returns: the API's
// {"errors":[{error_key, category, message}]} and OAuth's
// {"error", "error_description"}, plus a bare {"message"}.
type errorBody struct {
	Errors []struct {
		ErrorKey string `json:"error_key"`
		Category string `json:"category"`
		Message  string `json:"message"`
	} `json:"errors"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Message          string `json:"message"`
}

// errorDetails extracts code, category and message from an error body. Each
// part is sanitized: control characters and invalid UTF-8 replaced, every
// secret removed, truncated. A body that is not a JSON object yields nothing:
// it is never echoed.
func errorDetails(body []byte, secrets ...string) (code, category, message string) {
	var eb errorBody
	if len(body) == 0 || json.Unmarshal(body, &eb) != nil {
		// Tolerate other shapes (e.g. "errors" as an object): try the OAuth
		// fields alone.
		var oauth struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		if len(body) == 0 || json.Unmarshal(body, &oauth) != nil {
			return "", "", ""
		}
		eb.Error, eb.ErrorDescription = oauth.Error, oauth.ErrorDescription
	}
	switch {
	case len(eb.Errors) > 0:
		code, category = eb.Errors[0].ErrorKey, eb.Errors[0].Category
		msgs := make([]string, 0, len(eb.Errors))
		for _, e := range eb.Errors {
			if e.Message != "" {
				msgs = append(msgs, e.Message)
			}
		}
		message = strings.Join(msgs, "; ")
	case eb.Error != "":
		code, message = eb.Error, eb.ErrorDescription
	default:
		message = eb.Message
	}
	return clean(code, 64, secrets), clean(category, 64, secrets), clean(message, maxMessageBytes, secrets)
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

// statusError turns a non-2xx API response into the matching typed error.
func (c *Client) statusError(op string, r *response, secrets ...string) error {
	code, category, msg := errorDetails(r.body, secrets...)
	he := HTTPError{Op: op, StatusCode: r.status, Code: code, Category: category, Message: msg}
	switch {
	case r.status == http.StatusUnauthorized:
		return &UnauthorizedError{HTTPError: he}
	case r.status == http.StatusForbidden:
		return &ForbiddenError{HTTPError: he}
	case r.status == http.StatusTooManyRequests:
		return &RateLimitedError{HTTPError: he, RetryAfter: retryAfter(r.header, r.serverDate, r.receivedAt, c.Skew())}
	case r.status >= 500:
		return &ServerError{HTTPError: he, RetryAfter: retryAfter(r.header, r.serverDate, r.receivedAt, c.Skew())}
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
