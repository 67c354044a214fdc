package gustosim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
)

const (
	testClientID     = "client-id-test"
	testClientSecret = "client-secret-test-0123456789"
	testRedirect     = "https://app.example.com/oauth/callback"
	// testVersion is the X-Gusto-API-Version of e.get: the current stable
	// version, so payrolls paginate by default.
	testVersion = "2026-06-15"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newFakeClock starts on 2026-12-10, after testVersion (a version in the
// future is refused) and with the current pay periods straddling the new
// year's seam.
func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a simulator served by httptest with a fake clock.
type env struct {
	t     *testing.T
	sim   *gustosim.Sim
	srv   *httptest.Server
	clock *fakeClock
	hc    *http.Client
}

func baseConfig(clock *fakeClock) gustosim.Config {
	return gustosim.Config{
		ClientID: testClientID, ClientSecret: testClientSecret, RedirectURI: testRedirect,
		Now: clock.Now, Seed: 42,
	}
}

func newEnv(t *testing.T, mutate func(*gustosim.Config)) *env {
	t.Helper()
	clock := newFakeClock()
	cfg := baseConfig(clock)
	if mutate != nil {
		mutate(&cfg)
	}
	sim, err := gustosim.New(cfg)
	if err != nil {
		t.Fatalf("gustosim.New: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	hc := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &env{t: t, sim: sim, srv: srv, clock: clock, hc: hc}
}

// company creates a company with the config defaults unless o says otherwise.
func (e *env) company(o gustosim.CompanyOptions) gustosim.Grant {
	e.t.Helper()
	g, err := e.sim.CreateCompany(o)
	if err != nil {
		e.t.Fatalf("CreateCompany: %v", err)
	}
	return g
}

func defaults() gustosim.CompanyOptions {
	return gustosim.CompanyOptions{Employees: -1, Payrolls: -1}
}

// resp is a read response.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d body %q: %v", r.status, truncate(r.body), err)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func (e *env) do(req *http.Request) resp {
	e.t.Helper()
	res, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// get is an API GET at testVersion with a bearer token (none when token is
// "").
func (e *env) get(path, token string) resp {
	e.t.Helper()
	return e.getAt(testVersion, path, token)
}

// getAt is get with X-Gusto-API-Version: version (no header when "").
func (e *env) getAt(version, path, token string) resp {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if version != "" {
		req.Header.Set("X-Gusto-API-Version", version)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

// postJSON posts v as JSON.
func (e *env) postJSON(path string, v any) resp {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return e.do(req)
}

// send sends an arbitrary request with a JSON body.
func (e *env) send(method, path string, body string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return e.do(req)
}

type tokenJSON struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	CreatedAt    int64  `json:"created_at"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

type oauthErr struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// refresh presents rt and returns the status, the token on success and the
// OAuth error code otherwise.
func (e *env) refresh(rt string) (int, tokenJSON, string) {
	e.t.Helper()
	r := e.postJSON("/oauth/token", map[string]string{
		"client_id": testClientID, "client_secret": testClientSecret, "redirect_uri": testRedirect,
		"grant_type": "refresh_token", "refresh_token": rt,
	})
	var tok tokenJSON
	var oe oauthErr
	if r.status == http.StatusOK {
		r.json(e.t, &tok)
	} else {
		_ = json.Unmarshal(r.body, &oe)
	}
	return r.status, tok, oe.Error
}

// mustRefresh refreshes and fails the test unless a pair is issued.
func (e *env) mustRefresh(rt string) tokenJSON {
	e.t.Helper()
	status, tok, code := e.refresh(rt)
	if status != http.StatusOK {
		e.t.Fatalf("refresh: status %d (%s), want 200", status, code)
	}
	return tok
}

// wantRefused checks that rt is refused with invalid_grant.
func (e *env) wantRefused(rt, why string) {
	e.t.Helper()
	status, _, code := e.refresh(rt)
	if status != http.StatusBadRequest || code != "invalid_grant" {
		e.t.Fatalf("%s: refresh got %d %q, want 400 invalid_grant", why, status, code)
	}
}

// status returns the status of GET /v1/companies/{id} with token.
func (e *env) apiStatus(companyUUID, token string) int {
	e.t.Helper()
	return e.get("/v1/companies/"+companyUUID, token).status
}

// authorize runs GET /oauth/authorize and returns the redirect's query.
func (e *env) authorize(params url.Values) (int, url.Values) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+params.Encode(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	r := e.do(req)
	if r.status != http.StatusFound {
		return r.status, nil
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		e.t.Fatalf("Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		e.t.Fatalf("redirected to %q, want %q", got, testRedirect)
	}
	return r.status, loc.Query()
}

func authorizeParams(state, scope string) url.Values {
	v := url.Values{"client_id": {testClientID}, "redirect_uri": {testRedirect}, "response_type": {"code"}, "state": {state}}
	if scope != "" {
		v.Set("scope", scope)
	}
	return v
}

// exchange exchanges a code.
func (e *env) exchange(code, redirect string) (int, tokenJSON, string) {
	e.t.Helper()
	r := e.postJSON("/oauth/token", map[string]string{
		"client_id": testClientID, "client_secret": testClientSecret, "redirect_uri": redirect,
		"grant_type": "authorization_code", "code": code,
	})
	var tok tokenJSON
	var oe oauthErr
	if r.status == http.StatusOK {
		r.json(e.t, &tok)
	} else {
		_ = json.Unmarshal(r.body, &oe)
	}
	return r.status, tok, oe.Error
}

// gustoErrors is Gusto's error body.
type gustoErrors struct {
	Errors []struct {
		ErrorKey string `json:"error_key"`
		Category string `json:"category"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func (r resp) gustoError(t *testing.T) (key, category string) {
	t.Helper()
	var ge gustoErrors
	r.json(t, &ge)
	if len(ge.Errors) == 0 {
		t.Fatalf("status %d: error body without errors: %s", r.status, truncate(r.body))
	}
	return ge.Errors[0].ErrorKey, ge.Errors[0].Category
}
