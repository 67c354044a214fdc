package gustosim

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A grant is one user-application authorization for one company (strict
// access): a family of token pairs descending from the pair issued at
// consent. Rotations, first uses and revocation of a grant are serialized by
// grant.mu; the API hot path only reads atomics.
type grant struct {
	company *company
	owner   *user
	scope   string          // space-separated, as sent
	scopes  map[string]bool // immutable after creation
	api     window          // API rate limit
	token   window          // token endpoint rate limit

	dead atomic.Bool // revoked by the user or killed by a family replay

	mu sync.Mutex // guards every refreshToken.state/why/next of the grant
}

// accessToken is an issued access token. Its value is only a map key.
type accessToken struct {
	grant     *grant
	expiresAt time.Time     // on Gusto's clock
	parent    *refreshToken // presented to obtain this pair; nil for the consent pair
	refresh   *refreshToken // issued with this token
	uses      atomic.Int64  // API calls that presented it, valid or not
	used      atomic.Bool   // a first successful API use happened
	revoked   atomic.Bool   // superseded (latest wins); grant death is grant.dead
}

type rtState uint8

const (
	rtLive    rtState = iota // never presented
	rtRotated                // presented once under RuleGusto or RuleLatestWins; accepted until a pair it issued is used
	rtDead                   // refused
)

// Why a refresh token is dead: presenting a used or superseded one is a
// replay; presenting one that died with its grant is not.
type rtDeath uint8

const (
	diedNot rtDeath = iota
	diedUsed
	diedSuperseded
)

// refreshToken is an issued refresh token.
type refreshToken struct {
	grant  *grant
	access *accessToken // issued together
	// Guarded by grant.mu.
	state rtState
	why   rtDeath
	next  *accessToken // the pair issued the last time this token was accepted
}

// issued is a pair handed to a client.
type issued struct {
	access, refresh string
	expiresIn       int64
	createdAt       int64 // unix seconds, Gusto's clock
	scope           string
	company         *company
}

// newTokenValue returns 43 characters of base64url randomness, the shape of
// Gusto's tokens.
func newTokenValue() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// normalizeScopes dedupes scopes, keeping their order.
func normalizeScopes(scopes []string) ([]string, map[string]bool) {
	set := make(map[string]bool, len(scopes))
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		for _, f := range strings.Fields(sc) {
			if !set[f] {
				set[f] = true
				out = append(out, f)
			}
		}
	}
	return out, set
}

// newGrant registers a grant for c.
func (s *Sim) newGrant(c *company, owner *user, scopes []string) *grant {
	list, set := normalizeScopes(scopes)
	g := &grant{company: c, owner: owner, scope: strings.Join(list, " "), scopes: set}
	c.mu.Lock()
	c.grants = append(c.grants, g)
	c.mu.Unlock()
	return g
}

// issue creates and registers a pair whose refresh token was obtained with
// parent (nil for consent). The caller holds g.mu when parent is not nil.
func (s *Sim) issue(cfg *Config, g *grant, parent *refreshToken) (*accessToken, issued) {
	now := s.gustoNow(cfg)
	at := &accessToken{grant: g, expiresAt: now.Add(cfg.TokenLifetime), parent: parent}
	rt := &refreshToken{grant: g, access: at}
	at.refresh = rt
	out := issued{
		access: newTokenValue(), refresh: newTokenValue(),
		expiresIn: int64(cfg.TokenLifetime / time.Second), createdAt: now.Unix(),
		scope: g.scope, company: g.company,
	}
	s.access.Store(out.access, at)
	s.refresh.Store(out.refresh, rt)
	return at, out
}

// refreshOutcome is the result of presenting a refresh token.
type refreshOutcome uint8

const (
	refreshIssued refreshOutcome = iota
	refreshUnknown
	refreshRefused     // used/rotated away or superseded
	refreshGrantDead   // the grant was revoked (or killed earlier)
	refreshKilledGrant // a family replay: the grant is now dead
)

// rotate applies the revocation rule to a presented refresh token. It holds
// the grant's lock for the whole decision, so concurrent presentations of
// the same token are serialized.
func (s *Sim) rotate(cfg *Config, rt *refreshToken) (issued, refreshOutcome, bool) {
	g := rt.grant
	g.mu.Lock()
	defer g.mu.Unlock()
	replay := rt.state == rtRotated || rt.state == rtDead && rt.why != diedNot
	if g.dead.Load() {
		return issued{}, refreshGrantDead, replay
	}
	switch rt.state {
	case rtLive:
		at, out := s.issue(cfg, g, rt)
		rt.next = at
		if cfg.Revocation == RuleGusto || cfg.Revocation == RuleLatestWins {
			rt.state = rtRotated
		} else {
			rt.state, rt.why = rtDead, diedUsed
		}
		return out, refreshIssued, false
	case rtRotated:
		switch {
		case cfg.Revocation == RuleLatestWins && rt.next != nil && !rt.next.used.Load() && !rt.next.revoked.Load():
			// Latest wins: the unused pair issued last time dies.
			revokeSubtree(rt.next)
			at, out := s.issue(cfg, g, rt)
			rt.next = at
			return out, refreshIssued, true
		case cfg.Revocation == RuleGusto:
			// Still rotated: no access token it issued was used yet
			// (markUsed would have retired it). Another pair; the earlier
			// ones stay.
			at, out := s.issue(cfg, g, rt)
			rt.next = at
			return out, refreshIssued, true
		}
		rt.state, rt.why = rtDead, diedUsed
	}
	if cfg.Revocation == RuleFamily && replay {
		g.dead.Store(true)
		return issued{}, refreshKilledGrant, true
	}
	return issued{}, refreshRefused, replay
}

// revokeSubtree revokes an unused pair and every pair obtained from it.
// The caller holds the grant's lock.
func revokeSubtree(at *accessToken) {
	for at != nil {
		at.revoked.Store(true)
		rt := at.refresh
		rt.state, rt.why = rtDead, diedSuperseded
		at = rt.next
	}
}

// markUsed records a successful API use of at. The first use retires the
// refresh tokens that were kept alive only until then (RuleGusto,
// RuleLatestWins): the one
// that obtained at and any rotated ancestor. It returns false when at was
// revoked concurrently.
func markUsed(at *accessToken) bool {
	if at.used.Load() {
		return true
	}
	g := at.grant
	g.mu.Lock()
	defer g.mu.Unlock()
	if at.revoked.Load() || g.dead.Load() {
		return false
	}
	if !at.used.Load() {
		at.used.Store(true)
		for p := at.parent; p != nil && p.state == rtRotated; p = p.access.parent {
			p.state, p.why = rtDead, diedUsed
		}
	}
	return true
}

// kill revokes every token of g.
func (g *grant) kill() {
	g.mu.Lock()
	g.dead.Store(true)
	g.mu.Unlock()
}

func (s *Sim) lookupAccess(v string) *accessToken {
	if at, ok := s.access.Load(v); ok {
		return at.(*accessToken)
	}
	return nil
}

func (s *Sim) lookupRefresh(v string) *refreshToken {
	if rt, ok := s.refresh.Load(v); ok {
		return rt.(*refreshToken)
	}
	return nil
}

// countUnknownUse counts an API call that presented a token the simulator
// never issued.
func (s *Sim) countUnknownUse(v string) {
	if c, ok := s.unknownUses.Load(v); ok {
		c.(*atomic.Int64).Add(1)
		return
	}
	c, _ := s.unknownUses.LoadOrStore(v, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

// AccessTokenUses returns how many API calls presented accessToken, valid
// or not (expired, revoked, never issued).
func (s *Sim) AccessTokenUses(accessToken string) int64 {
	if at := s.lookupAccess(accessToken); at != nil {
		return at.uses.Load()
	}
	if c, ok := s.unknownUses.Load(accessToken); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}
