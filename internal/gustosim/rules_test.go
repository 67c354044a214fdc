package gustosim_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
)

func withRule(r gustosim.Rule) func(*gustosim.Config) {
	return func(c *gustosim.Config) { c.Revocation = r }
}

// TestRuleGustoAsDocumented: R1 works until an access token it issued is
// first used; presenting it again before that issues another pair and
// revokes nothing; after the first use it is refused.
func TestRuleGustoAsDocumented(t *testing.T) {
	e := newEnv(t, withRule(gustosim.RuleGusto))
	g := e.company(defaults())
	co, r1 := g.CompanyUUID, g.Token.RefreshToken
	p2 := e.mustRefresh(r1)
	p3 := e.mustRefresh(r1) // a crash before storing (A2, R2)
	for name, a := range map[string]string{"A2": p2.AccessToken, "A3": p3.AccessToken} {
		if got := e.apiStatus(co, a); got != 200 {
			t.Fatalf("%s: %d, want 200 (the docs revoke nothing but R1)", name, got)
		}
	}
	e.wantRefused(r1, "R1 after a first use")
	e.mustRefresh(p2.RefreshToken)
	e.mustRefresh(p3.RefreshToken)
}

// TestRuleLatestWinsOldRefreshWorksUntilNewAccessIsUsed: RuleGusto, plus a
// re-presented R1 revokes the unused pair it issued last time.
func TestRuleLatestWinsOldRefreshWorksUntilNewAccessIsUsed(t *testing.T) {
	e := newEnv(t, withRule(gustosim.RuleLatestWins))
	g := e.company(defaults())
	co, a1, r1 := g.CompanyUUID, g.Token.AccessToken, g.Token.RefreshToken

	p2 := e.mustRefresh(r1)
	// A crash before storing (A2, R2): R1 still works, latest wins.
	p3 := e.mustRefresh(r1)
	if got := e.apiStatus(co, p2.AccessToken); got != http.StatusUnauthorized {
		t.Fatalf("superseded A2: %d, want 401", got)
	}
	e.wantRefused(p2.RefreshToken, "superseded R2")
	if got := e.apiStatus(co, p3.AccessToken); got != 200 {
		t.Fatalf("A3: %d", got)
	}
	// A3 used: R1 is now refused.
	e.wantRefused(r1, "R1 after A3's first use")
	// A1 stays valid until it expires.
	if got := e.apiStatus(co, a1); got != 200 {
		t.Fatalf("A1 before expiry: %d", got)
	}
	p4 := e.mustRefresh(p3.RefreshToken)
	if got := e.apiStatus(co, p4.AccessToken); got != 200 {
		t.Fatalf("A4: %d", got)
	}
	c := e.sim.Counters()
	// Replays: R1 accepted again (1), R2 superseded (2), R1 after use (3).
	if c.Refreshes != 3 || c.RefreshesRefused != 2 || c.Replays != 3 {
		t.Fatalf("counters: refreshes %d refused %d replays %d", c.Refreshes, c.RefreshesRefused, c.Replays)
	}
	if n := e.sim.AccessTokenUses(p2.AccessToken); n != 1 {
		t.Fatalf("A2 uses = %d, want 1 (the refused call)", n)
	}
}

// A call refused before the token is used (429) does not retire R1
// (RuleLatestWins, so that the superseded R2 is refused too).
func TestRateLimitedCallIsNoUse(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.Revocation = gustosim.RuleLatestWins; c.RateLimit = 1 })
	g := e.company(defaults())
	if got := e.apiStatus(g.CompanyUUID, g.Token.AccessToken); got != 200 {
		t.Fatalf("first call: %d", got)
	}
	p2 := e.mustRefresh(g.Token.RefreshToken)
	if got := e.apiStatus(g.CompanyUUID, p2.AccessToken); got != http.StatusTooManyRequests {
		t.Fatalf("A2 over the limit: %d, want 429", got)
	}
	p3 := e.mustRefresh(g.Token.RefreshToken) // R1 still accepted: A2 never used
	e.wantRefused(p2.RefreshToken, "R2 superseded")
	e.clock.Advance(time.Minute)
	if got := e.apiStatus(g.CompanyUUID, p3.AccessToken); got != 200 {
		t.Fatalf("A3 in a new window: %d", got)
	}
	e.wantRefused(g.Token.RefreshToken, "R1 after A3's use")
}

func TestRuleStrict(t *testing.T) {
	e := newEnv(t, withRule(gustosim.RuleStrict))
	g := e.company(defaults())
	co, a1, r1 := g.CompanyUUID, g.Token.AccessToken, g.Token.RefreshToken
	p2 := e.mustRefresh(r1)
	e.wantRefused(r1, "R1 under strict")
	if got := e.apiStatus(co, a1); got != 200 {
		t.Fatalf("A1 under strict: %d (old access tokens live until expiry)", got)
	}
	if got := e.apiStatus(co, p2.AccessToken); got != 200 {
		t.Fatalf("A2: %d", got)
	}
	p3 := e.mustRefresh(p2.RefreshToken)
	if got := e.apiStatus(co, p3.AccessToken); got != 200 {
		t.Fatalf("A3: %d", got)
	}
	if c := e.sim.Counters(); c.Replays != 1 || c.RefreshesRefused != 1 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestRuleFamilyReplayKillsGrant(t *testing.T) {
	e := newEnv(t, withRule(gustosim.RuleFamily))
	g := e.company(defaults())
	other := e.company(defaults())
	co, a1, r1 := g.CompanyUUID, g.Token.AccessToken, g.Token.RefreshToken
	p2 := e.mustRefresh(r1)
	if got := e.apiStatus(co, p2.AccessToken); got != 200 {
		t.Fatalf("A2: %d", got)
	}
	e.wantRefused(r1, "replayed R1")
	for name, tok := range map[string]string{"A1": a1, "A2": p2.AccessToken} {
		if got := e.apiStatus(co, tok); got != http.StatusUnauthorized {
			t.Fatalf("%s after a family replay: %d, want 401", name, got)
		}
	}
	e.wantRefused(p2.RefreshToken, "R2 after a family replay")
	// Another grant is untouched.
	if got := e.apiStatus(other.CompanyUUID, other.Token.AccessToken); got != 200 {
		t.Fatalf("other company's token: %d", got)
	}
	e.mustRefresh(other.Token.RefreshToken)
}

func TestAccessTokenExpiryOnGustosClock(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.TokenLifetime = 10 * time.Second })
	g := e.company(defaults())
	e.clock.Advance(9 * time.Second)
	if got := e.apiStatus(g.CompanyUUID, g.Token.AccessToken); got != 200 {
		t.Fatalf("before expiry: %d", got)
	}
	// Gusto's clock moves ahead: the token is expired there.
	e.sim.Update(func(c *gustosim.Config) { c.ClockOffset = 2 * time.Second })
	r := e.get("/v1/companies/"+g.CompanyUUID, g.Token.AccessToken)
	if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("after expiry on Gusto's clock: %d (WWW-Authenticate %q)", r.status, r.header.Get("WWW-Authenticate"))
	}
	if _, cat := r.gustoError(t); cat != "invalid_token" {
		t.Fatalf("401 category %q", cat)
	}
	// An expired token's refresh token still works.
	p := e.mustRefresh(g.Token.RefreshToken)
	if got := e.apiStatus(g.CompanyUUID, p.AccessToken); got != 200 {
		t.Fatalf("fresh token: %d", got)
	}
	if c := e.sim.Counters(); c.Unauthorized != 1 {
		t.Fatalf("unauthorized = %d", c.Unauthorized)
	}
}

// Concurrent presentations of one refresh token are serialized per grant:
// under strict exactly one wins; under gusto every one is answered and every
// pair survives; under latest_wins every one is answered and exactly one of
// the issued pairs survives.
func TestConcurrentPresentationsOfOneRefreshToken(t *testing.T) {
	for _, rule := range []gustosim.Rule{gustosim.RuleStrict, gustosim.RuleGusto, gustosim.RuleLatestWins, gustosim.RuleFamily} {
		t.Run(string(rule), func(t *testing.T) {
			e := newEnv(t, withRule(rule))
			g := e.company(defaults())
			const n = 16
			var wg sync.WaitGroup
			var mu sync.Mutex
			var issued []tokenJSON
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, tok, _ := e.refresh(g.Token.RefreshToken)
					if status == http.StatusOK {
						mu.Lock()
						issued = append(issued, tok)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			valid := 0
			for _, tok := range issued {
				if e.apiStatus(g.CompanyUUID, tok.AccessToken) == 200 {
					valid++
				}
			}
			switch rule {
			case gustosim.RuleGusto:
				if len(issued) != n || valid != n {
					t.Fatalf("gusto: %d issued, %d valid; want %d and %d", len(issued), valid, n, n)
				}
			case gustosim.RuleLatestWins:
				if len(issued) != n || valid != 1 {
					t.Fatalf("latest_wins: %d issued, %d valid; want %d and 1", len(issued), valid, n)
				}
			case gustosim.RuleStrict:
				if len(issued) != 1 || valid != 1 {
					t.Fatalf("strict: %d issued, %d valid; want 1 and 1", len(issued), valid)
				}
			case gustosim.RuleFamily:
				// The first wins, the first replay kills the grant.
				if len(issued) != 1 || valid != 0 {
					t.Fatalf("family: %d issued, %d valid; want 1 and 0", len(issued), valid)
				}
			}
		})
	}
}
