package tokens

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/refreshbudget"
)

// fixedJitter is the offset of company 6a1c2b9e-1111-4222-8333-444455556666
// in a 5-minute window: a change of the hash would move every company's
// refresh time at once.
const fixedJitter = 30272202013 * time.Nanosecond

// TestRefreshJitter: a company's offset is deterministic, inside
// [0, ahead/2), and 10,000 companies onboarded in the same second spread
// their refreshes over most of the 150 s a 5-minute window allows.
func TestRefreshJitter(t *testing.T) {
	const ahead = 5 * time.Minute
	// Deterministic: every worker, every refresh agrees (a fixed uuid's
	// offset, computed once by FNV-1a).
	if got := refreshJitter("6a1c2b9e-1111-4222-8333-444455556666", ahead); got != fixedJitter {
		t.Fatalf("jitter of a fixed company = %d, want %d", got, fixedJitter)
	}
	seconds := map[int64]int{}
	peak := 0
	for range 10_000 {
		j := refreshJitter(uuid.NewString(), ahead)
		if j < 0 || j >= ahead/2 {
			t.Fatalf("jitter %s outside [0, %s)", j, ahead/2)
		}
		s := int64(j / time.Second)
		seconds[s]++
		peak = max(peak, seconds[s])
	}
	if len(seconds) < 145 || peak > 120 {
		t.Fatalf("10k companies refresh over %d distinct seconds, peak %d in one; want ≥ 145 seconds and ≤ 120 (about 67 each)", len(seconds), peak)
	}
	if refreshJitter(uuid.NewString(), 0) != 0 {
		t.Fatal("jitter without a window")
	}
}

// TestBudgetDefers: with the fleet's budget spent (one refresh per hour), a
// company whose token is in its refresh-ahead window but not expired keeps
// using that token and sends no refresh; a company whose token has expired
// waits for the slot, which it gets first (closest to expiry), then
// refreshes once.
func TestBudgetDefers(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second}, nil)
	ctx := context.Background()
	budget, err := refreshbudget.New(refreshbudget.Config{Redis: e.redis.Client(), Rate: 2, MaxWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m, rec, _ := e.manager("worker", func(c *Config) { c.Budget = budget })
	// Spend the slot of this interval.
	if w, err := budget.Admit(ctx, "someone-else", time.Now().Add(time.Hour)); w != 0 || err != nil {
		t.Fatalf("first slot: %s %v", w, err)
	}
	soon := e.addCompany()
	// In its window (issued 100 s ago, 120 s lifetime) but not expired.
	if err := e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET issued_at = now() - interval '90 seconds',
		access_token_expiration = now() + interval '18 seconds' WHERE company_uuid = ?`, soon).Error; err != nil {
		t.Fatal(err)
	}
	stored, err := e.store.load(ctx, soon)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.AccessToken(ctx, soon)
	if err != nil || tok != stored.AccessToken || rec.calls.Load() != 0 {
		t.Fatalf("deferred refresh: %v, same token %v, %d refreshes; want the stored token and none", err, tok == stored.AccessToken, rec.calls.Load())
	}
	if got := metricValue(t, m.metrics.deferrals); got < 1 {
		t.Fatalf("deferrals metric %v", got)
	}
	expired := e.addCompany()
	e.expire(expired)
	tok2, err := m.AccessToken(ctx, expired)
	if err != nil {
		t.Fatalf("expired token: %v", err)
	}
	if err := e.use(expired, tok2); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.Counters().RefreshesByCompany[expired]; n != 1 {
		t.Fatalf("expired company refreshed %d times, want 1", n)
	}
}
