package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"
)

// stateVersion is the first byte of every state, so the format can change.
const stateVersion = 1

// stateLen is version (1) + expiry (8) + nonce (16) + company (16) + MAC (32).
const (
	statePayloadLen = 1 + 8 + 16 + 16
	stateLen        = statePayloadLen + sha256.Size
)

// stateContext separates this MAC from any other use of the key.
const stateContext = "gustosync/oauth-state/v1\x00"

// StateError is an OAuth state that cannot be trusted: malformed, signed
// with another key, expired, or not started from this browser.
type StateError struct {
	// Reason says which, without echoing the state.
	Reason string
}

func (e *StateError) Error() string { return "oauth state refused: " + e.Reason }

// State is what a signed state carries.
type State struct {
	// Nonce binds the state to the browser that started the flow (it is also
	// set as a cookie there).
	Nonce [16]byte
	// Expires is when the state stops being accepted.
	Expires time.Time
	// Company is the company the operator meant to (re)connect, or uuid.Nil.
	Company uuid.UUID
}

// StateSigner signs and verifies OAuth states with HMAC-SHA256. It is safe
// for concurrent use.
type StateSigner struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewStateSigner returns a signer under key whose states live for ttl;
// now is the clock (nil: time.Now). key must be at least 16 bytes.
func NewStateSigner(key []byte, ttl time.Duration, now func() time.Time) (*StateSigner, error) {
	if len(key) < 16 {
		return nil, errors.New("dashboard: the OAuth state key must be at least 16 bytes")
	}
	if ttl <= 0 {
		return nil, errors.New("dashboard: the OAuth state lifetime must be positive")
	}
	if now == nil {
		now = time.Now
	}
	return &StateSigner{key: append([]byte(nil), key...), ttl: ttl, now: now}, nil
}

// New returns a fresh state for company (uuid.Nil for any) and its encoded,
// signed form: base64url(version | expiry | nonce | company | HMAC).
func (s *StateSigner) New(company uuid.UUID) (State, string, error) {
	st := State{Expires: time.Unix(s.now().Add(s.ttl).Unix(), 0), Company: company}
	if _, err := rand.Read(st.Nonce[:]); err != nil {
		return State{}, "", err
	}
	buf := make([]byte, statePayloadLen, stateLen)
	buf[0] = stateVersion
	binary.BigEndian.PutUint64(buf[1:9], uint64(st.Expires.Unix()))
	copy(buf[9:25], st.Nonce[:])
	copy(buf[25:41], company[:])
	buf = append(buf, s.mac(buf)...)
	return st, base64.RawURLEncoding.EncodeToString(buf), nil
}

// Verify decodes and checks an encoded state: its format, its signature
// (constant-time) and its expiry. Failures are *StateError.
func (s *StateSigner) Verify(encoded string) (State, error) {
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || len(raw) != stateLen || raw[0] != stateVersion {
		return State{}, &StateError{Reason: "malformed"}
	}
	payload, sig := raw[:statePayloadLen], raw[statePayloadLen:]
	if !hmac.Equal(sig, s.mac(payload)) {
		return State{}, &StateError{Reason: "bad signature"}
	}
	var st State
	st.Expires = time.Unix(int64(binary.BigEndian.Uint64(payload[1:9])), 0)
	copy(st.Nonce[:], payload[9:25])
	copy(st.Company[:], payload[25:41])
	if !s.now().Before(st.Expires) {
		return State{}, &StateError{Reason: "expired"}
	}
	return st, nil
}

func (s *StateSigner) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(stateContext))
	m.Write(payload)
	return m.Sum(nil)
}
