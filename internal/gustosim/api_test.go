package gustosim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// page fetches one page and returns its records.
func (e *env) page(path, token string) ([]json.RawMessage, resp) {
	e.t.Helper()
	r := e.get(path, token)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, r.status, truncate(r.body))
	}
	var items []json.RawMessage
	r.json(e.t, &items)
	return items, r
}

// walk pages through path (which has a query) until a short page.
func (e *env) walk(path, token string, per int) []json.RawMessage {
	e.t.Helper()
	var all []json.RawMessage
	for page := 1; ; page++ {
		items, _ := e.page(fmt.Sprintf("%s&page=%d&per=%d", path, page, per), token)
		all = append(all, items...)
		if len(items) < per {
			return all
		}
		if page > 10000 {
			e.t.Fatal("pagination does not end")
		}
	}
}

func uuidOf(t *testing.T, raw json.RawMessage, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[key].(string)
	return s
}

func TestEmployeesPagination(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(defaults()) // 30 employees
	base := "/v1/companies/" + g.CompanyUUID + "/employees"
	tok := g.Token.AccessToken

	p1, r := e.page(base, tok) // default per 25
	if len(p1) != 25 {
		t.Fatalf("default page size: %d, want 25", len(p1))
	}
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Date"} {
		if r.header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
	if h := pageHeaders(t, r); h != [4]int{1, 25, 30, 2} || r.header.Get("Link") != "" {
		t.Errorf("pagination headers %v (Link %q), want Gusto's X-Page 1, X-Per-Page 25, X-Total-Count 30, X-Total-Pages 2 and no Link", h, r.header.Get("Link"))
	}
	p2, _ := e.page(base+"?page=2", tok)
	p3, _ := e.page(base+"?page=3", tok)
	if len(p2) != 5 || len(p3) != 0 || string(e.get(base+"?page=3", tok).body) != "[]" {
		t.Fatalf("page 2: %d, page 3: %d", len(p2), len(p3))
	}
	if far, _ := e.page(base+"?page=9223372036854775807&per=100", tok); len(far) != 0 {
		t.Fatalf("a page far past the end returned %d records", len(far))
	}
	before := e.sim.Counters().EmployeeRequests[g.CompanyUUID]
	capped, _ := e.page(base+"?per=1000", tok)
	if len(capped) != 30 {
		t.Fatalf("per=1000 over 30 records: %d", len(capped))
	}
	if n := e.sim.Counters().EmployeeRequests[g.CompanyUUID] - before; n != 1 {
		t.Fatalf("one employees request counted %d times", n)
	}

	want, err := e.sim.Records(g.CompanyUUID, "employees")
	if err != nil {
		t.Fatal(err)
	}
	got := e.walk(base+"?x=1", tok, 7)
	if len(got) != len(want) {
		t.Fatalf("walked %d records, Records has %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d differs from Records", i)
		}
	}
	seen := map[string]bool{}
	for _, raw := range got {
		id := uuidOf(t, raw, "uuid")
		if seen[id] || len(id) != 36 {
			t.Fatalf("bad or duplicate uuid %q", id)
		}
		seen[id] = true
		if uuidOf(t, raw, "company_uuid") != g.CompanyUUID {
			t.Fatal("employee of another company")
		}
	}
	c := e.sim.Counters()
	if served := c.RecordsServed[g.CompanyUUID]; served != 25+5+30+30 {
		t.Fatalf("records served %d, want %d", served, 25+5+30+30)
	}

	for _, q := range []string{"page=0", "page=-1", "page=abc", "per=0", "per=x", "page="} {
		r := e.get(base+"?"+q, tok)
		key, cat := r.gustoError(t)
		if r.status != http.StatusUnprocessableEntity || cat != "invalid_parameter" || (key != "page" && key != "per") {
			t.Errorf("%s: %d %s/%s, want 422 page|per/invalid_parameter", q, r.status, key, cat)
		}
	}
}

func TestEmployeeFiltersScopesAndIncludes(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(gustosim.CompanyOptions{Employees: 120, Payrolls: 0})
	base := "/v1/companies/" + g.CompanyUUID + "/employees"
	tok := g.Token.AccessToken
	term := e.walk(base+"?terminated=true", tok, 25)
	active := e.walk(base+"?terminated=false", tok, 25)
	if len(term) == 0 || len(active) == 0 || len(term)+len(active) != 120 {
		t.Fatalf("terminated filter: %d + %d, want a split of 120", len(term), len(active))
	}
	for _, raw := range term {
		var m struct {
			Terminated   bool  `json:"terminated"`
			Terminations []any `json:"terminations"`
		}
		_ = json.Unmarshal(raw, &m)
		if !m.Terminated || len(m.Terminations) != 1 {
			t.Fatal("terminated=true returned an active employee or one without termination")
		}
	}
	onb := e.walk(base+"?onboarded=false", tok, 25)
	for _, raw := range onb {
		if strings.Contains(string(raw), `"onboarded":true`) {
			t.Fatal("onboarded=false returned an onboarded employee")
		}
	}
	if r := e.get(base+"?terminated=yes", tok); r.status != 422 {
		t.Fatalf("terminated=yes: %d", r.status)
	}
	if r := e.get(base+"?search_term=ada", tok); r.status != 422 {
		t.Fatalf("unsupported filter: %d, want 422", r.status)
	}
	if r := e.get(base+"?include=everything", tok); r.status != 422 {
		t.Fatalf("unknown include: %d, want 422", r.status)
	}

	withInc, _ := e.page(base+"?per=1&include=company_name,current_home_address,custom_fields", tok)
	for _, k := range []string{`"company_name":`, `"current_home_address":{`, `"custom_fields":[]`, `"rate":`, `"compensations":[`} {
		if !bytes.Contains(withInc[0], []byte(k)) {
			t.Errorf("include: record lacks %s", k)
		}
	}
	// Without compensations:read, pay rates are withheld.
	noComp := e.company(gustosim.CompanyOptions{Employees: 3, Payrolls: 0, Scopes: []string{"employees:read"}})
	items, _ := e.page("/v1/companies/"+noComp.CompanyUUID+"/employees?include=all_compensations", noComp.Token.AccessToken)
	for _, raw := range items {
		for _, k := range []string{`"rate":`, `"payment_unit":`, `"current_compensation_uuid":`, `"compensations":`} {
			if bytes.Contains(raw, []byte(k)) {
				t.Fatalf("employee without compensations:read has %s", k)
			}
		}
	}
}

func TestRecordsAreDeterministicAndShaped(t *testing.T) {
	clock := newFakeClock()
	mk := func(seed int64) *gustosim.Sim {
		cfg := baseConfig(clock)
		cfg.Seed = seed
		s, err := gustosim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateCompany(gustosim.CompanyOptions{UUID: "0f8f5d3e-8c3b-4a43-9d4e-9b2f2f6c0a11", Employees: 200, Payrolls: 40}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, c := mk(7), mk(7), mk(8)
	const id = "0f8f5d3e-8c3b-4a43-9d4e-9b2f2f6c0a11"
	for _, res := range []string{"company", "employees", "payrolls"} {
		na, sa, err := a.Checksum(id, res)
		if err != nil {
			t.Fatal(err)
		}
		nb, sb, _ := b.Checksum(id, res)
		_, sc, _ := c.Checksum(id, res)
		if na != nb || sa != sb {
			t.Fatalf("%s: same seed, different data", res)
		}
		if sa == sc {
			t.Fatalf("%s: different seeds, same data", res)
		}
	}
	emps, _ := a.Records(id, "employees")
	total := 0
	for i, raw := range emps {
		if !json.Valid(raw) {
			t.Fatalf("employee %d is not valid JSON", i)
		}
		total += len(raw)
	}
	if avg := total / len(emps); avg < 700 || avg > 2000 {
		t.Fatalf("employee payload averages %d bytes, want about 1 KB", avg)
	}
	var emp map[string]any
	_ = json.Unmarshal(emps[0], &emp)
	jobs, _ := emp["jobs"].([]any)
	if len(jobs) == 0 {
		t.Fatal("employee without jobs")
	}
	job := jobs[0].(map[string]any)
	rate, _ := job["rate"].(string)
	if _, err := strconv.ParseFloat(rate, 64); err != nil || !strings.Contains(rate, ".") {
		t.Fatalf("rate %v is not a decimal string", job["rate"])
	}
	pays, _ := a.Records(id, "payrolls")
	if len(pays) != 40 {
		t.Fatalf("payrolls: %d", len(pays))
	}
	prev := ""
	for _, raw := range pays {
		var p struct {
			UUID        string `json:"payroll_uuid"`
			CheckDate   string `json:"check_date"`
			CompanyUUID string `json:"company_uuid"`
			Totals      *struct {
				GrossPay string `json:"gross_pay"`
			} `json:"totals"`
			Processed bool `json:"processed"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if p.CheckDate < prev || p.CompanyUUID != id {
			t.Fatalf("payrolls not in ascending check date order or wrong company: %s after %s", p.CheckDate, prev)
		}
		prev = p.CheckDate
		if p.Processed && (p.Totals == nil || !strings.Contains(p.Totals.GrossPay, ".")) {
			t.Fatal("processed payroll without decimal-string totals")
		}
	}
	if _, err := a.Records(id, "contractors"); err == nil {
		t.Fatal("Records accepted an unknown resource")
	}
}

// payrollUUIDs walks payrolls with query and returns their uuids.
func (e *env) payrollUUIDs(g gustosim.Grant, query string) []string {
	e.t.Helper()
	var out []string
	for _, raw := range e.walk("/v1/companies/"+g.CompanyUUID+"/payrolls?"+query, g.Token.AccessToken, 50) {
		out = append(out, uuidOf(e.t, raw, "payroll_uuid"))
	}
	return out
}

func TestPayrollFilters(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(defaults()) // 125 payrolls: about three years, some off-cycle, the current ones unprocessed
	all, err := e.sim.Records(g.CompanyUUID, "payrolls")
	if err != nil {
		t.Fatal(err)
	}
	var unprocessed int
	var regularProcessed []string // of the past six months, whole pay period inside
	for _, p := range payrollRecords(t, e.sim, g.CompanyUUID) {
		switch {
		case !p.Processed:
			unprocessed++
			if p.Check <= "2026-12-10" || p.OffCycle {
				t.Fatalf("unprocessed payroll %+v: want only regular ones paid after today", p)
			}
		case !p.OffCycle && "2026-06-10" <= p.Start && p.End <= "2026-12-10":
			regularProcessed = append(regularProcessed, p.UUID)
		}
	}
	if unprocessed == 0 {
		t.Fatal("no unprocessed payroll: the current pay periods' should be")
	}
	if def := e.payrollUUIDs(g, "x=1"); !slices.Equal(def, regularProcessed) {
		t.Fatalf("default filters: %d payrolls, want the %d processed regular ones of the past six months", len(def), len(regularProcessed))
	}
	// The whole history, in windows of a year by pay-period start.
	e.sim.Update(func(c *gustosim.Config) { c.PayrollFilter = gustosim.FilterStart })
	var everything []string
	for _, w := range [][2]string{{"2023-12-01", "2024-11-30"}, {"2024-12-01", "2025-11-30"}, {"2025-12-01", "2026-11-30"}, {"2026-12-01", "2027-03-10"}} {
		everything = append(everything, e.payrollUUIDs(g, "processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle&include=totals&start_date="+w[0]+"&end_date="+w[1])...)
	}
	if len(everything) != len(all) {
		t.Fatalf("all statuses and types: %d, want %d", len(everything), len(all))
	}
	items, _ := e.page("/v1/companies/"+g.CompanyUUID+"/payrolls?processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle&include=totals&per=100&start_date=2023-12-01&end_date=2024-11-30", g.Token.AccessToken)
	// Served in Records' order: the records of the window, as Records holds them.
	var inWindow []json.RawMessage
	for _, raw := range all {
		var p struct {
			PayPeriod struct {
				StartDate string `json:"start_date"`
			} `json:"pay_period"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if p.PayPeriod.StartDate >= "2023-12-01" && p.PayPeriod.StartDate <= "2024-11-30" {
			inWindow = append(inWindow, raw)
		}
	}
	if len(items) != min(len(inWindow), 100) {
		t.Fatalf("first window: %d payrolls served, Records holds %d in it", len(items), len(inWindow))
	}
	for i := range items {
		if !bytes.Equal(items[i], inWindow[i]) {
			t.Fatalf("payroll %d as served differs from Records", i)
		}
	}
	desc := e.payrollUUIDs(g, "processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle&sort_order=desc&start_date=2026-01-01&end_date=2026-12-31")
	asc := e.payrollUUIDs(g, "processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle&start_date=2026-01-01&end_date=2026-12-31")
	if len(desc) == 0 || len(desc) != len(asc) {
		t.Fatalf("sort_order: %d desc, %d asc", len(desc), len(asc))
	}
	for i := range desc {
		if desc[i] != asc[len(asc)-1-i] {
			t.Fatal("sort_order=desc is not the reverse order")
		}
	}

	noTotals, _ := e.page("/v1/companies/"+g.CompanyUUID+"/payrolls?per=1", g.Token.AccessToken)
	if bytes.Contains(noTotals[0], []byte(`"totals"`)) {
		t.Fatal("totals sent without include=totals")
	}
	withMeta, _ := e.page("/v1/companies/"+g.CompanyUUID+"/payrolls?per=1&include=payroll_status_meta,taxes,risk_blockers", g.Token.AccessToken)
	for _, k := range []string{`"payroll_status_meta":{`, `"company_taxes":[`, `"submission_blockers":[]`} {
		if !bytes.Contains(withMeta[0], []byte(k)) {
			t.Errorf("include: payroll lacks %s", k)
		}
	}

	today := e.clock.Now()
	day := func(t time.Time) string { return t.Format("2006-01-02") }
	base := "/v1/companies/" + g.CompanyUUID + "/payrolls?"
	for q, key := range map[string]string{
		"end_date=" + day(today.AddDate(0, 4, 0)):                                "end_date",
		"start_date=" + day(today.AddDate(-2, 0, 0)) + "&end_date=" + day(today): "end_date",
		"start_date=" + day(today) + "&end_date=" + day(today.AddDate(0, 0, -1)): "start_date",
		"start_date=2026-13-01":        "start_date",
		"processing_statuses=pending":  "processing_statuses",
		"payroll_types=weekly":         "payroll_types",
		"date_filter_by=created_at":    "date_filter_by",
		"sort_order=sideways":          "sort_order",
		"include=totals,employee_data": "include",
	} {
		r := e.get(base+q, g.Token.AccessToken)
		gotKey, cat := r.gustoError(t)
		if r.status != 422 || gotKey != key || cat != "invalid_parameter" {
			t.Errorf("%s: %d %s/%s, want 422 %s", q, r.status, gotKey, cat, key)
		}
	}
}

func TestPlainPayrolls(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.PlainPayrolls = true })
	g := e.company(defaults())
	var recent []string
	for _, p := range payrollRecords(t, e.sim, g.CompanyUUID) {
		if !p.Processed || p.OffCycle {
			t.Fatalf("plain payroll %+v: want every one regular and processed", p)
		}
		if "2026-06-10" <= p.Start && p.End <= "2026-12-10" {
			recent = append(recent, p.UUID)
		}
	}
	if got := e.payrollUUIDs(g, "x=1"); len(recent) == 0 || !slices.Equal(got, recent) {
		t.Fatalf("plain payrolls under default filters: %d, want the %d of the past six months", len(got), len(recent))
	}
}

func TestAPIAuthAndAccessErrors(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(defaults())
	other := e.company(defaults())
	co := "/v1/companies/" + g.CompanyUUID

	r := e.get(co, "")
	if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d", r.status)
	}
	if r := e.get(co, "made-up-token"); r.status != 401 {
		t.Fatalf("unknown token: %d", r.status)
	}
	e.get(co, "made-up-token")
	if n := e.sim.AccessTokenUses("made-up-token"); n != 2 {
		t.Fatalf("unknown token uses %d, want 2", n)
	}
	r = e.get("/v1/companies/"+other.CompanyUUID, g.Token.AccessToken)
	if _, cat := r.gustoError(t); r.status != 403 || cat != "missing_permissions" {
		t.Fatalf("another company's data: %d %s, want 403", r.status, cat)
	}
	r = e.get("/v1/companies/6f1c8d34-0000-4000-8000-000000000000", g.Token.AccessToken)
	if key, cat := r.gustoError(t); r.status != 404 || cat != "not_found" || key == "" {
		t.Fatalf("unknown company: %d %s/%s, want 404 not_found", r.status, key, cat)
	}
	r = e.get("/v1/companies/"+g.CompanyUUID+"/contractors", g.Token.AccessToken)
	if r.status != 404 {
		t.Fatalf("unknown endpoint: %d", r.status)
	}
	noPay := e.company(gustosim.CompanyOptions{Employees: 1, Payrolls: 1, Scopes: []string{"companies:read"}})
	for _, p := range []string{"/employees", "/payrolls"} {
		if r := e.get("/v1/companies/"+noPay.CompanyUUID+p, noPay.Token.AccessToken); r.status != 403 {
			t.Fatalf("%s without scope: %d", p, r.status)
		}
	}
	if r := e.get(co+"?access_token="+g.Token.AccessToken, g.Token.AccessToken); r.status != 400 || strings.Contains(string(r.body), g.Token.AccessToken) {
		t.Fatalf("token in the URL: %d", r.status)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+co, nil)
	req.Header.Set("Authorization", "Bearer "+g.Token.AccessToken)
	req.Header.Set("X-Gusto-API-Version", "2023")
	if r := e.do(req); r.status != http.StatusNotAcceptable {
		t.Fatalf("bad version header: %d, want 406", r.status)
	}
	req.Header.Del("X-Gusto-API-Version")
	if r := e.do(req); r.status != 200 {
		t.Fatalf("no version header: %d", r.status)
	}
	c := e.sim.Counters()
	if c.Unauthorized != 3 || c.Forbidden != 3 || c.WithoutVersionHeader != 1 {
		t.Fatalf("counters: unauthorized %d forbidden %d without-version %d", c.Unauthorized, c.Forbidden, c.WithoutVersionHeader)
	}
	if c.Requests[g.CompanyUUID] == 0 || c.Requests[other.CompanyUUID] != 0 {
		t.Fatalf("requests per company: %v", c.Requests)
	}
}

func TestRateLimitWindow(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.RateLimit = 3; c.ClockOffset = 30 * time.Second })
	g := e.company(defaults())
	other := e.company(defaults())
	co := "/v1/companies/" + g.CompanyUUID
	start := e.clock.Now()
	for i := 0; i < 3; i++ {
		r := e.get(co, g.Token.AccessToken)
		if r.status != 200 || r.header.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) || r.header.Get("X-RateLimit-Limit") != "3" {
			t.Fatalf("request %d: %d remaining %q", i, r.status, r.header.Get("X-RateLimit-Remaining"))
		}
		reset, err := time.Parse("2006-01-02 15:04:05 -0700", r.header.Get("X-RateLimit-Reset"))
		if err != nil || !reset.Equal(start.Add(time.Minute+30*time.Second)) {
			t.Fatalf("X-RateLimit-Reset %q (%v), want the window's end on Gusto's clock", r.header.Get("X-RateLimit-Reset"), err)
		}
		e.clock.Advance(10 * time.Second)
	}
	r := e.get(co, g.Token.AccessToken)
	if r.status != 429 || r.header.Get("Retry-After") != "30" {
		t.Fatalf("4th request: %d Retry-After %q, want 429 and 30", r.status, r.header.Get("Retry-After"))
	}
	// The limit is per grant.
	if got := e.apiStatus(other.CompanyUUID, other.Token.AccessToken); got != 200 {
		t.Fatalf("other grant: %d", got)
	}
	e.clock.Advance(30 * time.Second)
	if got := e.apiStatus(g.CompanyUUID, g.Token.AccessToken); got != 200 {
		t.Fatalf("after the window: %d", got)
	}
	if c := e.sim.Counters(); c.RateLimited != 1 {
		t.Fatalf("rate limited %d", c.RateLimited)
	}
	e.sim.Update(func(c *gustosim.Config) { c.RateLimit = -1 })
	for i := 0; i < 10; i++ {
		if r := e.get(co, g.Token.AccessToken); r.status != 200 || r.header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("unlimited: %d", r.status)
		}
	}
}

func TestTokenRateLimit(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.TokenRateLimit = 2 })
	g := e.company(defaults())
	p := e.mustRefresh(g.Token.RefreshToken)
	p = e.mustRefresh(p.RefreshToken)
	r := e.postJSON("/oauth/token", map[string]string{"client_id": testClientID, "client_secret": testClientSecret, "grant_type": "refresh_token", "refresh_token": p.RefreshToken})
	if r.status != 429 || r.header.Get("Retry-After") != "60" {
		t.Fatalf("3rd refresh in a minute: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	e.clock.Advance(time.Minute)
	e.mustRefresh(p.RefreshToken) // the 429 did not consume the token
}

func TestInjectedErrors(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.ErrorRate = 1; c.TokenErrorRate = 1 })
	g := e.company(defaults())
	statuses := map[int]int{}
	for i := 0; i < 60; i++ {
		statuses[e.apiStatus(g.CompanyUUID, g.Token.AccessToken)]++
	}
	if statuses[500]+statuses[502]+statuses[503] != 60 || statuses[500] == 0 || statuses[502] == 0 || statuses[503] == 0 {
		t.Fatalf("injected statuses: %v", statuses)
	}
	for i := 0; i < 20; i++ {
		r := e.postJSON("/oauth/token", map[string]string{"client_id": testClientID, "client_secret": testClientSecret, "grant_type": "refresh_token", "refresh_token": g.Token.RefreshToken})
		if r.status != 500 && !(r.status == 503 && r.header.Get("Retry-After") == "1") {
			t.Fatalf("injected token error: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
		}
	}
	if c := e.sim.Counters(); c.InjectedErrors != 80 || c.Refreshes != 0 {
		t.Fatalf("counters: injected %d refreshes %d", c.InjectedErrors, c.Refreshes)
	}
	e.sim.Update(func(c *gustosim.Config) { c.ErrorRate, c.TokenErrorRate = 0, 0 })
	e.mustRefresh(g.Token.RefreshToken) // injected token errors had no effect
}

// Latency is applied after the request took effect: a client that gives up
// loses the rotated pair, and the simulator still counts the refresh.
func TestLatencyAfterEffect(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.LatencyRate = 1; c.Latency = time.Hour })
	g := e.company(defaults())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	body := strings.NewReader(fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"grant_type":"refresh_token","refresh_token":%q}`, testClientID, testClientSecret, g.Token.RefreshToken))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/oauth/token", body)
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatal("a delayed answer arrived before the client's deadline")
	}
	waitfor.Condition(t, 10*time.Second, "the refresh to be counted", func() bool { return e.sim.Counters().Refreshes == 1 })
	e.sim.Update(func(c *gustosim.Config) { c.LatencyRate = 0 })
	// The lost pair's R1 is still usable under RuleGusto: no access token it
	// issued was used.
	e.mustRefresh(g.Token.RefreshToken)
}

func TestDateHeaderEverywhere(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.ClockOffset = -45 * time.Second })
	g := e.company(defaults())
	want := e.clock.Now().Add(-45 * time.Second).UTC().Format(http.TimeFormat)
	for _, path := range []string{"/v1/companies/" + g.CompanyUUID, "/v1/token_info", "/nowhere", "/admin/counters"} {
		if r := e.get(path, g.Token.AccessToken); r.header.Get("Date") != want {
			t.Errorf("%s: Date %q, want %q", path, r.header.Get("Date"), want)
		}
	}
	if r := e.send(http.MethodDelete, "/oauth/token", ""); r.header.Get("Date") != want {
		t.Errorf("405: Date %q", r.header.Get("Date"))
	}
}

// TestOtherConsumerSpendsTheBudget: another consumer of the grant spends
// Config.OtherConsumer requests per window, evenly, from the same budget:
// Gusto's X-RateLimit-Remaining counts them, and they are refused as ours
// are when the window is spent.
func TestOtherConsumerSpendsTheBudget(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.RateLimit = 10; c.OtherConsumer = 6 })
	g := e.company(defaults())
	co := "/v1/companies/" + g.CompanyUUID
	remaining := func(want string) {
		t.Helper()
		r := e.get(co, g.Token.AccessToken)
		if r.status != 200 || r.header.Get("X-RateLimit-Remaining") != want {
			t.Fatalf("%d, X-RateLimit-Remaining %q, want 200 and %s", r.status, r.header.Get("X-RateLimit-Remaining"), want)
		}
	}
	// One every 10 s, played from a window before the first request: the
	// one at the first request's instant opens the window, ours is second.
	remaining("8")
	e.clock.Advance(30 * time.Second) // three more of theirs
	for _, want := range []string{"4", "3", "2", "1", "0"} {
		remaining(want)
	}
	if r := e.get(co, g.Token.AccessToken); r.status != 429 {
		t.Fatalf("past the budget: %d, want 429", r.status)
	}
	e.clock.Advance(10 * time.Second) // theirs at +40 s is refused too
	c := e.sim.Counters()
	if c.OtherConsumer[g.CompanyUUID] != 10 || c.OtherConsumerRefused[g.CompanyUUID] != 0 {
		t.Fatalf("other consumer before the refusal was played: sent %d refused %d, want 10 and 0", c.OtherConsumer[g.CompanyUUID], c.OtherConsumerRefused[g.CompanyUUID])
	}
	_ = e.get(co, g.Token.AccessToken)
	c = e.sim.Counters()
	if c.OtherConsumer[g.CompanyUUID] != 10 || c.OtherConsumerRefused[g.CompanyUUID] != 1 || c.RateLimited != 2 {
		t.Fatalf("sent %d refused %d, ours refused %d: want 10, 1 and 2", c.OtherConsumer[g.CompanyUUID], c.OtherConsumerRefused[g.CompanyUUID], c.RateLimited)
	}
}
