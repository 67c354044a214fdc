package gustosim

import (
	"fmt"
	"net/url"
	"time"
)

// Rule says what happens to a refresh token R1 after a refresh with it
// issued a new pair (A2, R2).
type Rule string

const (
	// RuleGusto is Gusto's documented behaviour: R1 keeps working until A2
	// is first used on an API call. Presenting R1 again before that issues
	// a fresh pair and revokes the unused (A2, R2) (latest wins); after A2's
	// first use R1 is refused.
	RuleGusto Rule = "gusto"
	// RuleStrict refuses R1 as soon as it has been used once.
	RuleStrict Rule = "strict"
	// RuleFamily refuses R1 at once, and presenting a used or rotated-away
	// refresh token (a replay) revokes every token of the grant: the grant
	// needs re-consent.
	RuleFamily Rule = "family"
)

// ParseRule parses "gusto", "strict" or "family".
func ParseRule(s string) (Rule, error) {
	switch r := Rule(s); r {
	case RuleGusto, RuleStrict, RuleFamily:
		return r, nil
	}
	return "", &ConfigError{Field: "Revocation", Reason: fmt.Sprintf("unknown rule %q (want gusto, strict or family)", s)}
}

// Defaults applied by New (and after every Update) to zero fields.
const (
	DefaultTokenLifetime = 7200 * time.Second
	DefaultRateLimit     = 200
	DefaultRateWindow    = 60 * time.Second
	DefaultEmployees     = 30
	DefaultPayrolls      = 12
	// DefaultMaxPer is the largest page size accepted: the only maximum page
	// size Gusto's reference documents is 100.
	DefaultMaxPer = 100
	// DefaultPer is the page size when a request has no per.
	DefaultPer = 25
	// DefaultCodeLifetime is how long an authorization code can be exchanged.
	DefaultCodeLifetime = 10 * time.Minute
)

// DefaultScopes are granted to a company created without explicit scopes.
var DefaultScopes = []string{"companies:read", "employees:read", "payrolls:read", "compensations:read"}

// Config configures a Sim. Zero values get the documented defaults, applied
// in one place (normalize) by New and after every Update.
type Config struct {
	// ClientID, ClientSecret and RedirectURI are the one OAuth application
	// the simulator knows. All three are required; RedirectURI must be an
	// absolute URL and is checked on authorize and on code exchange.
	ClientID, ClientSecret, RedirectURI string
	// TokenLifetime is the access tokens' lifetime (expires_in), in whole
	// seconds. Default DefaultTokenLifetime (7200 s).
	TokenLifetime time.Duration
	// Revocation is the refresh token rule. Default RuleGusto.
	Revocation Rule
	// RateLimit is the number of API requests per grant per RateWindow.
	// Default DefaultRateLimit (200); negative means unlimited.
	RateLimit int
	// RateWindow is the rate limit window. Default 60 s.
	RateWindow time.Duration
	// TokenRateLimit is the number of token requests per grant per minute;
	// zero (the default) means unlimited.
	TokenRateLimit int
	// ErrorRate is the fraction [0,1] of API calls answered with an injected
	// 500, 502 or 503.
	ErrorRate float64
	// TokenErrorRate is the fraction [0,1] of POST /oauth/token answered with
	// an injected 503 (Retry-After: 1) or 500, before the request has any
	// effect.
	TokenErrorRate float64
	// LatencyRate is the fraction [0,1] of requests whose answer is delayed
	// by Latency (after the request took effect).
	LatencyRate float64
	// Latency is the injected delay.
	Latency time.Duration
	// ClockOffset shifts Gusto's clock: Gusto's time is Now()+ClockOffset.
	// It drives the Date header, created_at, expiries and "today".
	ClockOffset time.Duration
	// Employees and Payrolls are the records per company when
	// CompanyOptions asks for the default (-1). Defaults 30 and 12.
	Employees, Payrolls int
	// PlainPayrolls makes every generated payroll regular and processed (by
	// default about one in eight is off-cycle and the current pay period's
	// payroll is unprocessed, so Gusto's default filters hide some).
	PlainPayrolls bool
	// MaxPer is the largest page size; a larger per is capped. Default
	// DefaultMaxPer (100).
	MaxPer int
	// CodeLifetime is how long an authorization code stays exchangeable.
	// Default DefaultCodeLifetime.
	CodeLifetime time.Duration
	// Seed makes the generated data reproducible: a company's records are a
	// function of Seed, its uuid, its sizes and its creation day.
	Seed int64
	// DisableAdmin turns off the /admin/ endpoints (404).
	DisableAdmin bool
	// Now is the simulator's local clock. Default time.Now.
	Now func() time.Time
}

// ConfigError is an invalid Config field.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "gustosim: config " + e.Field + ": " + e.Reason }

// normalize applies the defaults and validates c in place.
func (c *Config) normalize() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if c.ClientID == "" {
		return bad("ClientID", "is required")
	}
	if c.ClientSecret == "" {
		return bad("ClientSecret", "is required")
	}
	if c.RedirectURI == "" {
		return bad("RedirectURI", "is required")
	}
	if u, err := url.Parse(c.RedirectURI); err != nil || u.Scheme == "" || u.Host == "" {
		return bad("RedirectURI", "must be an absolute URL")
	}
	switch {
	case c.TokenLifetime == 0:
		c.TokenLifetime = DefaultTokenLifetime
	case c.TokenLifetime < time.Second:
		return bad("TokenLifetime", "must be at least 1s (got %s)", c.TokenLifetime)
	}
	c.TokenLifetime = c.TokenLifetime.Truncate(time.Second)
	if c.Revocation == "" {
		c.Revocation = RuleGusto
	}
	if _, err := ParseRule(string(c.Revocation)); err != nil {
		return err
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	switch {
	case c.RateWindow == 0:
		c.RateWindow = DefaultRateWindow
	case c.RateWindow < 0:
		return bad("RateWindow", "must not be negative")
	}
	if c.TokenRateLimit < 0 {
		return bad("TokenRateLimit", "must not be negative (0 is unlimited)")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"ErrorRate", c.ErrorRate}, {"TokenErrorRate", c.TokenErrorRate}, {"LatencyRate", c.LatencyRate}} {
		if !(f.v >= 0 && f.v <= 1) {
			return bad(f.name, "must be a fraction between 0 and 1 (got %v)", f.v)
		}
	}
	if c.Latency < 0 {
		return bad("Latency", "must not be negative")
	}
	switch {
	case c.Employees == 0:
		c.Employees = DefaultEmployees
	case c.Employees < 0:
		return bad("Employees", "must not be negative")
	}
	switch {
	case c.Payrolls == 0:
		c.Payrolls = DefaultPayrolls
	case c.Payrolls < 0:
		return bad("Payrolls", "must not be negative")
	}
	switch {
	case c.MaxPer == 0:
		c.MaxPer = DefaultMaxPer
	case c.MaxPer < 0:
		return bad("MaxPer", "must not be negative")
	}
	switch {
	case c.CodeLifetime == 0:
		c.CodeLifetime = DefaultCodeLifetime
	case c.CodeLifetime < 0:
		return bad("CodeLifetime", "must not be negative")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Update changes the configuration at run time (error rates, rule, clock
// offset, limits…); it is safe to call concurrently with requests, which
// see either the old or the new configuration. Data settings (Seed,
// Employees, Payrolls, PlainPayrolls) apply to companies created afterwards.
// Update panics if fn leaves the configuration invalid: use TryUpdate to get
// the error instead.
func (s *Sim) Update(fn func(*Config)) {
	if err := s.TryUpdate(fn); err != nil {
		panic(err)
	}
}

// TryUpdate is Update returning a *ConfigError (and changing nothing) when fn
// leaves the configuration invalid.
func (s *Sim) TryUpdate(fn func(*Config)) error {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	c := *s.cfg.Load()
	fn(&c)
	if err := c.normalize(); err != nil {
		return err
	}
	s.cfg.Store(&c)
	return nil
}

// Config returns a copy of the current configuration.
func (s *Sim) Config() Config { return *s.cfg.Load() }
