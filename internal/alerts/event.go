package alerts

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The event types. The outbox rows are written by database triggers
// (migrations 5 and 6), in the transaction of the change they report.
const (
	// KindNeedsReauth: a company entered needs_reauth (its grant is gone).
	KindNeedsReauth = "company.needs_reauth"
	// KindMissingScope: a company entered missing_scope (its grant lacks a
	// scope a sync needs).
	KindMissingScope = "company.missing_scope"
	// KindRecovered: a company returned to active from needs_reauth,
	// missing_scope or key_missing (migration 14); PreviousStatus names the
	// status it left, so a receiver can close what the earlier event opened.
	KindRecovered = "company.recovered"
	// KindKeyMissing: a company entered key_missing (its tokens are sealed
	// under a key TOKEN_ENCRYPTION_KEYS no longer holds; migration 12).
	KindKeyMissing = "company.key_missing"
	// KindAPIVersionRejected: Gusto refuses the API version the workers
	// send (406); fleet-wide, so the event names no company.
	KindAPIVersionRejected = "gusto.api_version_rejected"
)

// Headers set on every delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
	// "<unix seconds>." + body)>": the time of the attempt, signed with the
	// body (see Sign and Verify).
	SignatureHeader = "X-Gustosync-Signature"
	// EventIDHeader repeats the event id, the same on every attempt.
	EventIDHeader = "X-Gustosync-Event-Id"
	// EventTypeHeader repeats the event type.
	EventTypeHeader = "X-Gustosync-Event"
	// AttemptHeader is the 1-based delivery attempt.
	AttemptHeader = "X-Gustosync-Delivery-Attempt"
)

// Event is the JSON body of an alert. Field order is fixed, so every attempt
// of one event sends the same bytes.
type Event struct {
	// ID is the event's uuid, stable across attempts: deduplicate on it.
	ID string `json:"id"`
	// Type is the event type, e.g. "company.needs_reauth".
	Type string `json:"type"`
	// CompanyUUID is the company concerned; absent from fleet-wide events
	// (gusto.api_version_rejected).
	CompanyUUID string `json:"company_uuid,omitempty"`
	// PreviousStatus is the status the company left (for company.recovered,
	// the status it recovered from).
	PreviousStatus string `json:"previous_status"`
	// Reason is the stored status reason (never a token).
	Reason string `json:"reason"`
	// OccurredAt is when the status changed (the database's clock).
	OccurredAt time.Time `json:"occurred_at"`
}

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock before Verify refuses it as a replay.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns; test for them with errors.Is.
var (
	// ErrMalformedSignature: the header is not "t=<unix>,v1=<64 hex digits>".
	ErrMalformedSignature = errors.New("alerts: malformed X-Gustosync-Signature header")
	// ErrStaleSignature: the signed timestamp is further than the tolerance
	// from the receiver's clock (a replay, or a clock far off).
	ErrStaleSignature = errors.New("alerts: signature timestamp outside the tolerance")
	// ErrBadSignature: no v1 signature matches the timestamp and body.
	ErrBadSignature = errors.New("alerts: signature does not match")
)

// Sign returns the X-Gustosync-Signature value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 under secret of "<unix seconds>." +
// body>". The timestamp is signed with the body, so a captured delivery
// cannot be replayed once the receiver's tolerance has passed.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// mac is HMAC-SHA256(secret, ts + "." + body).
func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header (an X-Gustosync-Signature value) against body under
// secret, as a receiver should: the header must be "t=<unix>,v1=<hex>"
// (several v1 entries are allowed, one of them must match; nothing else is
// accepted), the timestamp within tolerance of now (either side; a
// tolerance <= 0 means DefaultTolerance), and the HMAC equal, compared in
// constant time. now is the receiver's clock. The error is nil,
// ErrMalformedSignature, ErrStaleSignature or ErrBadSignature.
func Verify(secret, body []byte, header string, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var (
		ts   string
		sigs [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return ErrMalformedSignature
		case k == "t" && ts == "":
			ts = v
		case k == "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return ErrMalformedSignature
			}
			sigs = append(sigs, sig)
		default:
			return ErrMalformedSignature
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformedSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrStaleSignature
	}
	want := mac(secret, ts, body)
	match := 0
	for _, sig := range sigs {
		match |= subtle.ConstantTimeCompare(sig, want)
	}
	if match != 1 {
		return ErrBadSignature
	}
	return nil
}
