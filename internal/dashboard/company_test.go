package dashboard_test

import (
	"html"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func (e *env) page(path string) (int, string) {
	e.t.Helper()
	resp := e.get(path)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func (e *env) exec(query string, args ...any) {
	e.t.Helper()
	if err := e.db.Gorm.Exec(query, args...).Error; err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// TestCompanyPage: a company's page shows its runs (with their errors), its
// refresh attempts and its status history; what it shows is escaped, a
// token never appears, and an unknown or malformed uuid is a 404.
func TestCompanyPage(t *testing.T) {
	e := newEnv(t, nil)
	var co string
	if err := e.db.Gorm.Raw(`INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, status)
		VALUES (gen_random_uuid(), 'ACCESS-CIPHERTEXT', 'REFRESH-CIPHERTEXT', 'k1', now(), 'active') RETURNING company_uuid::text`).Row().Scan(&co); err != nil {
		t.Fatal(err)
	}
	e.exec(`INSERT INTO gusto_companies (uuid, name, payload) VALUES (?, '<script>alert(1)</script> Co', '{}')`, co)
	e.exec(`INSERT INTO sync_runs (id, company_uuid, status, kind, records_synced, error, created_at, started_at, finished_at) VALUES
		('00000000-0000-4000-8000-000000000001', ?, 'succeeded', 'full', 4321, '', now() - interval '1 hour', now() - interval '1 hour', now() - interval '59 minutes'),
		('00000000-0000-4000-8000-000000000002', ?, 'failed', 'incremental', 7, 'gusto: 503 <b>Service Unavailable</b>', now(), now(), now())`, co, co)
	e.exec(`INSERT INTO token_refresh_events (company_uuid, worker, trigger, outcome, detail, old_version, new_version, started_at)
		VALUES (?, 'worker-7', 'expiry', 'refreshed', 'ok', 1, 2, now())`, co)
	e.exec(`UPDATE gusto_auth_tokens SET status = 'needs_reauth', status_reason = 'refresh token refused (invalid_grant)' WHERE company_uuid = ?`, co)
	e.exec(`UPDATE gusto_auth_tokens SET status = 'active', status_reason = '' WHERE company_uuid = ?`, co)

	code, page := e.page("/companies/" + co)
	if code != http.StatusOK {
		t.Fatalf("company page: %d\n%s", code, page)
	}
	for _, want := range []string{
		co, "&lt;script&gt;alert(1)&lt;/script&gt; Co", // escaped name
		`data-run="00000000-0000-4000-8000-000000000001"`, "4321", "full", "1m0s",
		`data-run="00000000-0000-4000-8000-000000000002"`, "gusto: 503 &lt;b&gt;Service Unavailable&lt;/b&gt;",
		"worker-7", "refreshed", "1 → 2",
		"refresh token refused (invalid_grant)", "onboarded",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("company page lacks %q", want)
		}
	}
	for _, never := range []string{"<script>alert(1)", "<b>Service", "ACCESS-CIPHERTEXT", "REFRESH-CIPHERTEXT"} {
		if strings.Contains(page, never) {
			t.Errorf("company page holds %q", never)
		}
	}
	// Newest first: the failed run before the succeeded one; the return to
	// active before the needs_reauth before the onboarding.
	if strings.Index(page, "000000000002") > strings.Index(page, "000000000001") {
		t.Error("runs are not newest first")
	}
	statuses := page[strings.Index(page, `id="statuses"`):strings.Index(page, `id="runs"`)]
	if n := strings.Count(statuses, "<tr><td>"); n != 3 {
		t.Errorf("status history has %d rows, want 3 (onboarded, needs_reauth, active)", n)
	}
	if strings.Index(statuses, "invalid_grant") > strings.Index(statuses, "onboarded") {
		t.Error("status history is not newest first")
	}
	for _, p := range []string{"/companies/00000000-0000-4000-8000-00000000dead", "/companies/not-a-uuid", "/companies/%3Cscript%3E"} {
		code, body := e.page(p)
		if code != http.StatusNotFound || strings.Contains(body, "<script>") {
			t.Errorf("%s: %d, want an escaped 404", p, code)
		}
	}
}

var companyLink = regexp.MustCompile(`data-company="([0-9a-f-]{36})"`)
var nextLink = regexp.MustCompile(`id="next" rel="next" href="([^"]+)"`)

// TestCompaniesPagination: following Next walks every company exactly once;
// a search narrows the list and keeps its filter across pages; bad paging
// input is a 400 naming what was wrong.
func TestCompaniesPagination(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	if err := e.db.Gorm.Raw(`INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration)
		SELECT gen_random_uuid(), '\x00', '\x00', 'k1', now() FROM generate_series(1, 23) RETURNING company_uuid::text`).Scan(&ids).Error; err != nil {
		t.Fatal(err)
	}
	e.exec(`INSERT INTO gusto_companies (uuid, name, payload) SELECT company_uuid, 'Widget ' || n, '{}'
		FROM (SELECT company_uuid, row_number() OVER (ORDER BY company_uuid) AS n FROM gusto_auth_tokens) x WHERE n <= 7`)
	walk := func(path string) []string {
		var seen []string
		for range 50 {
			code, page := e.page(path)
			if code != http.StatusOK {
				t.Fatalf("%s: %d", path, code)
			}
			for _, m := range companyLink.FindAllStringSubmatch(page, -1) {
				seen = append(seen, m[1])
			}
			m := nextLink.FindStringSubmatch(page)
			if m == nil {
				return seen
			}
			path = html.UnescapeString(m[1])
		}
		t.Fatal("more than 50 pages")
		return nil
	}
	if got := walk("/companies?limit=5"); !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
		t.Fatalf("walked %d companies, want each of %d once in uuid order", len(got), len(ids))
	}
	widgets := walk("/companies?limit=2&q=widget")
	if len(widgets) != 7 {
		t.Fatalf("search widget over pages of 2: %d companies, want 7", len(widgets))
	}
	if got := walk("/companies?q=" + ids[3][:8]); len(got) != 1 || got[0] != ids[3] {
		t.Fatalf("search by uuid prefix: %v, want [%s]", got, ids[3])
	}
	for _, p := range []string{"/companies?limit=0", "/companies?limit=201", "/companies?limit=x", "/companies?after=nope",
		"/companies?q=" + strings.Repeat("a", 101)} {
		if code, _ := e.page(p); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", p, code)
		}
	}
}
