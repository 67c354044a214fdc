package alerts

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
	// KindKeyMissing: a company entered key_missing (its tokens are sealed
	// under a key TOKEN_ENCRYPTION_KEYS no longer holds; migration 12).
	KindKeyMissing = "company.key_missing"
	// KindAPIVersionRejected: Gusto refuses the API version the workers
	// send (406); fleet-wide, so the event names no company.
	KindAPIVersionRejected = "gusto.api_version_rejected"
)

// Headers set on every delivery.
const (
	// SignatureHeader carries "sha256=" + hex(HMAC-SHA256(secret, body)).
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
	// PreviousStatus is the status the company left.
	PreviousStatus string `json:"previous_status"`
	// Reason is the stored status reason (never a token).
	Reason string `json:"reason"`
	// OccurredAt is when the status changed (the database's clock).
	OccurredAt time.Time `json:"occurred_at"`
}

// Sign returns the X-Gustosync-Signature value for body: "sha256=" followed by
// the hex HMAC-SHA256 of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (an X-Gustosync-Signature value) is body's
// signature under secret. It compares in constant time.
func Verify(secret, body []byte, signature string) bool {
	hexSig, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
