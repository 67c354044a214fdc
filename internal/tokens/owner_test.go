package tokens

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gustosync/gustosync/internal/gusto"
)

// infoFunc is a TokenInformer counting its calls.
type infoFunc struct {
	calls atomic.Int64
	fn    func(token string) (gusto.TokenInfo, error)
}

func (f *infoFunc) TokenInfo(_ context.Context, token string) (gusto.TokenInfo, error) {
	f.calls.Add(1)
	return f.fn(token)
}

// TestOwnerKeysLearnOnceAndStore: the owner is learned from token_info once,
// stored on the company's row, read back by another process without asking
// Gusto, and an unknown owner falls back to the company without failing.
func TestOwnerKeysLearnOnceAndStore(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	c1, c2 := newCompany(), newCompany()
	for _, c := range []string{c1, c2} {
		if _, err := s.Put(ctx, testGrant(c), "test"); err != nil {
			t.Fatal(err)
		}
	}
	const owner = "7f1e2d3c-0000-4000-8000-00000000000a"
	info := &infoFunc{fn: func(string) (gusto.TokenInfo, error) {
		return gusto.TokenInfo{ResourceOwner: &gusto.TokenResource{Type: "CompanyAdmin", UUID: owner}}, nil
	}}
	src := gusto.StaticToken("access")
	o := NewOwnerKeys(s, src, info, testLogger())
	for range 3 {
		k, err := o.RateKey(ctx, c1)
		if err != nil || k != "owner:"+owner {
			t.Fatalf("RateKey = %q, %v; want owner:%s", k, err, owner)
		}
	}
	if n := info.calls.Load(); n != 1 {
		t.Fatalf("token_info called %d times for one company, want 1", n)
	}
	// Another process reads the stored owner.
	other := NewOwnerKeys(s, src, &infoFunc{fn: func(string) (gusto.TokenInfo, error) {
		t.Error("token_info called for a company whose owner is stored")
		return gusto.TokenInfo{}, errors.New("unexpected")
	}}, testLogger())
	if k, err := other.RateKey(ctx, c1); err != nil || k != "owner:"+owner {
		t.Fatalf("second process RateKey = %q, %v", k, err)
	}
	// No owner known: the company is its own key, and nothing fails.
	failing := NewOwnerKeys(s, src, &infoFunc{fn: func(string) (gusto.TokenInfo, error) {
		return gusto.TokenInfo{}, &gusto.ServerError{HTTPError: gusto.HTTPError{Op: "GET /v1/token_info", StatusCode: 503}}
	}}, testLogger())
	if k, err := failing.RateKey(ctx, c2); err != nil || k != "company:"+c2 {
		t.Fatalf("RateKey without an owner = %q, %v; want company:%s", k, err, c2)
	}
}
