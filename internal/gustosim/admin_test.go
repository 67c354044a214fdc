package gustosim_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gustosync/gustosync/internal/gustosim"
)

func TestAdminEndpoints(t *testing.T) {
	e := newEnv(t, nil)

	// Create companies: the `gustosync companies add` shape.
	r := e.postJSON("/admin/companies", map[string]any{"count": 3, "employees": 4, "payrolls": 2})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var raw []map[string]any
	r.json(t, &raw)
	if len(raw) != 3 {
		t.Fatalf("created %d", len(raw))
	}
	for _, k := range []string{"company_uuid", "access_token", "refresh_token", "expires_in", "scope", "created_at"} {
		if _, ok := raw[0][k]; !ok {
			t.Fatalf("grant lacks %s: %v", k, raw[0])
		}
	}
	var grants []gustosim.Grant
	r.json(t, &grants)
	g := grants[0]
	if got := e.apiStatus(g.CompanyUUID, g.Token.AccessToken); got != 200 {
		t.Fatalf("admin-created token: %d", got)
	}
	recs, _ := e.sim.Records(g.CompanyUUID, "employees")
	if len(recs) != 4 {
		t.Fatalf("employees option ignored: %d", len(recs))
	}
	if r := e.postJSON("/admin/companies", map[string]any{"uuid": g.CompanyUUID}); r.status != http.StatusConflict {
		t.Fatalf("duplicate uuid: %d", r.status)
	}
	if r := e.postJSON("/admin/companies", map[string]any{"count": 0}); r.status != http.StatusBadRequest {
		t.Fatalf("count 0: %d", r.status)
	}
	if r := e.postJSON("/admin/companies", map[string]any{"emploees": 3}); r.status != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", r.status)
	}
	var list []string
	e.get("/admin/companies", "").json(t, &list)
	if len(list) != 3 || list[0] != g.CompanyUUID {
		t.Fatalf("list: %v", list)
	}

	// Records and checksums agree with the Go API.
	r = e.get("/admin/companies/"+g.CompanyUUID+"/records/employees", "")
	var served []json.RawMessage
	r.json(t, &served)
	for i := range recs {
		if string(served[i]) != string(recs[i]) {
			t.Fatalf("admin record %d differs", i)
		}
	}
	var sums map[string]struct {
		Count  int    `json:"count"`
		SHA256 string `json:"sha256"`
	}
	e.get("/admin/companies/"+g.CompanyUUID+"/checksum", "").json(t, &sums)
	n, sum, _ := e.sim.Checksum(g.CompanyUUID, "payrolls")
	if sums["payrolls"].Count != n || sums["payrolls"].SHA256 != sum || sums["employees"].Count != 4 || sums["company"].Count != 1 {
		t.Fatalf("checksums: %+v", sums)
	}
	if r := e.get("/admin/companies/"+g.CompanyUUID+"/records/contractors", ""); r.status != 404 {
		t.Fatalf("unknown resource: %d", r.status)
	}

	// Token uses, counters, revoke.
	r = e.postJSON("/admin/token-uses", map[string]string{"access_token": g.Token.AccessToken})
	var uses map[string]int64
	r.json(t, &uses)
	if uses["uses"] != 1 {
		t.Fatalf("token uses: %v", uses)
	}
	if r := e.postJSON("/admin/companies/"+g.CompanyUUID+"/revoke", nil); r.status != 200 {
		t.Fatalf("revoke: %d", r.status)
	}
	if got := e.apiStatus(g.CompanyUUID, g.Token.AccessToken); got != http.StatusUnauthorized {
		t.Fatalf("after admin revoke: %d", got)
	}
	if r := e.postJSON("/admin/companies/6f1c8d34-0000-4000-8000-000000000000/revoke", nil); r.status != 404 {
		t.Fatalf("revoke unknown: %d", r.status)
	}
	var counters gustosim.Counters
	e.get("/admin/counters", "").json(t, &counters)
	if counters.Unauthorized != 1 || counters.Requests[g.CompanyUUID] != 1 {
		t.Fatalf("counters: %+v", counters)
	}
	if counters.APIRequests != 2 {
		t.Fatalf("api requests %d: admin calls must not count", counters.APIRequests)
	}

	// Config: read (no secret), patch, refuse bad patches atomically.
	r = e.get("/admin/config", "")
	if strings.Contains(string(r.body), testClientSecret) {
		t.Fatal("GET /admin/config shows the client secret")
	}
	r = e.send(http.MethodPatch, "/admin/config", `{"revocation":"family","token_lifetime":"5s","error_rate":0.25}`)
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if c := e.sim.Config(); c.Revocation != gustosim.RuleFamily || c.TokenLifetime.Seconds() != 5 || c.ErrorRate != 0.25 {
		t.Fatalf("patch not applied: %+v", c)
	}
	r = e.send(http.MethodPatch, "/admin/config", `{"min_api_version":"2026-02-01","payroll_filter":"overlap","rate_limit_scope":"owner","omit_pagination_headers":true}`)
	var view map[string]any
	r.json(t, &view)
	if c := e.sim.Config(); r.status != 200 || c.MinAPIVersion != "2026-02-01" || c.PayrollFilter != gustosim.FilterOverlap ||
		c.RateLimitScope != gustosim.RateLimitPerOwner || !c.OmitPaginationHeaders || view["payroll_filter"] != "overlap" {
		t.Fatalf("patch of today's settings: %d %+v", r.status, c)
	}
	r = e.send(http.MethodPatch, "/admin/config", `{"pay_schedules":["weekly","Annually"],"history_months":60,"long_payrolls":true}`)
	if c := e.sim.Config(); r.status != 200 || !slices.Equal(c.PaySchedules, []gustosim.Frequency{gustosim.EveryWeek, gustosim.Annually}) || c.HistoryMonths != 60 || !c.LongPayrolls {
		t.Fatalf("patch of the payroll shape: %d %+v", r.status, c)
	}
	for _, bad := range []string{`{"revocation":"lax"}`, `{"latency":"soon","error_rate":0}`, `{"error_rate":2}`, `{"client_secret":"x"}`,
		`{"min_api_version":"soon"}`, `{"payroll_filter":"straddle"}`, `{"rate_limit_scope":"user"}`,
		`{"pay_schedules":["Semiannually"]}`, `{"history_months":-3}`} {
		if r := e.send(http.MethodPatch, "/admin/config", bad); r.status != http.StatusBadRequest {
			t.Fatalf("patch %s: %d", bad, r.status)
		}
	}
	if c := e.sim.Config(); c.ErrorRate != 0.25 || c.Revocation != gustosim.RuleFamily || c.ClientSecret != testClientSecret || c.HistoryMonths != 60 {
		t.Fatalf("a refused patch changed the config: %+v", c)
	}
	e.send(http.MethodPatch, "/admin/config", `{"error_rate":0,"pay_schedules":[],"history_months":36,"long_payrolls":false}`)
	if c := e.sim.Config(); c.PaySchedules != nil || c.LongPayrolls {
		t.Fatalf("patch back to the default payroll shape: %+v", c)
	}

	// Authorize behaviour.
	if r := e.send(http.MethodPut, "/admin/authorize", `{"deny":true}`); r.status != http.StatusNoContent {
		t.Fatalf("put authorize: %d", r.status)
	}
	if _, q := e.authorize(authorizeParams("s", "")); q.Get("error") != "access_denied" {
		t.Fatalf("deny via admin: %v", q)
	}
	if r := e.get("/admin/nothing", ""); r.status != 404 {
		t.Fatalf("unknown admin path: %d", r.status)
	}

	// Companies sharing a resource owner.
	owner := "c0000000-0000-4000-8000-00000000000c"
	r = e.postJSON("/admin/companies", map[string]any{"count": 2, "employees": 1, "payrolls": 1, "resource_owner": owner})
	var shared []gustosim.Grant
	r.json(t, &shared)
	for _, sg := range shared {
		var info struct {
			ResourceOwner struct{ UUID string } `json:"resource_owner"`
		}
		e.get("/v1/token_info", sg.Token.AccessToken).json(t, &info)
		if info.ResourceOwner.UUID != owner {
			t.Fatalf("admin-created company with resource_owner: token_info owner %q", info.ResourceOwner.UUID)
		}
	}
	if r := e.postJSON("/admin/companies", map[string]any{"resource_owner": "someone"}); r.status != http.StatusBadRequest {
		t.Fatalf("resource_owner not a uuid: %d", r.status)
	}

	// Pay schedules, history and long payrolls.
	r = e.postJSON("/admin/companies", map[string]any{"employees": 1, "payrolls": 8, "pay_schedules": []string{"quarterly", "Annually"}, "history_months": 24, "long_payrolls": true})
	var sched []gustosim.Grant
	r.json(t, &sched)
	if r.status != http.StatusCreated || len(sched) != 1 {
		t.Fatalf("company with pay schedules: %d %s", r.status, r.body)
	}
	freq := map[string]int{}
	for _, p := range payrollRecords(t, e.sim, sched[0].CompanyUUID) {
		freq[p.Frequency]++
	}
	if len(freq) != 3 || freq["Quarterly"]+freq["Annually"] < 8 || freq["Semiannually"] == 0 {
		t.Fatalf("admin-created company with quarterly and annual schedules and long payrolls: %v", freq)
	}
	for _, bad := range []map[string]any{{"pay_schedules": []string{"semiannually"}}, {"pay_schedules": []string{}}, {"history_months": 1000}} {
		if r := e.postJSON("/admin/companies", bad); r.status != http.StatusBadRequest {
			t.Fatalf("create %v: %d", bad, r.status)
		}
	}
	e.sim.Update(func(c *gustosim.Config) { c.DisableAdmin = true })
	if r := e.get("/admin/counters", ""); r.status != 404 {
		t.Fatalf("disabled admin: %d", r.status)
	}
}

func TestGrantRedactsTokens(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(defaults())
	for _, s := range []string{g.String(), g.GoString()} {
		if strings.Contains(s, g.Token.AccessToken) || strings.Contains(s, g.Token.RefreshToken) || !strings.Contains(s, g.CompanyUUID) {
			t.Fatalf("Grant string: %s", s)
		}
	}
}
