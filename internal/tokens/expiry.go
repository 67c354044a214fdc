package tokens

import (
	"hash/fnv"
	"time"
)

// Expiry policy (invariant 9 in docs/invariants.md). All instants here are on
// Gusto's clock: a token's issue time is the Date header of the response that
// carried it, and "now" is the local clock plus the skew the Gusto client
// measured (gusto.Client.Skew).
//
// A token that lives L is stored as expiring at issued + L - margin(L), and is
// refreshed from expiration - ahead(L) on. Both are capped to a fraction of L
// so that short lifetimes (seconds in tests, minutes in staging) are refreshed
// about once per lifetime, never on every call, and never stored as already
// expired:
//
//	L = 7200 s: margin 60 s, ahead 300 s → refresh after 6840 s
//	L =  300 s: margin 30 s, ahead  60 s → refresh after  210 s
//	L =    5 s: margin 0.5 s, ahead  1 s → refresh after  3.5 s
const (
	// MaxSafetyMargin is the margin subtracted from Gusto's expires_in.
	MaxSafetyMargin = 60 * time.Second
	// marginDivisor caps the margin to a tenth of the lifetime.
	marginDivisor = 10
	// aheadDivisor caps the refresh-ahead window to a fifth of the lifetime.
	aheadDivisor = 5
	// invalidateGraceDivisor caps Config.InvalidateGrace to a tenth of the lifetime.
	invalidateGraceDivisor = 10
)

// safetyMargin is min(60 s, lifetime/10).
func safetyMargin(lifetime time.Duration) time.Duration {
	return min(MaxSafetyMargin, lifetime/marginDivisor)
}

// refreshAhead is min(configured window, lifetime/5).
func refreshAhead(window, lifetime time.Duration) time.Duration {
	return min(window, lifetime/aheadDivisor)
}

// jitterDivisor: a company's refresh starts up to half its refresh-ahead
// window earlier than the window's start.
const jitterDivisor = 2

// refreshJitter is how much earlier than expiration - ahead a company's
// token starts being refreshed: an offset in [0, ahead/2) picked by a hash
// of the company uuid. Deterministic (every worker agrees, every refresh of
// the company keeps it) and spread evenly over the fleet, so companies
// onboarded in the same second do not refresh in the same second. Earlier,
// never later: the safety margin and the window stay whole.
func refreshJitter(company string, ahead time.Duration) time.Duration {
	span := ahead / jitterDivisor
	if span <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(company))
	return time.Duration(h.Sum64() % uint64(span))
}

// expiration is when a token issued at issued (Gusto's clock) with the given
// lifetime stops being used: issued + lifetime - margin.
func expiration(issued time.Time, lifetime time.Duration) time.Time {
	return issued.Add(lifetime - safetyMargin(lifetime))
}

// refreshAt is when a token starts being refreshed before use (Gusto's clock).
func refreshAt(issued time.Time, lifetime, window time.Duration) time.Time {
	return expiration(issued, lifetime).Add(-refreshAhead(window, lifetime))
}

// dateAgreement is how far a response's Date header may be from the
// skew-corrected arrival time and still be taken as the issue time: the
// header's one-second truncation plus a round trip.
const dateAgreement = 2 * time.Second

// issuedAt is when Gusto issued a token, on Gusto's clock: the local arrival
// time corrected by the skew estimate (the median over recent responses,
// gusto.Client.Skew). The response's own Date header, more precise
// (truncated to the second, so never later than the true issue time: the
// error makes the token look older, which is safe), is preferred only when
// it agrees with that within dateAgreement: one bad Date header must not
// make an expired token look fresh, nor a fresh one expired.
func issuedAt(serverDate, receivedAt time.Time, skew time.Duration) time.Time {
	estimate := receivedAt.Add(skew)
	if !serverDate.IsZero() && serverDate.Sub(estimate).Abs() <= dateAgreement {
		return serverDate
	}
	return estimate
}
