package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/dashboard"
)

// TestNothingServedWithoutAuth: every route refuses a request without valid
// credentials, and serves one with basic auth or the bearer token.
func TestNothingServedWithoutAuth(t *testing.T) {
	e := newEnv(t, nil)
	paths := []string{"/", "/companies", "/monitoring/", "/monitoring/api/queues", "/monitoring/static/js/main.js",
		"/connect", "/oauth/callback?code=x&state=y", "/healthz", "/nope"}
	type creds struct {
		name string
		set  func(*http.Request)
		ok   bool
	}
	cases := []creds{
		{"none", func(*http.Request) {}, false},
		{"basic wrong password", func(r *http.Request) { r.SetBasicAuth(user, "wrong") }, false},
		{"basic wrong user", func(r *http.Request) { r.SetBasicAuth("admin", password) }, false},
		{"basic empty", func(r *http.Request) { r.SetBasicAuth("", "") }, false},
		{"bearer wrong", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, false},
		{"bearer as basic password", func(r *http.Request) { r.SetBasicAuth(user, bearer) }, false},
		{"password as bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+password) }, false},
		{"basic", func(r *http.Request) { r.SetBasicAuth(user, password) }, true},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+bearer) }, true},
		{"bearer lower-case scheme", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+bearer) }, true},
	}
	for _, c := range cases {
		for _, p := range paths {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+p, nil)
			c.set(req)
			resp := e.do(req)
			if !c.ok {
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s: %d, want 401", c.name, p, resp.StatusCode)
				}
				ch := strings.Join(resp.Header.Values("WWW-Authenticate"), ", ")
				if !strings.Contains(ch, "Basic") || !strings.Contains(ch, "Bearer") {
					t.Errorf("%s %s: challenge %q", c.name, p, ch)
				}
				continue
			}
			if resp.StatusCode == http.StatusUnauthorized {
				t.Errorf("%s %s: 401 with valid credentials", c.name, p)
			}
		}
	}
	// Authenticated routes answer what they should.
	for p, want := range map[string]int{"/": 302, "/companies": 200, "/monitoring/": 200, "/monitoring/api/queues": 200, "/healthz": 200, "/nope": 404, "/monitoring": 301} {
		if got := e.get(p).StatusCode; got != want {
			t.Errorf("GET %s: %d, want %d", p, got, want)
		}
	}
}

// TestReadOnlyAndCSRF: a read-only dashboard refuses every unsafe method
// under /monitoring/; a writable one refuses cross-site unsafe requests.
func TestReadOnlyAndCSRF(t *testing.T) {
	ro := newEnv(t, nil)
	for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodPatch} {
		req, _ := http.NewRequest(m, ro.srv.URL+"/monitoring/api/queues/default", nil)
		req.SetBasicAuth(user, password)
		if got := ro.do(req).StatusCode; got != http.StatusForbidden {
			t.Errorf("read-only %s: %d, want 403", m, got)
		}
	}

	rw := newEnv(t, func(c *dashboard.Config) { c.ReadOnly = false })
	send := func(h map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, rw.srv.URL+"/monitoring/api/queues/default:pause", nil)
		req.SetBasicAuth(user, password)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		return rw.do(req).StatusCode
	}
	if got := send(map[string]string{"Sec-Fetch-Site": "cross-site"}); got != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", got)
	}
	if got := send(map[string]string{"Origin": "https://evil.example"}); got != http.StatusForbidden {
		t.Errorf("foreign Origin POST: %d, want 403", got)
	}
	if got := send(map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": rw.srv.URL}); got == http.StatusForbidden || got == http.StatusUnauthorized {
		t.Errorf("same-origin POST refused: %d", got)
	}
}

// TestCompaniesPageFilters: the list is in uuid order (the keyset's), a
// banner leads to the companies needing re-authorization, and the status
// filter keeps only its status.
func TestCompaniesPageFilters(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	for _, st := range []string{"active", "paused", "needs_reauth", "active"} {
		var id string
		if err := e.db.Gorm.Raw(`INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, status)
			VALUES (gen_random_uuid(), '\x00', '\x00', 'k1', now(), ?) RETURNING company_uuid::text`, st).Row().Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	resp := e.get("/companies")
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("companies page: %d", resp.StatusCode)
	}
	sorted := slices.Sorted(slices.Values(ids))
	last := -1
	for _, id := range sorted {
		at := strings.Index(page, `data-company="`+id)
		if at < last {
			t.Fatalf("company %s at %d, after %d: not in uuid order", id, at, last)
		}
		last = at
	}
	if !strings.Contains(page, `id="needs-reauth"`) || !strings.Contains(page, `href="/companies?status=needs_reauth"`) {
		t.Fatal("no banner leading to the needs_reauth companies")
	}
	if got := e.get("/companies?status=bogus").StatusCode; got != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", got)
	}
	filtered, _ := io.ReadAll(e.get("/companies?status=paused").Body)
	if !strings.Contains(string(filtered), ids[1]) || strings.Contains(string(filtered), ids[0]) {
		t.Fatal("status filter not applied")
	}
}

// TestCompaniesPageShowsRefusedAPIVersion: while Gusto refuses the fleet's
// API version, the companies page says so, with what to set, above the list.
func TestCompaniesPageShowsRefusedAPIVersion(t *testing.T) {
	e := newEnv(t, nil)
	read := func() string {
		resp := e.get("/companies")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("companies page: %d", resp.StatusCode)
		}
		return string(body)
	}
	if page := read(); strings.Contains(page, "api-version-refused") {
		t.Fatal("banner shown while no version is refused")
	}
	if err := apiversion.NewStore(e.db.Gorm, 0).Rejected(context.Background(), "2025-06-15", "version retired", "worker-1"); err != nil {
		t.Fatal(err)
	}
	page := read()
	if !strings.Contains(page, `id="api-version-refused"`) || !strings.Contains(page, "Gusto refuses API version 2025-06-15") ||
		!strings.Contains(page, "set GUSTO_API_VERSION") {
		t.Fatalf("no refused-version banner on the companies page:\n%s", page)
	}
}
