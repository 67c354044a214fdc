package dashboard_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/dashboard"
)

func TestState(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s, err := dashboard.NewStateSigner(stateKey, 10*time.Minute, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	company := uuid.New()
	st, enc, err := s.New(company)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(enc)
	if err != nil || got != st || got.Company != company {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, st)
	}
	_, enc2, _ := s.New(uuid.Nil)
	if enc2 == enc {
		t.Fatal("two states are equal: the nonce is not random")
	}

	reason := func(enc string) string {
		t.Helper()
		_, err := s.Verify(enc)
		var se *dashboard.StateError
		if !errors.As(err, &se) {
			t.Fatalf("Verify = %v, want a *StateError", err)
		}
		return se.Reason
	}
	raw, _ := base64.RawURLEncoding.DecodeString(enc)
	for i := range raw { // flip one bit anywhere: refused
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		if r := reason(base64.RawURLEncoding.EncodeToString(b)); r != "bad signature" && r != "malformed" {
			t.Fatalf("byte %d flipped: %q", i, r)
		}
	}
	for _, bad := range []string{"", "x", "!!!!", enc[:len(enc)-2], enc + "AA"} {
		if r := reason(bad); r != "malformed" && r != "bad signature" {
			t.Fatalf("%q: %q", bad, r)
		}
	}
	other, _ := dashboard.NewStateSigner([]byte("another-key-0123456789"), 10*time.Minute, c.Now)
	if _, err := other.Verify(enc); err == nil {
		t.Fatal("a state verified under another key")
	}
	c.Advance(10*time.Minute - time.Second)
	if _, err := s.Verify(enc); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	c.Advance(time.Second)
	if r := reason(enc); r != "expired" {
		t.Fatalf("at expiry: %q", r)
	}
	if _, err := dashboard.NewStateSigner([]byte("short"), time.Minute, nil); err == nil {
		t.Fatal("accepted a short key")
	}
}
