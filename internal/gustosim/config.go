package gustosim

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Rule says what happens to a refresh token R1 after a refresh with it
// issued a new pair (A2, R2).
type Rule string

const (
	// RuleGusto is Gusto's documented behaviour, and no more: the previous
	// refresh token "is revoked on the first use of the new access token"
	// (Gusto's token docs; ../shared/GUSTO.md). R1 keeps working until an
	// access token obtained from it is first used on an API call;
	// presenting R1 again before that issues another pair and revokes
	// nothing (the docs say nothing of earlier pairs); after the first use
	// R1 is refused.
	RuleGusto Rule = "gusto"
	// RuleLatestWins is RuleGusto where presenting R1 again also revokes
	// the unused pair it issued last time: a provider that keeps only the
	// latest-issued pair. A sender that replays R1 after a sibling's
	// refresh then revokes the sibling's committed pair.
	RuleLatestWins Rule = "latest_wins"
	// RuleStrict refuses R1 as soon as it has been used once.
	RuleStrict Rule = "strict"
	// RuleFamily refuses R1 at once, and presenting a used or rotated-away
	// refresh token (a replay) revokes every token of the grant: the grant
	// needs re-consent.
	RuleFamily Rule = "family"
)

// ParseRule parses "gusto", "latest_wins", "strict" or "family".
func ParseRule(s string) (Rule, error) {
	return parseChoice("Revocation", "rule", s, RuleGusto, RuleLatestWins, RuleStrict, RuleFamily)
}

// parseChoice returns s if it is one of allowed, else a *ConfigError on
// field naming the allowed values.
func parseChoice[T ~string](field, what, s string, allowed ...T) (T, error) {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if string(a) == s {
			return a, nil
		}
		names[i] = string(a)
	}
	last := len(names) - 1
	want := strings.Join(names[:last], ", ") + " or " + names[last]
	return "", &ConfigError{Field: field, Reason: fmt.Sprintf("unknown %s %q (want %s)", what, s, want)}
}

// PayrollFilter is a reading of the start_date/end_date filter of GET
// /v1/companies/{company_id}/payrolls. Gusto's reference (operation
// get-v1-companies-company_id-payrolls) says only "Return payrolls whose pay
// period is after the start date" and "... before the end date": whether a
// pay period that straddles a bound is returned is not documented, so each
// reading is implemented. Bounds are inclusive in every reading.
type PayrollFilter string

const (
	// FilterWithin is the literal reading (the default): the whole pay
	// period lies inside [start_date, end_date].
	FilterWithin PayrollFilter = "within"
	// FilterStart returns payrolls whose pay period starts inside the range.
	FilterStart PayrollFilter = "start"
	// FilterOverlap returns payrolls whose pay period intersects the range.
	FilterOverlap PayrollFilter = "overlap"
	// FilterCheckDate filters by check date, as if every request carried
	// date_filter_by=check_date (which, per the reference, applies only to
	// regular processed payrolls; the others are then filtered by the
	// literal pay-period reading).
	FilterCheckDate PayrollFilter = "check_date"
)

// ParsePayrollFilter parses "within", "start", "overlap" or "check_date".
func ParsePayrollFilter(s string) (PayrollFilter, error) {
	return parseChoice("PayrollFilter", "reading", s, FilterWithin, FilterStart, FilterOverlap, FilterCheckDate)
}

// RateLimitScope is what shares one rate-limit budget. Gusto's pages
// disagree: https://docs.gusto.com/app-integrations/docs/rate-limits says
// "at an OAuth grant level", while
// https://docs.gusto.com/app-integrations/docs/rate-limits-1 (and the
// embedded docs up to v2024-04-01) say per "user-application pair", shared by
// the companies one user authorized.
type RateLimitScope string

const (
	// RateLimitPerGrant gives every grant (one company's authorization) its
	// own budget. The default.
	RateLimitPerGrant RateLimitScope = "grant"
	// RateLimitPerOwner makes the grants of one resource owner (the user who
	// authorized them; see CompanyOptions.ResourceOwner) share one budget.
	RateLimitPerOwner RateLimitScope = "owner"
)

// ParseRateLimitScope parses "grant" or "owner".
func ParseRateLimitScope(s string) (RateLimitScope, error) {
	return parseChoice("RateLimitScope", "scope", s, RateLimitPerGrant, RateLimitPerOwner)
}

// Defaults applied by New (and after every Update) to zero fields.
const (
	DefaultTokenLifetime = 7200 * time.Second
	DefaultRateLimit     = 200
	DefaultRateWindow    = 60 * time.Second
	DefaultEmployees     = 30
	// DefaultPayrolls is about three years of history for a company with
	// both a biweekly and a monthly pay schedule (see Config.Payrolls).
	DefaultPayrolls = 125
	// DefaultMinAPIVersion is the oldest X-Gusto-API-Version accepted: the
	// oldest version Gusto still supports in late 2026 (2025-06-15 was
	// retired after 2026-11-15; see ../shared/GUSTO.md "API versions").
	DefaultMinAPIVersion = "2025-11-15"
	// DefaultPayrollFilter is the literal reading of the payroll date filter.
	DefaultPayrollFilter = FilterWithin
	// DefaultRateLimitScope is one budget per grant, as Gusto's current
	// rate-limit page says.
	DefaultRateLimitScope = RateLimitPerGrant
	// DefaultMaxPer is the largest page size served: "a maximum page size of
	// 100 payrolls" since 2025-06-15
	// (https://docs.gusto.com/embedded-payroll/changelog/v2025-06-15), the
	// only maximum Gusto documents.
	DefaultMaxPer = 100
	// DefaultPer is the page size when a request has no per: "the API will
	// return 25 records per page by default"
	// (https://docs.gusto.com/embedded-payroll/docs/pagination).
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
	// RateLimit is the number of API requests per budget (see
	// RateLimitScope) per RateWindow. Default DefaultRateLimit (200);
	// negative means unlimited.
	RateLimit int
	// RateLimitScope is what shares one rate-limit budget: every grant its
	// own ("grant", the default) or every resource owner one ("owner").
	RateLimitScope RateLimitScope
	// RateWindow is the rate limit window. Default 60 s.
	RateWindow time.Duration
	// OtherConsumer is how many requests per RateWindow another consumer of
	// the same grant (another integration or script using the user's
	// authorization) spends from every rate-limit budget, evenly spaced,
	// whether or not our client is active. Gusto counts them in the same
	// X-RateLimit-Remaining (its headers are per grant, or per user-application
	// pair: https://docs.gusto.com/app-integrations/docs/rate-limits), so a
	// client can only see them there. Zero (the default) means none.
	OtherConsumer int
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
	// TokenBareUnauthorized answers every POST /oauth/token with a 401
	// whose body is not OAuth JSON (text/html, no error code), before the
	// request has any effect: a gateway or WAF in front of the token
	// endpoint refusing requests, not Gusto refusing a grant. Counted in
	// Counters.InjectedUnauthorized.
	TokenBareUnauthorized bool
	// LatencyRate is the fraction [0,1] of requests whose answer is delayed
	// by Latency (after the request took effect).
	LatencyRate float64
	// Latency is the injected delay.
	Latency time.Duration
	// ClockOffset shifts Gusto's clock: Gusto's time is Now()+ClockOffset.
	// It drives the Date header, created_at, expiries and "today".
	ClockOffset time.Duration
	// Employees and Payrolls are the records per company when
	// CompanyOptions asks for the default (-1). Defaults DefaultEmployees
	// (30) and DefaultPayrolls (125).
	//
	// Payrolls is the exact number of payrolls a company has: its most
	// recent ones, counted back from its current pay period, regular and
	// off-cycle together. A company with both pay schedules runs about 43 a
	// year (26 biweekly, 12 monthly, a few off-cycle), one with only the
	// biweekly schedule about 30, only the monthly one about 14; so 12
	// payrolls reach back a few months and 125 about three years. History
	// never reaches back more than three years: a count the company's
	// schedules do not fill in three years (HistoryMonths) adds further
	// schedules.
	Employees, Payrolls int
	// PaySchedules are the pay schedules of a company created without its
	// own (CompanyOptions.PaySchedules); nil means the default mix (a
	// biweekly and/or a monthly schedule, drawn per company). See
	// schedules.go for how each frequency lays out its periods.
	PaySchedules []Frequency
	// HistoryMonths is how far back a company's pay periods start when
	// CompanyOptions.HistoryMonths is zero. Default DefaultHistoryMonths
	// (36); at most MaxHistoryMonths.
	HistoryMonths int
	// LongPayrolls gives every company created afterwards the long
	// payrolls of CompanyOptions.LongPayrolls.
	LongPayrolls bool
	// PlainPayrolls makes every generated payroll regular and processed (by
	// default about one processed regular payroll in eight has an off-cycle
	// payroll beside it, and the payrolls of the current pay periods are
	// unprocessed, so Gusto's default filters hide some).
	PlainPayrolls bool
	// MaxPer is the largest page size; a larger per is capped (and
	// X-Per-Page says what was served). Default DefaultMaxPer (100).
	MaxPer int
	// OmitPaginationHeaders leaves out X-Page, X-Per-Page, X-Total-Count and
	// X-Total-Pages, to test a client against a server without them.
	OmitPaginationHeaders bool
	// MinAPIVersion is the oldest X-Gusto-API-Version accepted (the
	// application's minimum API version in Gusto's developer portal), a date
	// YYYY-MM-DD; a request without the header is served at it. Default
	// DefaultMinAPIVersion.
	MinAPIVersion string
	// PayrollFilter is the reading of the payrolls' start_date/end_date
	// filter. Default DefaultPayrollFilter ("within").
	PayrollFilter PayrollFilter
	// CodeLifetime is how long an authorization code stays exchangeable.
	// Default DefaultCodeLifetime.
	CodeLifetime time.Duration
	// Seed makes the generated data reproducible: a company's records are a
	// function of Seed, its uuid, its sizes and its creation day.
	Seed int64
	// DisableAdmin turns off the /admin/ endpoints (404).
	DisableAdmin bool
	// WebhookMaxAttempts is how often a webhook delivery is tried in all
	// (DefaultWebhookMaxAttempts); WebhookRetryDelay the wait before the
	// first retry, doubled each time (DefaultWebhookRetryDelay);
	// WebhookTimeout bounds one delivery (DefaultWebhookTimeout). See
	// webhooks.go.
	WebhookMaxAttempts int
	WebhookRetryDelay  time.Duration
	WebhookTimeout     time.Duration
	// WebhookDuplicateRate is the fraction [0,1] of deliveries sent twice;
	// WebhookReorderRate the fraction held back by up to WebhookReorderDelay
	// (so later events overtake them). Drawn from a generator seeded by Seed.
	WebhookDuplicateRate float64
	WebhookReorderRate   float64
	WebhookReorderDelay  time.Duration
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
	if c.RateLimitScope == "" {
		c.RateLimitScope = DefaultRateLimitScope
	}
	if _, err := ParseRateLimitScope(string(c.RateLimitScope)); err != nil {
		return err
	}
	if c.MinAPIVersion == "" {
		c.MinAPIVersion = DefaultMinAPIVersion
	}
	if _, err := time.Parse(time.DateOnly, c.MinAPIVersion); err != nil {
		return bad("MinAPIVersion", "must be a date YYYY-MM-DD (got %q)", c.MinAPIVersion)
	}
	if c.PayrollFilter == "" {
		c.PayrollFilter = DefaultPayrollFilter
	}
	if _, err := ParsePayrollFilter(string(c.PayrollFilter)); err != nil {
		return err
	}
	switch {
	case c.RateWindow == 0:
		c.RateWindow = DefaultRateWindow
	case c.RateWindow < 0:
		return bad("RateWindow", "must not be negative")
	}
	if c.OtherConsumer < 0 {
		return bad("OtherConsumer", "must not be negative (0 is none)")
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
	case c.Payrolls < 0 || c.Payrolls > MaxPayrolls:
		return bad("Payrolls", "must be between 0 and %d", MaxPayrolls)
	}
	if _, err := scheduleKinds(c.PaySchedules); err != nil {
		return bad("PaySchedules", "%v", err)
	}
	switch {
	case c.HistoryMonths == 0:
		c.HistoryMonths = DefaultHistoryMonths
	case c.HistoryMonths < 0 || c.HistoryMonths > MaxHistoryMonths:
		return bad("HistoryMonths", "must be between 1 and %d (got %d)", MaxHistoryMonths, c.HistoryMonths)
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
	return c.normalizeWebhooks()
}

// Update changes the configuration at run time (error rates, rule, clock
// offset, limits, API version, payroll filter…); it is safe to call
// concurrently with requests, which see either the old or the new
// configuration. Data settings (Seed, Employees, Payrolls, PaySchedules,
// HistoryMonths, LongPayrolls, PlainPayrolls) apply to companies created
// afterwards.
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
