package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/tokens"
)

// flow is one browser going through the connect flow: it keeps the
// dashboard's cookies and sends credentials to the dashboard only.
type flow struct {
	e       *env
	cookies []*http.Cookie
	// authorizeURL is where /connect sent the browser.
	authorizeURL *url.URL
	// callbackURL is where Gusto's consent page sent it back.
	callbackURL *url.URL
}

// start GETs /connect (with query) and follows the redirect to the
// simulator's consent page, recording where it sends the browser back.
func (e *env) start(query string) *flow {
	e.t.Helper()
	f := &flow{e: e}
	resp := e.get("/connect" + query)
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("/connect: %d", resp.StatusCode)
	}
	f.cookies = resp.Cookies()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	f.authorizeURL = u
	consent, err := noRedirect.Get(u.String()) // Gusto's page: no dashboard credentials
	if err != nil {
		e.t.Fatal(err)
	}
	_ = consent.Body.Close()
	if consent.StatusCode != http.StatusFound {
		e.t.Fatalf("consent page: %d", consent.StatusCode)
	}
	if f.callbackURL, err = url.Parse(consent.Header.Get("Location")); err != nil {
		e.t.Fatal(err)
	}
	return f
}

// finish GETs the callback URL as the browser would and returns the status
// and the page.
func (f *flow) finish(withCookies bool) (int, string) {
	f.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.callbackURL.String(), nil)
	req.SetBasicAuth(user, password)
	if withCookies {
		for _, c := range f.cookies {
			req.AddCookie(c)
		}
	}
	resp := f.e.do(req)
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestConnectStoresCompany(t *testing.T) {
	e := newEnv(t, nil)
	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{Companies: 2})
	f := e.start("")

	q := f.authorizeURL.Query()
	if f.authorizeURL.Path != "/oauth/authorize" || q.Get("client_id") != clientID || q.Get("response_type") != "code" ||
		q.Get("redirect_uri") != e.srv.URL+"/oauth/callback" || q.Get("state") == "" {
		t.Fatalf("authorize URL %s", f.authorizeURL)
	}
	if strings.Contains(f.authorizeURL.String(), secret) {
		t.Fatal("the authorize URL holds the client secret")
	}
	for _, s := range tokens.RequiredScopes() {
		if !strings.Contains(q.Get("scope"), s) {
			t.Fatalf("scope %q not requested: %q", s, q.Get("scope"))
		}
	}
	if len(f.cookies) != 1 || !f.cookies[0].HttpOnly || f.cookies[0].Path != "/oauth/callback" || f.cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("state cookie %+v", f.cookies)
	}
	code := f.callbackURL.Query().Get("code")

	status, page := f.finish(true)
	if status != http.StatusOK || !strings.Contains(page, "Company connected") {
		t.Fatalf("callback: %d\n%s", status, page)
	}
	if strings.Contains(page, code) || strings.Contains(page, q.Get("state")) {
		t.Fatal("the result page echoes the code or the state")
	}
	if n := e.tokenRows(); n != 1 {
		t.Fatalf("%d token rows, want 1 (strict access: the token covers one company)", n)
	}
	var company, status2, scopes string
	if err := e.db.Gorm.Raw(`SELECT company_uuid::text, status, scopes FROM gusto_auth_tokens`).Row().Scan(&company, &status2, &scopes); err != nil {
		t.Fatal(err)
	}
	if status2 != "active" || len(tokens.MissingScopes(scopes)) != 0 || !strings.Contains(page, company) {
		t.Fatalf("stored %s %s %q; page:\n%s", company, status2, scopes, page)
	}
	// The stored token works: the store hands it back decrypted.
	if c, err := companies.New(e.db.Gorm).Get(context.Background(), company); err != nil || c.Status != tokens.StatusActive {
		t.Fatalf("stored company: %+v %v", c, err)
	}
	// The callback URL is single-use: replaying it (cookie gone) stores nothing new.
	if status, _ := f.finish(false); status != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d, want 400", status)
	}
	if c := e.sim.Counters(); c.CodeExchanges != 1 {
		t.Fatalf("code exchanges %d, want 1", c.CodeExchanges)
	}
}

func TestConnectDenied(t *testing.T) {
	e := newEnv(t, nil)
	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{Deny: true})
	status, page := e.start("").finish(true)
	if status != http.StatusForbidden || !strings.Contains(page, "Access was not granted") || !strings.Contains(page, "declined") ||
		!strings.Contains(page, "Nothing was stored") {
		t.Fatalf("denied consent: %d\n%s", status, page)
	}
	if n := e.tokenRows(); n != 0 {
		t.Fatalf("%d token rows after a denied consent", n)
	}
}

func TestConnectBadState(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		name   string
		mangle func(*flow) bool // returns whether to send the cookie
		reason string
	}{
		{"tampered", func(f *flow) bool {
			q := f.callbackURL.Query()
			st := []byte(q.Get("state"))
			st[5] ^= 0x02
			q.Set("state", string(st))
			f.callbackURL.RawQuery = q.Encode()
			return true
		}, ""},
		{"missing", func(f *flow) bool {
			q := f.callbackURL.Query()
			q.Del("state")
			f.callbackURL.RawQuery = q.Encode()
			return true
		}, "malformed"},
		{"another browser", func(*flow) bool { return false }, "not started from this browser"},
		{"swapped with another flow's state", func(f *flow) bool {
			other := e.start("")
			q := f.callbackURL.Query()
			q.Set("state", other.callbackURL.Query().Get("state"))
			f.callbackURL.RawQuery = q.Encode()
			return true
		}, "not started from this browser"},
		{"expired", func(*flow) bool { e.clock.Advance(16 * time.Minute); return true }, "expired"},
	}
	for _, c := range cases {
		f := e.start("")
		withCookie := c.mangle(f)
		status, page := f.finish(withCookie)
		if status != http.StatusBadRequest || !strings.Contains(page, "not valid") || !strings.Contains(page, c.reason) ||
			!strings.Contains(page, "Nothing was stored") {
			t.Errorf("%s: %d\n%s", c.name, status, page)
		}
	}
	if n := e.tokenRows(); n != 0 {
		t.Fatalf("%d token rows after bad states", n)
	}
	if c := e.sim.Counters(); c.CodeExchanges+c.CodeExchangesRefused != 0 {
		t.Fatalf("a code was exchanged despite a bad state: %+v", c)
	}
}

func TestConnectMissingScopes(t *testing.T) {
	e := newEnv(t, nil)
	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{Scopes: []string{"companies:read", "employees:read"}})
	status, page := e.start("").finish(true)
	if status != http.StatusForbidden || !strings.Contains(page, "Missing permissions") || !strings.Contains(page, "payrolls:read") ||
		!strings.Contains(page, "Nothing was stored") {
		t.Fatalf("missing scopes: %d\n%s", status, page)
	}
	if n := e.tokenRows(); n != 0 {
		t.Fatalf("%d token rows after a grant missing scopes", n)
	}
}

// TestReconnect: a needs_reauth company's re-connect link leads through a
// new consent back to active, with a new token pair.
func TestReconnect(t *testing.T) {
	e := newEnv(t, nil)
	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{})
	if status, page := e.start("").finish(true); status != http.StatusOK {
		t.Fatalf("first connect: %d\n%s", status, page)
	}
	var company string
	if err := e.db.Gorm.Raw(`SELECT company_uuid::text FROM gusto_auth_tokens`).Row().Scan(&company); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET status = 'needs_reauth', status_reason = 'revoked in Gusto'`).Error; err != nil {
		t.Fatal(err)
	}
	resp := e.get("/companies")
	body, _ := io.ReadAll(resp.Body)
	link := `href="/connect?company=` + company + `"`
	if !strings.Contains(string(body), link) || !strings.Contains(string(body), "revoked in Gusto") {
		t.Fatalf("companies page lacks the re-connect link %s:\n%s", link, body)
	}
	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{CompanyUUID: company})
	status, page := e.start("?company=" + company).finish(true)
	if status != http.StatusOK || strings.Contains(page, "still needs to be reconnected") {
		t.Fatalf("reconnect: %d\n%s", status, page)
	}
	if c, err := companies.New(e.db.Gorm).Get(context.Background(), company); err != nil || c.Status != tokens.StatusActive {
		t.Fatalf("after reconnect: %+v %v", c, err)
	}
	if resp := e.get("/connect?company=not-a-uuid"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("connect with a bad company: %d", resp.StatusCode)
	}
}
