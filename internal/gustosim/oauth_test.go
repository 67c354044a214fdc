package gustosim_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
)

func TestNewValidatesConfig(t *testing.T) {
	clock := newFakeClock()
	cases := map[string]struct {
		mutate func(*gustosim.Config)
		field  string
	}{
		"no client id":        {func(c *gustosim.Config) { c.ClientID = "" }, "ClientID"},
		"no secret":           {func(c *gustosim.Config) { c.ClientSecret = "" }, "ClientSecret"},
		"relative redirect":   {func(c *gustosim.Config) { c.RedirectURI = "/callback" }, "RedirectURI"},
		"unknown rule":        {func(c *gustosim.Config) { c.Revocation = "lenient" }, "Revocation"},
		"error rate above 1":  {func(c *gustosim.Config) { c.ErrorRate = 1.5 }, "ErrorRate"},
		"negative latency":    {func(c *gustosim.Config) { c.Latency = -time.Second }, "Latency"},
		"sub-second lifetime": {func(c *gustosim.Config) { c.TokenLifetime = time.Millisecond }, "TokenLifetime"},
		"negative token rate": {func(c *gustosim.Config) { c.TokenRateLimit = -1 }, "TokenRateLimit"},
		"negative max per":    {func(c *gustosim.Config) { c.MaxPer = -5 }, "MaxPer"},
		"version not a date":  {func(c *gustosim.Config) { c.MinAPIVersion = "2025-11" }, "MinAPIVersion"},
		"version no such day": {func(c *gustosim.Config) { c.MinAPIVersion = "2025-02-30" }, "MinAPIVersion"},
		"unknown filter":      {func(c *gustosim.Config) { c.PayrollFilter = "straddle" }, "PayrollFilter"},
		"unknown rate scope":  {func(c *gustosim.Config) { c.RateLimitScope = "user" }, "RateLimitScope"},
		"too many payrolls":   {func(c *gustosim.Config) { c.Payrolls = gustosim.MaxPayrolls + 1 }, "Payrolls"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig(clock)
			tc.mutate(&cfg)
			_, err := gustosim.New(cfg)
			var ce *gustosim.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("New: got %v, want *ConfigError on %s", err, tc.field)
			}
			if strings.Contains(err.Error(), testClientSecret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}

	s, err := gustosim.New(baseConfig(clock))
	if err != nil {
		t.Fatal(err)
	}
	got := s.Config()
	if got.TokenLifetime != 7200*time.Second || got.Revocation != gustosim.RuleGusto || got.RateLimit != 200 ||
		got.RateWindow != time.Minute || got.Employees != 30 || got.Payrolls != 125 || got.MaxPer != 100 ||
		got.MinAPIVersion != "2025-11-15" || got.PayrollFilter != gustosim.FilterWithin || got.RateLimitScope != gustosim.RateLimitPerGrant ||
		got.OmitPaginationHeaders {
		t.Fatalf("defaults not applied: %+v", got)
	}
	if err := s.TryUpdate(func(c *gustosim.Config) { c.Revocation = "nope"; c.ErrorRate = 0.5 }); err == nil {
		t.Fatal("TryUpdate accepted an invalid rule")
	}
	if c := s.Config(); c.Revocation != gustosim.RuleGusto || c.ErrorRate != 0 {
		t.Fatalf("a refused TryUpdate changed the config: %+v", c)
	}
	s.Update(func(c *gustosim.Config) { c.Revocation = gustosim.RuleStrict })
	if s.Config().Revocation != gustosim.RuleStrict {
		t.Fatal("Update did not apply")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Update with an invalid config did not panic")
			}
		}()
		s.Update(func(c *gustosim.Config) { c.LatencyRate = -1 })
	}()
}

func TestTokenEndpointSuccessShape(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.TokenLifetime = 300 * time.Second; c.ClockOffset = 90 * time.Second })
	g := e.company(defaults())
	if g.Token.ExpiresIn != 300 || g.Token.TokenType != "Bearer" || g.Token.Scope != strings.Join(gustosim.DefaultScopes, " ") {
		t.Fatalf("CreateCompany token: %v", g.Token)
	}
	gustoNow := e.clock.Now().Add(90 * time.Second).Unix()
	if g.Token.CreatedAt != gustoNow {
		t.Fatalf("created_at %d, want Gusto's clock %d", g.Token.CreatedAt, gustoNow)
	}

	r := e.postJSON("/oauth/token", map[string]string{
		"client_id": testClientID, "client_secret": testClientSecret,
		"grant_type": "refresh_token", "refresh_token": g.Token.RefreshToken,
	})
	if r.status != http.StatusOK {
		t.Fatalf("refresh status %d: %s", r.status, r.body)
	}
	var raw map[string]any
	r.json(t, &raw)
	for _, k := range []string{"access_token", "token_type", "expires_in", "created_at", "refresh_token", "scope"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("token response lacks %s", k)
		}
	}
	var tok tokenJSON
	r.json(t, &tok)
	if tok.AccessToken == g.Token.AccessToken || tok.RefreshToken == g.Token.RefreshToken {
		t.Fatal("refresh did not rotate both tokens")
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 300 || tok.CreatedAt != gustoNow {
		t.Fatalf("token: %+v", tok)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", r.header.Get("Cache-Control"))
	}
	d, err := http.ParseTime(r.header.Get("Date"))
	if err != nil || d.Unix() != gustoNow {
		t.Fatalf("Date %q, want Gusto's clock %v", r.header.Get("Date"), time.Unix(gustoNow, 0).UTC())
	}
	c := e.sim.Counters()
	if c.Refreshes != 1 || c.RefreshesByCompany[g.CompanyUUID] != 1 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(defaults())
	body := func(mut func(map[string]string)) map[string]string {
		m := map[string]string{
			"client_id": testClientID, "client_secret": testClientSecret,
			"grant_type": "refresh_token", "refresh_token": g.Token.RefreshToken,
		}
		mut(m)
		return m
	}
	cases := []struct {
		name   string
		path   string
		body   map[string]string
		status int
		code   string
	}{
		{"secret in query", "/oauth/token?client_secret=" + url.QueryEscape(testClientSecret), body(func(map[string]string) {}), 400, "invalid_request"},
		{"refresh token in query", "/oauth/token?refresh_token=x", body(func(map[string]string) {}), 400, "invalid_request"},
		{"wrong secret", "/oauth/token", body(func(m map[string]string) { m["client_secret"] = "nope" }), 401, "invalid_client"},
		{"wrong client", "/oauth/token", body(func(m map[string]string) { m["client_id"] = "other" }), 401, "invalid_client"},
		{"no client", "/oauth/token", body(func(m map[string]string) { delete(m, "client_id"); delete(m, "client_secret") }), 401, "invalid_client"},
		{"unknown refresh token", "/oauth/token", body(func(m map[string]string) { m["refresh_token"] = "not-a-token" }), 400, "invalid_grant"},
		{"missing refresh token", "/oauth/token", body(func(m map[string]string) { delete(m, "refresh_token") }), 400, "invalid_request"},
		{"missing grant type", "/oauth/token", body(func(m map[string]string) { delete(m, "grant_type") }), 400, "invalid_request"},
		{"password grant", "/oauth/token", body(func(m map[string]string) { m["grant_type"] = "password" }), 400, "unsupported_grant_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postJSON(tc.path, tc.body)
			var oe oauthErr
			r.json(t, &oe)
			if r.status != tc.status || oe.Error != tc.code {
				t.Fatalf("got %d %q, want %d %q", r.status, oe.Error, tc.status, tc.code)
			}
			if strings.Contains(string(r.body), testClientSecret) || strings.Contains(string(r.body), g.Token.RefreshToken) {
				t.Fatal("error body echoes a credential")
			}
		})
	}
	if r := e.send(http.MethodPost, "/oauth/token", `{"grant_type": 7`); r.status != http.StatusBadRequest {
		t.Fatalf("malformed JSON: status %d", r.status)
	}
	// None of the refusals rotated the token.
	e.mustRefresh(g.Token.RefreshToken)
}

func TestTokenEndpointFormAndBasicAuth(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(defaults())
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Token.RefreshToken}}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testClientID, testClientSecret)
	r := e.do(req)
	if r.status != http.StatusOK {
		t.Fatalf("form + basic auth: status %d: %s", r.status, r.body)
	}
}

func TestAuthorizeAndCodeExchange(t *testing.T) {
	e := newEnv(t, nil)
	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{Companies: 3})
	status, q := e.authorize(authorizeParams("st-1", "companies:read employees:read"))
	if status != http.StatusFound || q.Get("state") != "st-1" || q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("authorize: %d %v", status, q)
	}
	code := q.Get("code")

	if st, _, errc := e.exchange(code, "https://evil.example.com/cb"); st != 400 || errc != "invalid_grant" {
		t.Fatalf("exchange with another redirect_uri: %d %q, want 400 invalid_grant", st, errc)
	}
	st, tok, errc := e.exchange(code, testRedirect)
	if st != http.StatusOK {
		t.Fatalf("exchange: %d %q", st, errc)
	}
	if tok.Scope != "companies:read employees:read" || tok.RefreshToken == "" {
		t.Fatalf("exchanged token: %+v", tok)
	}
	if st, _, errc := e.exchange(code, testRedirect); st != 400 || errc != "invalid_grant" {
		t.Fatalf("code reuse: %d %q, want 400 invalid_grant", st, errc)
	}

	var info struct {
		Scope    string `json:"scope"`
		Resource struct {
			Type string `json:"type"`
			UUID string `json:"uuid"`
		} `json:"resource"`
		ResourceOwner struct {
			Type string `json:"type"`
			UUID string `json:"uuid"`
		} `json:"resource_owner"`
	}
	r := e.get("/v1/token_info", tok.AccessToken)
	r.json(t, &info)
	if r.status != 200 || info.Resource.Type != "Company" || info.Resource.UUID == "" || info.ResourceOwner.Type != "CompanyAdmin" || info.Scope != tok.Scope {
		t.Fatalf("token_info %d: %+v", r.status, info)
	}

	var me struct {
		UUID  string `json:"uuid"`
		Email string `json:"email"`
		Roles struct {
			PayrollAdmin struct {
				Companies []struct {
					UUID string `json:"uuid"`
					Name string `json:"name"`
				} `json:"companies"`
			} `json:"payroll_admin"`
		} `json:"roles"`
	}
	r = e.get("/v1/me", tok.AccessToken)
	r.json(t, &me)
	cos := me.Roles.PayrollAdmin.Companies
	if r.status != 200 || me.UUID != info.ResourceOwner.UUID || me.Email == "" || len(cos) != 3 || cos[0].UUID != info.Resource.UUID {
		t.Fatalf("/v1/me %d: %+v", r.status, me)
	}
	// Strict access: the token covers the first company only.
	if got := e.apiStatus(cos[0].UUID, tok.AccessToken); got != 200 {
		t.Fatalf("own company: %d", got)
	}
	if got := e.apiStatus(cos[1].UUID, tok.AccessToken); got != http.StatusForbidden {
		t.Fatalf("another reachable company: %d, want 403", got)
	}
	// The payrolls scope was not granted.
	if got := e.get("/v1/companies/"+cos[0].UUID+"/payrolls", tok.AccessToken).status; got != http.StatusForbidden {
		t.Fatalf("payrolls without payrolls:read: %d, want 403", got)
	}
	if c := e.sim.Counters(); c.CodeExchanges != 1 || c.CodeExchangesRefused != 2 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestAuthorizeRefusalsAndExpiry(t *testing.T) {
	e := newEnv(t, nil)
	p := authorizeParams("s", "")
	p.Set("client_id", "someone-else")
	if st, _ := e.authorize(p); st != http.StatusBadRequest {
		t.Fatalf("unknown client: %d, want 400 without redirect", st)
	}
	p = authorizeParams("s", "")
	p.Set("redirect_uri", "https://evil.example.com/cb")
	if st, _ := e.authorize(p); st != http.StatusBadRequest {
		t.Fatalf("foreign redirect_uri: %d, want 400 without redirect", st)
	}
	p = authorizeParams("s", "")
	p.Set("client_secret", testClientSecret)
	if st, _ := e.authorize(p); st != http.StatusBadRequest {
		t.Fatalf("secret in authorize URL: %d, want 400", st)
	}
	p = authorizeParams("s", "")
	p.Set("response_type", "token")
	if _, q := e.authorize(p); q.Get("error") != "unsupported_response_type" || q.Get("state") != "s" {
		t.Fatalf("implicit flow: %v", q)
	}

	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{Deny: true})
	if _, q := e.authorize(authorizeParams("d", "")); q.Get("error") != "access_denied" || q.Get("state") != "d" || q.Get("code") != "" {
		t.Fatalf("deny: %v", q)
	}

	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{Scopes: []string{"companies:read"}})
	_, q := e.authorize(authorizeParams("x", "companies:read payrolls:read"))
	e.clock.Advance(gustosim.DefaultCodeLifetime)
	if st, _, errc := e.exchange(q.Get("code"), testRedirect); st != 400 || errc != "invalid_grant" {
		t.Fatalf("expired code: %d %q", st, errc)
	}
	_, q = e.authorize(authorizeParams("y", "companies:read payrolls:read"))
	st, tok, _ := e.exchange(q.Get("code"), testRedirect)
	if st != 200 || tok.Scope != "companies:read" {
		t.Fatalf("granted scopes follow SetAuthorize: %d %q", st, tok.Scope)
	}
}

func TestReconsentAfterRevoke(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(defaults())
	if err := e.sim.Revoke(g.CompanyUUID); err != nil {
		t.Fatal(err)
	}
	if got := e.apiStatus(g.CompanyUUID, g.Token.AccessToken); got != http.StatusUnauthorized {
		t.Fatalf("revoked access token: %d, want 401", got)
	}
	e.wantRefused(g.Token.RefreshToken, "revoked grant")
	if c := e.sim.Counters(); c.Replays != 0 {
		t.Fatalf("a revoked (never used) refresh token counted as a replay: %+v", c)
	}
	if err := e.sim.Revoke("6f1c8d34-0000-4000-8000-000000000000"); !errors.Is(err, gustosim.ErrUnknownCompany) {
		t.Fatalf("Revoke(unknown): %v", err)
	}

	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{CompanyUUID: g.CompanyUUID})
	_, q := e.authorize(authorizeParams("again", ""))
	st, tok, _ := e.exchange(q.Get("code"), testRedirect)
	if st != 200 {
		t.Fatalf("re-consent exchange: %d", st)
	}
	if got := e.apiStatus(g.CompanyUUID, tok.AccessToken); got != 200 {
		t.Fatalf("re-consented token on the company: %d", got)
	}
	e.mustRefresh(tok.RefreshToken)
}
