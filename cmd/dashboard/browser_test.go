package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
)

const (
	testUser     = "operator"
	testPassword = "s3cret-pass-for-tests"
)

// dashboardEnv starts the dashboard binary's run() in-process on a free
// port over a private database and Redis, and returns its address.
type dashboardEnv struct {
	addr      string
	db        *pgtest.DB
	redis     *redistest.Server
	companies []string
	reauth    string
}

func startDashboard(t *testing.T) *dashboardEnv {
	t.Helper()
	e := &dashboardEnv{db: pgtest.New(t), redis: redistest.Start(t)}
	var seeded []struct {
		CompanyUUID, Status string
	}
	if err := e.db.Gorm.Raw(`
		INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, scopes, status, status_reason)
		SELECT gen_random_uuid(), '\x00', '\x00', 'k1', now() + interval '90 minutes', 'companies:read',
		       (ARRAY['active','active','needs_reauth','paused'])[i], (ARRAY['','','refresh token refused (invalid_grant)','paused by an operator'])[i]
		FROM generate_series(1, 4) AS i RETURNING company_uuid::text, status`).Scan(&seeded).Error; err != nil {
		t.Fatal(err)
	}
	for _, c := range seeded {
		e.companies = append(e.companies, c.CompanyUUID)
		if c.Status == "needs_reauth" {
			e.reauth = c.CompanyUUID
		}
	}
	for _, q := range []string{
		`INSERT INTO gusto_companies (uuid, name, payload) VALUES (?, 'Acme Payroll Co', '{}')`,
		`INSERT INTO sync_runs (id, company_uuid, status, records_synced, finished_at) VALUES (gen_random_uuid(), ?, 'succeeded', 1234, now() - interval '20 minutes')`,
	} {
		if err := e.db.Gorm.Exec(q, e.companies[0]).Error; err != nil {
			t.Fatal(err)
		}
	}
	// Queues for asynqmon to show.
	cli := asynq.NewClient(asynq.RedisClientOpt{Addr: e.redis.Addr})
	defer cli.Close()
	for i, q := range []string{"sync", "sync", "sync", "maintenance"} {
		if _, err := cli.Enqueue(asynq.NewTask("sync:company", []byte(fmt.Sprintf(`{"n":%d}`, i))), asynq.Queue(q)); err != nil {
			t.Fatal(err)
		}
	}

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	vars := map[string]string{
		"DATABASE_URL":           e.db.URL,
		"REDIS_URL":              e.redis.URL,
		"DASHBOARD_ADDR":         "127.0.0.1:0",
		"DASHBOARD_METRICS_ADDR": "127.0.0.1:0",
		"DASHBOARD_USER":         testUser,
		"DASHBOARD_PASSWORD":     testPassword,
		"OAUTH_STATE_KEY":        "state-key-0123456789abcdef",
		"TOKEN_ENCRYPTION_KEYS":  "k1:" + base64.StdEncoding.EncodeToString(key),
		"GUSTO_API_URL":          "http://127.0.0.1:9",
		"GUSTO_CLIENT_ID":        "cid",
		"GUSTO_CLIENT_SECRET":    "csecret",
		"GUSTO_REDIRECT_URI":     "http://127.0.0.1:8082/oauth/callback",
		"LOG_LEVEL":              "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- run(ctx, nil, os.Stdout, &stderr, vars, ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("dashboard did not stop")
		}
	})
	select {
	case e.addr = <-ready:
	case code := <-done:
		t.Fatalf("dashboard exited %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("dashboard did not start within 30s")
	}
	return e
}

// chromium runs headless Debian chromium with args, bounded in time, and
// returns its stdout; it fails the test if chromium fails.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, err := tryChromium(t, args...)
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr)
	}
	return stdout
}

// tryChromium runs headless chromium with args and returns what it printed.
func tryChromium(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (apt-get install -y chromium): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + t.TempDir(), "--window-size=1366,900", "--virtual-time-budget=8000",
		// Nothing leaves the machine: asynqmon's page links Google Fonts, and
		// Chromium phones home unless told not to.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-domain-reliability", "--no-pings", "--metrics-recording-only",
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("chromium %v did not finish within 90s", args)
	}
	return stdout.String(), stderr.String(), err
}

// url is the dashboard's URL for path, with basic-auth credentials in it
// when user is not empty (Chromium answers the challenge with them).
func (e *dashboardEnv) url(path, user, password string) string {
	u := url.URL{Scheme: "http", Host: e.addr, Path: path}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// TestDashboardInChromium loads the dashboard in a real headless Chromium:
// with credentials it shows the companies (with a re-connect link for the
// needs_reauth one) and asynqmon's queues; without credentials, or with
// wrong ones, no page loads. Screenshots (and the DOMs) are saved under the
// test's temp dir, whose path is printed; set GUSTOSYNC_KEEP_SCREENSHOTS=DIR
// to copy them out.
func TestDashboardInChromium(t *testing.T) {
	e := startDashboard(t)
	dir := t.TempDir()
	if out := os.Getenv("GUSTOSYNC_KEEP_SCREENSHOTS"); out != "" {
		// Copy the screenshots and DOMs out before the temp dir goes.
		t.Cleanup(func() { _ = os.CopyFS(out, os.DirFS(dir)) })
	}

	dom := chromium(t, "--dump-dom", e.url("/companies", testUser, testPassword))
	for _, want := range append([]string{"Acme Payroll Co", "needs_reauth", "paused", "refresh token refused (invalid_grant)",
		`href="/connect?company=` + e.reauth + `"`, "1234"}, e.companies...) {
		if !strings.Contains(dom, want) {
			t.Errorf("companies page lacks %q", want)
		}
	}
	shot := filepath.Join(dir, "companies.png")
	chromium(t, "--screenshot="+shot, e.url("/companies", testUser, testPassword))
	checkPNG(t, shot)
	t.Logf("companies page screenshot: %s", shot)

	mon := chromium(t, "--dump-dom", e.url("/monitoring/", testUser, testPassword))
	keep(t, dir, "monitoring.html", mon)
	for _, want := range []string{"sync", "maintenance"} {
		if !strings.Contains(mon, ">"+want+"<") {
			t.Errorf("asynqmon page lacks queue %q (DOM in %s)", want, filepath.Join(dir, "monitoring.html"))
		}
	}
	shot = filepath.Join(dir, "monitoring.png")
	chromium(t, "--screenshot="+shot, e.url("/monitoring/", testUser, testPassword))
	checkPNG(t, shot)
	t.Logf("asynqmon screenshot: %s", shot)

	// Without credentials, or with wrong ones, Chromium gets the 401
	// challenge, cannot answer it, and the page does not load at all.
	for _, path := range []string{"/companies", "/monitoring/", "/monitoring/api/queues", "/connect"} {
		for _, creds := range [][2]string{{"", ""}, {testUser, "wrong"}} {
			dom, stderr, _ := tryChromium(t, "--dump-dom", e.url(path, creds[0], creds[1]))
			if !strings.Contains(stderr, "ERR_INVALID_AUTH_CREDENTIALS") {
				t.Errorf("%s with credentials %q: chromium did not report the refusal:\n%s", path, creds[0], lastLines(stderr, 5))
			}
			for _, c := range e.companies {
				if strings.Contains(dom, c) {
					t.Errorf("%s without valid credentials shows company %s", path, c)
				}
			}
			if strings.Contains(dom, "maintenance") {
				t.Errorf("%s without valid credentials shows the queues", path)
			}
		}
	}
	fmt.Printf("dashboard screenshots: %s\n", dir)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// keep writes a page's DOM beside the screenshots.
func keep(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s is not a PNG (%d bytes)", path, len(b))
	}
}

var (
	domCompany = regexp.MustCompile(`data-company="([0-9a-f-]{36})"`)
	domNext    = regexp.MustCompile(`id="next" rel="next" href="([^"]+)"`)
)

// TestCompanyPageInChromium: a company's page, loaded in headless Chromium,
// shows its runs (kind, status, records, error), its refresh attempts and
// its status history, and the companies list links to it.
func TestCompanyPageInChromium(t *testing.T) {
	e := startDashboard(t)
	co := e.companies[0]
	for _, q := range []string{
		`INSERT INTO sync_runs (id, company_uuid, status, kind, records_synced, error, created_at, started_at, finished_at)
		 VALUES ('00000000-0000-4000-8000-0000000000f1', ?, 'failed', 'incremental', 17, 'gusto: 503 Service Unavailable', now(), now(), now())`,
		`INSERT INTO token_refresh_events (company_uuid, worker, trigger, outcome, detail, old_version, new_version, started_at)
		 VALUES (?, 'worker-42', 'expiry', 'refreshed', '', 4, 5, now())`,
		`UPDATE gusto_auth_tokens SET status = 'paused', status_reason = 'holiday freeze' WHERE company_uuid = ?`,
		`UPDATE gusto_auth_tokens SET status = 'active', status_reason = '' WHERE company_uuid = ?`,
	} {
		if err := e.db.Gorm.Exec(q, co).Error; err != nil {
			t.Fatal(err)
		}
	}
	list := chromium(t, "--dump-dom", e.url("/companies", testUser, testPassword))
	if !strings.Contains(list, `href="/companies/`+co+`"`) {
		t.Fatalf("the companies list does not link to %s's page", co)
	}
	dir := t.TempDir()
	if out := os.Getenv("GUSTOSYNC_KEEP_SCREENSHOTS"); out != "" {
		t.Cleanup(func() { _ = os.CopyFS(out, os.DirFS(dir)) })
	}
	dom := chromium(t, "--dump-dom", e.url("/companies/"+co, testUser, testPassword))
	keep(t, dir, "company.html", dom)
	section := func(id string) string {
		start := strings.Index(dom, `id="`+id+`"`)
		if start < 0 {
			t.Fatalf("company page has no %s table (DOM in %s)", id, dir)
		}
		end := strings.Index(dom[start:], "</table>")
		return dom[start : start+end]
	}
	checks := map[string][]string{
		"company":   {"active", "1234 records", "Token expires"},
		"runs":      {"0000000000f1", "incremental", "failed", "17", "gusto: 503 Service Unavailable", "succeeded", "1234"},
		"refreshes": {"worker-42", "expiry", "refreshed", "4 → 5"},
		"statuses":  {"onboarded", "paused", "holiday freeze", "active"},
	}
	if !strings.Contains(dom, `<h1 id="company-name">Acme Payroll Co</h1>`) || !strings.Contains(dom, `<code id="company-uuid">`+co+`</code>`) {
		t.Errorf("company page does not name Acme Payroll Co and %s (DOM in %s)", co, dir)
	}
	for id, wants := range checks {
		s := section(id)
		for _, want := range wants {
			if !strings.Contains(s, want) {
				t.Errorf("company page's %s table lacks %q (DOM in %s)", id, want, dir)
			}
		}
	}
	if n := strings.Count(section("statuses"), "<tr><td>"); n != 3 {
		t.Errorf("status history shows %d transitions, want 3 (onboarded, paused, active)", n)
	}
	shot := filepath.Join(dir, "company.png")
	chromium(t, "--screenshot="+shot, e.url("/companies/"+co, testUser, testPassword))
	checkPNG(t, shot)
	t.Logf("company page screenshot: %s", shot)
}

// TestCompaniesPaginationInChromium: following the Next link page after
// page in headless Chromium shows every company exactly once, and a search
// narrows the list to what it matches.
func TestCompaniesPaginationInChromium(t *testing.T) {
	e := startDashboard(t)
	var more []string
	if err := e.db.Gorm.Raw(`
		INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, scopes)
		SELECT gen_random_uuid(), '\x00', '\x00', 'k1', now() + interval '90 minutes', 'companies:read'
		FROM generate_series(1, 8) RETURNING company_uuid::text`).Scan(&more).Error; err != nil {
		t.Fatal(err)
	}
	all := slices.Sorted(slices.Values(append(slices.Clone(e.companies), more...)))

	var seen []string
	path, pages := "/companies?limit=5", 0
	for path != "" {
		if pages++; pages > 10 {
			t.Fatal("more than 10 pages for 12 companies")
		}
		u, err := url.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		dom := chromium(t, "--dump-dom", e.url(u.Path, testUser, testPassword)+"?"+u.RawQuery)
		for _, m := range domCompany.FindAllStringSubmatch(dom, -1) {
			seen = append(seen, m[1])
		}
		path = ""
		if m := domNext.FindStringSubmatch(dom); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if pages != 3 || !slices.Equal(seen, all) {
		t.Fatalf("%d pages showed %d companies, want 3 pages showing each of %d once in order:\n%v\nwant\n%v", pages, len(seen), len(all), seen, all)
	}

	dom := chromium(t, "--dump-dom", e.url("/companies", testUser, testPassword)+"?q=acme+payroll")
	got := domCompany.FindAllStringSubmatch(dom, -1)
	if len(got) != 1 || got[0][1] != e.companies[0] {
		t.Fatalf("search for acme payroll shows %v, want only %s", got, e.companies[0])
	}
	if !strings.Contains(dom, `value="acme payroll"`) {
		t.Error("the search box does not show the search")
	}
}
