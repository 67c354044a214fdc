package gustosim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/gusto"
)

// Errors returned by the Sim's methods; match them with errors.Is.
var (
	// ErrUnknownCompany: no company has that uuid.
	ErrUnknownCompany = errors.New("gustosim: unknown company")
	// ErrCompanyExists: CreateCompany was given a uuid already in use.
	ErrCompanyExists = errors.New("gustosim: company already exists")
	// ErrUnknownResource: Records or Checksum was asked for something other
	// than "company", "employees" or "payrolls".
	ErrUnknownResource = errors.New("gustosim: unknown resource")
	// ErrInvalidOptions: CompanyOptions has an invalid field.
	ErrInvalidOptions = errors.New("gustosim: invalid company options")
)

// Sim is the Gusto simulator. It is an http.Handler and is safe for
// concurrent use; see the package documentation for what it serves.
type Sim struct {
	cfgMu sync.Mutex // serializes updates
	cfg   atomic.Pointer[Config]

	mu        sync.RWMutex // guards companies, owners and users' company lists; never held while serving data
	companies map[string]*company
	order     []*company
	owners    map[string]*user // by uuid

	access      sync.Map // access token value -> *accessToken
	refresh     sync.Map // refresh token value -> *refreshToken
	unknownUses sync.Map // never-issued token value -> *atomic.Int64

	codesMu sync.Mutex
	codes   map[string]*authCode

	authMu    sync.Mutex
	authorize AuthorizeBehavior

	system sync.Map // system access token value -> *systemToken
	events eventLog
	hooks  webhooks

	n   counters
	mux *http.ServeMux
}

// New validates cfg, applies the defaults and returns a simulator with no
// companies.
func New(cfg Config) (*Sim, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	s := &Sim{companies: map[string]*company{}, owners: map[string]*user{}, codes: map[string]*authCode{}}
	s.cfg.Store(&cfg)
	s.initWebhooks(cfg.Seed)
	s.routes()
	return s, nil
}

// gustoNow is Gusto's clock.
func (s *Sim) gustoNow(cfg *Config) time.Time { return cfg.Now().Add(cfg.ClockOffset) }

// CompanyOptions describes a company to create.
type CompanyOptions struct {
	// UUID is the company uuid; empty means a random one.
	UUID string
	// Name is the legal name; empty means a generated one.
	Name string
	// Employees and Payrolls are the company's record counts; -1 means the
	// Config default. Zero means none. Payrolls is at most MaxPayrolls; see
	// Config.Payrolls for how it relates to the payroll history.
	Employees, Payrolls int
	// ResourceOwner is the uuid of the user who authorizes the company's
	// grant (resource_owner in GET /v1/token_info, the user of GET /v1/me):
	// companies created with the same ResourceOwner share that user (an
	// accountant's companies) and, under RateLimitPerOwner, one rate-limit
	// budget. Empty means a user of this company's own.
	ResourceOwner string
	// Scopes granted to the company's first token pair; nil means
	// DefaultScopes.
	Scopes []string
	// PaySchedules are the company's pay schedules, one per frequency given
	// (a frequency twice is two schedules); nil means Config.PaySchedules.
	// Schedules are added again in turn when they do not fill Payrolls.
	PaySchedules []Frequency
	// HistoryMonths is how far back the pay periods start; zero means
	// Config.HistoryMonths. At most MaxHistoryMonths.
	HistoryMonths int
	// LongPayrolls adds, beyond Payrolls, a semiannual off-cycle payroll per
	// ended half-year and the external payrolls of the quarters before the
	// history starts (see payrolls.go); Config.LongPayrolls does it for
	// every company.
	LongPayrolls bool
}

// Grant is what creating a partner-managed company returns: the company
// uuid and its first token pair. It marshals to the flat shape
// `gustosync companies add` reads: company_uuid, access_token,
// refresh_token, token_type, expires_in, scope, created_at.
type Grant struct {
	CompanyUUID string
	Token       gusto.Token
}

type grantJSON struct {
	CompanyUUID  string `json:"company_uuid"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	CreatedAt    int64  `json:"created_at"`
}

// MarshalJSON writes the flat `companies add` shape (with the tokens: it is
// meant to be handed to gustosync, never logged).
func (g Grant) MarshalJSON() ([]byte, error) {
	return json.Marshal(grantJSON{g.CompanyUUID, g.Token.AccessToken, g.Token.RefreshToken, g.Token.TokenType, g.Token.ExpiresIn, g.Token.Scope, g.Token.CreatedAt})
}

// UnmarshalJSON reads the flat shape.
func (g *Grant) UnmarshalJSON(b []byte) error {
	var w grantJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*g = Grant{CompanyUUID: w.CompanyUUID, Token: gusto.Token{AccessToken: w.AccessToken, RefreshToken: w.RefreshToken, TokenType: w.TokenType, ExpiresIn: w.ExpiresIn, Scope: w.Scope, CreatedAt: w.CreatedAt}}
	return nil
}

// String redacts the tokens.
func (g Grant) String() string {
	return "gustosim.Grant{company_uuid=" + g.CompanyUUID + " " + g.Token.String() + "}"
}

// GoString redacts the tokens.
func (g Grant) GoString() string { return g.String() }

func (s *Sim) grantOf(cfg *Config, out issued) Grant {
	return Grant{CompanyUUID: out.company.uuid, Token: gusto.Token{
		AccessToken: out.access, RefreshToken: out.refresh, TokenType: "Bearer",
		ExpiresIn: out.expiresIn, CreatedAt: out.createdAt, Scope: out.scope,
		ServerDate: time.Unix(out.createdAt, 0).UTC(), ReceivedAt: cfg.Now(),
	}}
}

// CreateCompany creates a partner-managed company with its primary admin
// and a grant, and returns the grant's first token pair.
func (s *Sim) CreateCompany(o CompanyOptions) (Grant, error) {
	cfg := s.cfg.Load()
	scopes := o.Scopes
	if scopes == nil {
		scopes = DefaultScopes
	}
	owner, err := s.owner(o.ResourceOwner)
	if err != nil {
		return Grant{}, err
	}
	c, err := s.newCompany(cfg, o, owner)
	if err != nil {
		return Grant{}, err
	}
	s.fillUser(owner, c)
	g := s.newGrant(c, owner, scopes)
	_, out := s.issue(cfg, g, nil)
	s.emit(c, EventCompanyProvisioned, "Company", c.uuid)
	return s.grantOf(cfg, out), nil
}

// newCompany validates o and registers the company, reachable by owner.
func (s *Sim) newCompany(cfg *Config, o CompanyOptions, owner *user) (*company, error) {
	id, err := optionUUID("UUID", o.UUID)
	if err != nil {
		return nil, err
	}
	size := func(name string, v, def int) (int, error) {
		switch {
		case v == -1:
			return def, nil
		case v < 0:
			return 0, fmt.Errorf("%w: %s must be -1 (default) or at least 0", ErrInvalidOptions, name)
		}
		return v, nil
	}
	emps, err := size("Employees", o.Employees, cfg.Employees)
	if err != nil {
		return nil, err
	}
	pays, err := size("Payrolls", o.Payrolls, cfg.Payrolls)
	if err != nil {
		return nil, err
	}
	if pays > MaxPayrolls {
		return nil, fmt.Errorf("%w: Payrolls must be at most %d", ErrInvalidOptions, MaxPayrolls)
	}
	freqs := o.PaySchedules
	if freqs == nil {
		freqs = cfg.PaySchedules
	}
	kinds, err := scheduleKinds(freqs)
	if err != nil {
		return nil, fmt.Errorf("PaySchedules: %w", err)
	}
	months := o.HistoryMonths
	switch {
	case months == 0:
		months = cfg.HistoryMonths
	case months < 0 || months > MaxHistoryMonths:
		return nil, fmt.Errorf("%w: HistoryMonths must be between 1 and %d (0 is the default)", ErrInvalidOptions, MaxHistoryMonths)
	}
	created := s.gustoNow(cfg)
	c := &company{
		uuid: id, key: companyKey(cfg.Seed, id), created: created, day: dayOf(created),
		employees: emps, payrolls: pays, plain: cfg.PlainPayrolls, owner: owner,
		sched: companySchedules{kinds: kinds}, historyMonths: months, long: o.LongPayrolls || cfg.LongPayrolls,
	}
	c.name = o.Name
	if c.name == "" {
		c.name = defaultCompanyName(c.key)
	}
	c.tradeName = strings.TrimSuffix(c.name, " LLC")
	c.slug = slugify(c.name)
	if c.slug == "" {
		c.slug = "company"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.companies[id]; dup {
		return nil, fmt.Errorf("company %s: %w", id, ErrCompanyExists)
	}
	s.companies[id] = c
	s.order = append(s.order, c)
	return c, nil
}

// optionUUID returns the uuid option field in canonical form, or a random
// one when it is empty.
func optionUUID(field, v string) (string, error) {
	if v == "" {
		return uuid.NewString(), nil
	}
	u, err := uuid.Parse(v)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not a uuid", ErrInvalidOptions, field)
	}
	return u.String(), nil
}

// owner returns the user with uuid id, registering a new one if there is
// none; an empty id means a new user with a random uuid.
func (s *Sim) owner(id string) (*user, error) {
	id, err := optionUUID("ResourceOwner", id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.owners[id]
	if u == nil {
		u = &user{uuid: id}
		s.owners[id] = u
	}
	return u, nil
}

// fillUser gives owner a name (from its first company) and makes c
// reachable by it.
func (s *Sim) fillUser(owner *user, c *company) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if owner.first == "" {
		r := c.stream(kindCompany, 1)
		owner.first, owner.last = firstNames[r.intn(len(firstNames))], lastNames[r.intn(len(lastNames))]
		owner.email = "admin." + owner.uuid[:8] + "@" + c.slug + ".example.com"
	}
	owner.companies = append(owner.companies, c)
}

// company looks a company up by uuid (case-insensitive).
func (s *Sim) company(id string) *company {
	s.mu.RLock()
	c := s.companies[strings.ToLower(id)]
	s.mu.RUnlock()
	return c
}

// Revoke revokes the app for the company, as a user does in Gusto's UI:
// every token of every grant for the company dies. A new consent (the
// authorize flow with AuthorizeBehavior.CompanyUUID) creates a new grant.
func (s *Sim) Revoke(companyUUID string) error {
	c := s.company(companyUUID)
	if c == nil {
		return fmt.Errorf("revoke %s: %w", companyUUID, ErrUnknownCompany)
	}
	c.mu.Lock()
	grants := append([]*grant(nil), c.grants...)
	c.mu.Unlock()
	for _, g := range grants {
		g.kill()
	}
	s.emit(c, EventCompanyDeprovisioned, "Company", c.uuid)
	return nil
}

// CompanyUUIDs returns every company's uuid, in creation order.
func (s *Sim) CompanyUUIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, len(s.order))
	for i, c := range s.order {
		out[i] = c.uuid
	}
	return out
}

// eachRecord calls fn with every record of resource, in page order. The
// buffer passed to fn is reused.
func (s *Sim) eachRecord(companyUUID, resource string, fn func([]byte)) error {
	c := s.company(companyUUID)
	if c == nil {
		return fmt.Errorf("records of %s: %w", companyUUID, ErrUnknownCompany)
	}
	var buf []byte
	switch resource {
	case "company":
		fn(c.object())
	case "employees":
		for i := 0; i < c.employees; i++ {
			if c.del.deleted(resource, i) {
				continue
			}
			buf = c.appendEmployee(buf[:0], i, fullEmployeeView)
			fn(buf)
		}
	case "payrolls":
		for j := range c.payrollTable() {
			if c.del.deleted(resource, j) {
				continue
			}
			buf = c.appendPayroll(buf[:0], j, fullPayrollView)
			fn(buf)
		}
	default:
		return fmt.Errorf("records %q: %w", resource, ErrUnknownResource)
	}
	return nil
}

// Records returns the company's dataset for resource ("company",
// "employees" or "payrolls"), in page order, exactly as served: employees
// as a token with compensations:read sees them without include; payrolls
// with include=totals, every processing status and payroll type, the whole
// history in ascending order; the company as a one-element slice.
func (s *Sim) Records(companyUUID, resource string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := s.eachRecord(companyUUID, resource, func(b []byte) {
		out = append(out, json.RawMessage(append([]byte(nil), b...)))
	})
	return out, err
}

// Checksum returns the number of records of resource (see Records) and the
// hex SHA-256 of the records, each followed by a newline, without holding
// them all in memory.
func (s *Sim) Checksum(companyUUID, resource string) (int, string, error) {
	h := sha256.New()
	n := 0
	err := s.eachRecord(companyUUID, resource, func(b []byte) {
		h.Write(b)
		h.Write([]byte{'\n'})
		n++
	})
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// AuthorizeBehavior is how GET /oauth/authorize answers (the user's choice
// on Gusto's consent screen).
type AuthorizeBehavior struct {
	// Deny makes the user refuse: the redirect carries error=access_denied.
	Deny bool
	// Scopes are the scopes granted; empty means the requested scopes, or
	// DefaultScopes when none were requested.
	Scopes []string
	// Companies is how many companies the consenting user can reach, created
	// on consent with the Config default sizes; the code is for the first
	// (strict access). Zero means 1.
	Companies int
	// CompanyUUID, when set, makes the consent be for that existing company
	// (re-consent after a revocation); Companies is then ignored.
	CompanyUUID string
}

// SetAuthorize sets how GET /oauth/authorize answers from now on.
func (s *Sim) SetAuthorize(a AuthorizeBehavior) {
	s.authMu.Lock()
	s.authorize = a
	s.authMu.Unlock()
}

func (s *Sim) authorizeBehavior() AuthorizeBehavior {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	return s.authorize
}

// --- responses ---

// bufPool recycles page buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// send writes a complete response: the injected latency first (after the
// request took effect), then Date on Gusto's clock, then the body.
func (s *Sim) send(w http.ResponseWriter, r *http.Request, cfg *Config, status int, body []byte) {
	if cfg.LatencyRate > 0 && cfg.Latency > 0 && rand.Float64() < cfg.LatencyRate {
		t := time.NewTimer(cfg.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	h := w.Header()
	h.Set("Date", s.gustoNow(s.cfg.Load()).UTC().Format(http.TimeFormat))
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// sendJSON marshals v (without escaping <, > and &: Gusto's 406 message
// reads ">=") and sends it.
func (s *Sim) sendJSON(w http.ResponseWriter, r *http.Request, cfg *Config, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b := []byte(`{"errors":[{"error_key":"request","category":"internal_error","message":"encode failed"}]}`)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
	} else {
		b = bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	}
	s.send(w, r, cfg, status, b)
}

// apiError is Gusto's error body.
type apiError struct {
	Errors []apiErrorItem `json:"errors"`
}

type apiErrorItem struct {
	ErrorKey string `json:"error_key"`
	Category string `json:"category"`
	Message  string `json:"message"`
}

// sendError sends {"errors":[{error_key, category, message}]}.
func (s *Sim) sendError(w http.ResponseWriter, r *http.Request, cfg *Config, status int, key, category, message string) {
	s.sendJSON(w, r, cfg, status, apiError{Errors: []apiErrorItem{{ErrorKey: key, Category: category, Message: message}}})
}

// oauthError is the OAuth 2.0 error body.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

func (s *Sim) sendOAuthError(w http.ResponseWriter, r *http.Request, cfg *Config, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	s.sendJSON(w, r, cfg, status, oauthError{Error: code, ErrorDescription: desc})
}

// ServeHTTP serves the OAuth endpoints, the API and (unless disabled) the
// admin endpoints.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// For answers the mux writes itself (405); send overwrites it.
	w.Header().Set("Date", s.gustoNow(s.cfg.Load()).UTC().Format(http.TimeFormat))
	s.mux.ServeHTTP(w, r)
}

func (s *Sim) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /oauth/token", s.handleToken)
	m.HandleFunc("GET /oauth/authorize", s.handleAuthorize)
	m.HandleFunc("GET /v1/token_info", s.api("", s.handleTokenInfo))
	m.HandleFunc("GET /v1/me", s.api("", s.handleMe))
	m.HandleFunc("GET /v1/companies/{company_id}", s.api("companies:read", s.handleCompany))
	m.HandleFunc("GET /v1/companies/{company_id}/employees", s.api("employees:read", s.handleEmployees))
	m.HandleFunc("GET /v1/companies/{company_id}/payrolls", s.api("payrolls:read", s.handlePayrolls))
	s.systemRoutes(m)
	s.adminRoutes(m)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		cfg := s.cfg.Load()
		if _, ok := s.apiVersion(w, r, cfg); ok {
			s.sendError(w, r, cfg, http.StatusNotFound, "request", "not_found", "The requested resource was not found.")
		}
	})
	s.mux = m
}
