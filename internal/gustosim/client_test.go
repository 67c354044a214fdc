package gustosim_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
)

// These tests drive the real typed client (internal/gusto) against the
// simulator: every grant and endpoint, every revocation rule, pagination to
// the last page, 429 with Retry-After and skew measured from Date.

func (e *env) client(t *testing.T, mutate func(*gusto.Options)) *gusto.Client {
	t.Helper()
	o := gusto.Options{
		BaseURL: e.srv.URL, ClientID: testClientID, ClientSecret: testClientSecret, RedirectURI: testRedirect,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}, Now: e.clock.Now,
	}
	if mutate != nil {
		mutate(&o)
	}
	c, err := gusto.New(o)
	if err != nil {
		t.Fatalf("gusto.New: %v", err)
	}
	return c
}

func TestClientGrantsAndEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	ctx := context.Background()

	// Authorization code: the client's consent URL, the redirect, the exchange.
	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{Companies: 2})
	consent := c.AuthorizeURL("state-42", []string{"companies:read", "employees:read", "payrolls:read"})
	if strings.Contains(consent, testClientSecret) {
		t.Fatal("the authorize URL carries the client secret")
	}
	res, err := e.hc.Get(consent)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc.Query().Get("state") != "state-42" {
		t.Fatalf("consent: %d %v", res.StatusCode, loc)
	}
	tok, err := c.ExchangeCode(ctx, loc.Query().Get("code"))
	if err != nil {
		t.Fatalf("ExchangeCode: %v", err)
	}
	if tok.Scope != "companies:read employees:read payrolls:read" || tok.ServerDate.IsZero() {
		t.Fatalf("exchanged: %v (server date %v)", tok, tok.ServerDate)
	}
	if _, err := c.ExchangeCode(ctx, loc.Query().Get("code")); !isInvalidGrant(err) {
		t.Fatalf("reused code: %v, want *InvalidGrantError", err)
	}

	info, err := c.TokenInfo(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if info.Resource == nil || info.Resource.Type != "Company" || info.ResourceOwner == nil || info.Scope != tok.Scope {
		t.Fatalf("TokenInfo: %+v", info)
	}
	companyUUID := info.Resource.UUID
	me, err := c.Me(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if me.UUID != info.ResourceOwner.UUID || len(me.Companies) != 2 || me.Companies[0].UUID != companyUUID || me.Companies[0].Roles[0] != "payroll_admin" {
		t.Fatalf("Me: %+v", me)
	}

	// Refresh grant.
	tok2, err := c.RefreshToken(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatalf("RefreshToken: %v", err)
	}
	if tok2.AccessToken == tok.AccessToken || tok2.RefreshToken == tok.RefreshToken || tok2.ExpiresIn != 7200 {
		t.Fatalf("refresh did not rotate: %v", tok2)
	}
	src := gusto.StaticToken(tok2.AccessToken)
	co, err := c.Company(ctx, src, companyUUID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := e.sim.Records(companyUUID, "company")
	if co.UUID != companyUUID || co.Name == "" || co.CompanyStatus != "Approved" || !bytes.Equal(co.Raw, want[0]) {
		t.Fatalf("Company: %+v", co)
	}
	// Strict access: a company token reaches its own company only; Gusto
	// answers missing_permissions.
	var forbidden *gusto.MissingScopeError
	if _, err := c.Company(ctx, src, me.Companies[1].UUID); !errors.As(err, &forbidden) {
		t.Fatalf("another company: %v, want *MissingScopeError", err)
	}
}

func isInvalidGrant(err error) bool {
	var ig *gusto.InvalidGrantError
	return errors.As(err, &ig)
}

func isUnauthorized(err error) bool {
	var ue *gusto.UnauthorizedError
	return errors.As(err, &ue)
}

// walkEmployees collects every employee through the client's iterator.
func walkEmployees(t *testing.T, c *gusto.Client, src gusto.TokenSource, companyUUID string, o gusto.PageOptions) ([]gusto.Employee, int) {
	t.Helper()
	var all []gusto.Employee
	pages := 0
	for p, err := range c.Employees(context.Background(), src, companyUUID, o) {
		if err != nil {
			t.Fatalf("Employees page %d: %v", p.Number, err)
		}
		pages++
		all = append(all, p.Items...)
		if p.Mismatch != "" {
			t.Fatalf("page %d: the client found the simulator's pagination inconsistent: %s", p.Number, p.Mismatch)
		}
		if p.Last && p.HasTotals() && p.Number != p.TotalPages && len(p.Items) > 0 {
			t.Fatalf("page %d was marked last, X-Total-Pages is %d", p.Number, p.TotalPages)
		}
	}
	return all, pages
}

func TestClientPaginationToTheLastPage(t *testing.T) {
	// Windows by pay-period start partition the history (the literal
	// reading would lose the payrolls on the seams).
	e := newEnv(t, func(c *gustosim.Config) { c.PayrollFilter = gustosim.FilterStart })
	c := e.client(t, nil)
	g := e.company(gustosim.CompanyOptions{Employees: 30, Payrolls: 130})
	src := gusto.StaticToken(g.Token.AccessToken)

	want, _ := e.sim.Records(g.CompanyUUID, "employees")
	for _, o := range []gusto.PageOptions{{Per: 7}, {Per: 10}, {}, {Page: 3, Per: 7}} {
		got, pages := walkEmployees(t, c, src, g.CompanyUUID, o)
		from := max(o.Page-1, 0) * o.Per
		if len(got) != len(want)-from {
			t.Fatalf("%+v: %d employees, want %d", o, len(got), len(want)-from)
		}
		for i := range got {
			if !bytes.Equal(got[i].Raw, want[from+i]) || got[i].CompanyUUID != g.CompanyUUID {
				t.Fatalf("%+v: employee %d differs from Records", o, i)
			}
		}
		if o.Per == 10 && pages != 3 { // X-Total-Pages 3 ends the walk: no empty page asked for
			t.Fatalf("per 10 over 30: %d pages, want 3 (X-Total-Pages)", pages)
		}
	}

	all, _ := e.sim.Records(g.CompanyUUID, "payrolls")
	var got []gusto.Payroll
	end := e.clock.Now().AddDate(0, 1, 0)
	for w := 0; w < 6; w++ { // yearly windows, newest first, each walked in pages of 9
		start := end.AddDate(-1, 0, 1)
		o := gusto.PayrollOptions{
			PageOptions:        gusto.PageOptions{Per: 9},
			StartDate:          start.Format("2006-01-02"),
			EndDate:            end.Format("2006-01-02"),
			ProcessingStatuses: []string{"processed", "unprocessed"},
			PayrollTypes:       []string{"regular", "off_cycle"},
			Include:            []string{"totals"},
		}
		var window []gusto.Payroll
		for p, err := range c.Payrolls(context.Background(), src, g.CompanyUUID, o) {
			if err != nil {
				t.Fatalf("Payrolls: %v", err)
			}
			window = append(window, p.Items...)
		}
		got = append(window, got...)
		end = start.AddDate(0, 0, -1)
	}
	if len(got) != len(all) {
		t.Fatalf("walked %d payrolls in windows, Records has %d", len(got), len(all))
	}
	for i := range all {
		if !bytes.Equal(got[i].Raw, all[i]) || got[i].UUID == "" || got[i].PayPeriod.StartDate == "" {
			t.Fatalf("payroll %d differs from Records", i)
		}
	}
	// Gusto's defaults (no filters) hide the unprocessed and off-cycle ones.
	n := 0
	for p, err := range c.Payrolls(context.Background(), src, g.CompanyUUID, gusto.PayrollOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			if !it.Processed || it.OffCycle {
				t.Fatal("default payroll filters returned an unprocessed or off-cycle payroll")
			}
		}
		n += len(p.Items)
	}
	if n == 0 || n >= len(all) {
		t.Fatalf("default filters returned %d of %d payrolls", n, len(all))
	}
	if e.sim.Counters().WithoutVersionHeader != 0 {
		t.Fatal("the client sent a request without X-Gusto-API-Version")
	}
}

// A Per above what the server serves must not end the walk after the first
// page: the simulator caps per at 100, like Gusto.
func TestClientPerAboveServerCapLosesNothing(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	g := e.company(gustosim.CompanyOptions{Employees: 300, Payrolls: 0})
	got, _ := walkEmployees(t, c, gusto.StaticToken(g.Token.AccessToken), g.CompanyUUID, gusto.PageOptions{Per: 250})
	if len(got) != 300 {
		t.Fatalf("Per 250 over 300 employees walked %d, want 300", len(got))
	}
}

func TestClientRevocationRules(t *testing.T) {
	ctx := context.Background()
	t.Run("latest_wins: old refresh token works until the new access token is used", func(t *testing.T) {
		e := newEnv(t, withRule(gustosim.RuleLatestWins))
		c := e.client(t, nil)
		g := e.company(defaults())
		p2, err := c.RefreshToken(ctx, g.Token.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		// The pair was "lost": R1 still works (latest wins).
		p3, err := c.RefreshToken(ctx, g.Token.RefreshToken)
		if err != nil {
			t.Fatalf("R1 before A2 is used: %v", err)
		}
		if _, err := c.Company(ctx, gusto.StaticToken(p2.AccessToken), g.CompanyUUID); !isUnauthorized(err) {
			t.Fatalf("superseded A2: %v, want *UnauthorizedError", err)
		}
		if _, err := c.Company(ctx, gusto.StaticToken(p3.AccessToken), g.CompanyUUID); err != nil {
			t.Fatalf("A3: %v", err)
		}
		if _, err := c.RefreshToken(ctx, g.Token.RefreshToken); !isInvalidGrant(err) {
			t.Fatalf("R1 after A3 was used: %v, want *InvalidGrantError", err)
		}
		if _, err := c.Company(ctx, gusto.StaticToken(g.Token.AccessToken), g.CompanyUUID); err != nil {
			t.Fatalf("A1 before its expiry: %v", err)
		}
	})
	t.Run("strict: old refresh token dies at once", func(t *testing.T) {
		e := newEnv(t, withRule(gustosim.RuleStrict))
		c := e.client(t, nil)
		g := e.company(defaults())
		if _, err := c.RefreshToken(ctx, g.Token.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RefreshToken(ctx, g.Token.RefreshToken); !isInvalidGrant(err) {
			t.Fatalf("R1 again: %v, want *InvalidGrantError", err)
		}
	})
	t.Run("family: a replay kills the whole grant", func(t *testing.T) {
		e := newEnv(t, withRule(gustosim.RuleFamily))
		c := e.client(t, nil)
		g := e.company(defaults())
		p2, err := c.RefreshToken(ctx, g.Token.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.RefreshToken(ctx, g.Token.RefreshToken); !isInvalidGrant(err) {
			t.Fatalf("replay: %v", err)
		}
		if _, err := c.Company(ctx, gusto.StaticToken(p2.AccessToken), g.CompanyUUID); !isUnauthorized(err) {
			t.Fatalf("A2 after the replay: %v, want *UnauthorizedError", err)
		}
		if _, err := c.RefreshToken(ctx, p2.RefreshToken); !isInvalidGrant(err) {
			t.Fatalf("R2 after the replay: %v, want *InvalidGrantError", err)
		}
	})
	t.Run("revoked by the user", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.client(t, nil)
		g := e.company(defaults())
		if err := e.sim.Revoke(g.CompanyUUID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RefreshToken(ctx, g.Token.RefreshToken); !isInvalidGrant(err) || gusto.Transient(err) {
			t.Fatalf("refresh after revocation: %v", err)
		}
	})
}

func TestClientRateLimitAndErrors(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *gustosim.Config) { c.RateLimit = 2 })
	c := e.client(t, nil)
	g := e.company(defaults())
	src := gusto.StaticToken(g.Token.AccessToken)
	for i := 0; i < 2; i++ {
		if _, err := c.Company(ctx, src, g.CompanyUUID); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(15 * time.Second)
	_, err := c.Company(ctx, src, g.CompanyUUID)
	var rl *gusto.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 45*time.Second || !gusto.Transient(err) {
		t.Fatalf("over the limit: %v, want *RateLimitedError with RetryAfter 45s", err)
	}
	e.clock.Advance(45 * time.Second)
	if _, err := c.Company(ctx, src, g.CompanyUUID); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}

	e.sim.Update(func(c *gustosim.Config) { c.RateLimit = -1; c.ErrorRate = 1; c.TokenErrorRate = 1 })
	for i := 0; i < 10; i++ {
		var se *gusto.ServerError
		if _, err := c.Company(ctx, src, g.CompanyUUID); !errors.As(err, &se) || !gusto.Transient(err) {
			t.Fatalf("injected API error: %v, want a transient *ServerError", err)
		}
		_, err := c.RefreshToken(ctx, g.Token.RefreshToken)
		if !errors.As(err, &se) || isInvalidGrant(err) {
			t.Fatalf("injected token error: %v, want *ServerError", err)
		}
		if se.StatusCode == 503 && se.RetryAfter != time.Second {
			t.Fatalf("503 RetryAfter %v, want 1s", se.RetryAfter)
		}
	}
	e.sim.Update(func(c *gustosim.Config) { c.ErrorRate = 0; c.TokenErrorRate = 0 })

	bad := e.client(t, func(o *gusto.Options) { o.ClientSecret = "wrong-secret" })
	_, err = bad.RefreshToken(ctx, g.Token.RefreshToken)
	var he *gusto.HTTPError
	if !errors.As(err, &he) || he.Code != "invalid_client" || isInvalidGrant(err) || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("bad client secret: %v", err)
	}
	noScope := e.company(gustosim.CompanyOptions{Employees: 1, Payrolls: 1, Scopes: []string{"companies:read"}})
	var fe *gusto.MissingScopeError
	for _, err := range c.Employees(ctx, gusto.StaticToken(noScope.Token.AccessToken), noScope.CompanyUUID, gusto.PageOptions{}) {
		if !errors.As(err, &fe) || !slices.Contains(fe.Scopes, "employees:read") {
			t.Fatalf("missing scope: %v, want *MissingScopeError naming employees:read", err)
		}
	}
	if _, err := c.Company(ctx, gusto.StaticToken("expired-or-unknown"), g.CompanyUUID); !isUnauthorized(err) {
		t.Fatalf("unknown token: %v", err)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := c.Company(ctx, src, g.CompanyUUID); !isUnauthorized(err) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestClientMeasuresSkewFromDate(t *testing.T) {
	for _, offset := range []time.Duration{0, 2 * time.Minute, -90 * time.Second} {
		e := newEnv(t, func(c *gustosim.Config) { c.ClockOffset = offset })
		var seen []time.Duration
		c := e.client(t, func(o *gusto.Options) { o.OnSkew = func(d time.Duration) { seen = append(seen, d) } })
		g := e.company(defaults())
		tok, err := c.RefreshToken(context.Background(), g.Token.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		skew := c.Skew()
		// Date has a one-second resolution; the client centres it.
		if d := skew - offset; d < -time.Second || d > time.Second || len(seen) != 1 {
			t.Fatalf("offset %v: client measured %v (%d callbacks)", offset, skew, len(seen))
		}
		if got := tok.ServerDate.Sub(e.clock.Now()); got != offset {
			t.Fatalf("offset %v: token ServerDate is %v from the local clock", offset, got)
		}
		if tok.CreatedAt != e.clock.Now().Add(offset).Unix() {
			t.Fatalf("offset %v: created_at not on Gusto's clock", offset)
		}
	}
}
