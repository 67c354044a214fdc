package gustosim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// Today's Gusto (issue 10): the minimum API version, the pagination
// headers, the payroll filter readings and validations, the payroll history
// and the rate-limit scope.

// versionBody is Gusto's 406 body.
type versionBody struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// wantVersionRefused checks a 406 with Gusto's body naming got (a long
// header is cut) and the minimum.
func wantVersionRefused(t *testing.T, what string, r resp, got, min string) versionBody {
	t.Helper()
	if r.status != http.StatusNotAcceptable {
		t.Fatalf("%s: status %d, want 406: %s", what, r.status, truncate(r.body))
	}
	var raw map[string]any
	r.json(t, &raw)
	var b versionBody
	r.json(t, &b)
	if len(raw) != 2 || b.Name != "Invalid X-Gusto-API-Version Header" ||
		!strings.Contains(b.Message, "`"+got) || !strings.Contains(b.Message, "minimum API version `"+min+"`") {
		t.Fatalf("%s: 406 body %s, want Gusto's {name, message} naming %s and %s", what, r.body, got, min)
	}
	return b
}

func TestAPIVersionBelowMinimumIsRefusedEverywhere(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(gustosim.CompanyOptions{Employees: 3, Payrolls: 3})
	tok, co := g.Token.AccessToken, "/v1/companies/"+g.CompanyUUID
	retired := "2025-06-15" // retired after 2026-11-15
	paths := []string{co, co + "/employees", co + "/payrolls", "/v1/token_info", "/v1/me", "/v1/nowhere"}
	for _, p := range paths {
		wantVersionRefused(t, "GET "+p, e.getAt(retired, p, tok), retired, gustosim.DefaultMinAPIVersion)
	}
	tokenReq := func(version string) resp {
		body := fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"grant_type":"refresh_token","refresh_token":%q}`, testClientID, testClientSecret, g.Token.RefreshToken)
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Gusto-API-Version", version)
		return e.do(req)
	}
	wantVersionRefused(t, "POST /oauth/token", tokenReq(retired), retired, gustosim.DefaultMinAPIVersion)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+authorizeParams("s", "").Encode(), nil)
	req.Header.Set("X-Gusto-API-Version", retired)
	wantVersionRefused(t, "GET /oauth/authorize", e.do(req), retired, gustosim.DefaultMinAPIVersion)

	// A 406 happens before authentication: the token was never presented,
	// and the refused refresh had no effect.
	if n := e.sim.AccessTokenUses(tok); n != 0 {
		t.Fatalf("406s used the access token %d times", n)
	}
	c := e.sim.Counters()
	if c.VersionRejected != int64(len(paths)+2) || c.Refreshes != 0 || c.Requests[g.CompanyUUID] != 0 {
		t.Fatalf("counters after the 406s: rejected %d, refreshes %d, requests %v", c.VersionRejected, c.Refreshes, c.Requests)
	}

	// At and above the minimum: served, and the version passed back.
	for _, v := range []string{gustosim.DefaultMinAPIVersion, "2026-02-01", "2026-06-15", "2026-12-10"} {
		r := e.getAt(v, co, tok)
		if r.status != http.StatusOK || r.header.Get("X-Gusto-API-Version") != v {
			t.Fatalf("version %s: %d, X-Gusto-API-Version %q", v, r.status, r.header.Get("X-Gusto-API-Version"))
		}
	}
	if r := tokenReq("2026-06-15"); r.status != http.StatusOK || r.header.Get("X-Gusto-API-Version") != "2026-06-15" {
		t.Fatalf("token endpoint at 2026-06-15: %d %s", r.status, truncate(r.body))
	}
	// No header: the minimum applies.
	before := e.sim.Counters().WithoutVersionHeader
	r := e.getAt("", co, tok)
	if r.status != http.StatusOK || r.header.Get("X-Gusto-API-Version") != gustosim.DefaultMinAPIVersion {
		t.Fatalf("no header: %d, served at %q, want the minimum", r.status, r.header.Get("X-Gusto-API-Version"))
	}
	if got := e.sim.Counters().WithoutVersionHeader; got != before+1 {
		t.Fatalf("requests without the header: %d, want %d", got, before+1)
	}

	// Not a date, or in the future (Gusto's today is 2026-12-10): 406 too.
	for _, v := range []string{"2026-6-15", "latest", "2026-02-30", strings.Repeat("9", 500)} {
		b := wantVersionRefused(t, "version "+v[:min(len(v), 12)], e.getAt(v, co, tok), v[:min(len(v), 40)], gustosim.DefaultMinAPIVersion)
		if !strings.Contains(b.Message, "not a date") {
			t.Fatalf("unparsable %q: message %q does not say it is not a date", v, b.Message)
		}
	}
	wantVersionRefused(t, "a future version", e.getAt("2026-12-11", co, tok), "2026-12-11", gustosim.DefaultMinAPIVersion)

	// The minimum is configuration; raising it refuses what it accepted.
	e.sim.Update(func(c *gustosim.Config) { c.MinAPIVersion = "2026-06-15" })
	wantVersionRefused(t, "below a raised minimum", e.getAt("2026-02-01", co, tok), "2026-02-01", "2026-06-15")
	if r := e.getAt("", co, tok); r.header.Get("X-Gusto-API-Version") != "2026-06-15" {
		t.Fatalf("no header after raising the minimum: served at %q", r.header.Get("X-Gusto-API-Version"))
	}
}

// pageHeaders returns X-Page, X-Per-Page, X-Total-Count, X-Total-Pages (-1
// when absent).
func pageHeaders(t *testing.T, r resp) [4]int {
	t.Helper()
	var out [4]int
	for i, h := range []string{"X-Page", "X-Per-Page", "X-Total-Count", "X-Total-Pages"} {
		v := r.header.Get(h)
		if v == "" {
			out[i] = -1
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s: %q is not a number", h, v)
		}
		out[i] = n
	}
	return out
}

// walkByHeaders walks path (which has a query) page by page until
// X-Total-Pages and returns the records.
func (e *env) walkByHeaders(path, token string, per int) []json.RawMessage {
	e.t.Helper()
	var all []json.RawMessage
	for page := 1; ; page++ {
		items, r := e.page(fmt.Sprintf("%s&page=%d&per=%d", path, page, per), token)
		all = append(all, items...)
		h := pageHeaders(e.t, r)
		if h[0] != page || h[3] < 0 {
			e.t.Fatalf("page %d: headers %v", page, h)
		}
		if page >= h[3] {
			return all
		}
	}
}

func TestPaginationHeaders(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(gustosim.CompanyOptions{Employees: 130, Payrolls: 125})
	tok := g.Token.AccessToken
	emps := "/v1/companies/" + g.CompanyUUID + "/employees"

	for q, want := range map[string][4]int{
		"":                         {1, 25, 130, 6}, // employees are always paginated
		"?page=2&per=50":           {2, 50, 130, 3},
		"?per=1000":                {1, 100, 130, 2}, // per capped at MaxPer, and X-Per-Page says so
		"?page=3&per=1000":         {3, 100, 130, 2}, // past the end: empty, same totals
		"?per=7&terminated=true":   {1, 7, -2, -2},
		"?page=1&per=3&onboarded=": {}, // 422, no headers checked
	} {
		r := e.get(emps+q, tok)
		if want == ([4]int{}) {
			if r.status != 422 {
				t.Fatalf("%s: %d, want 422", q, r.status)
			}
			continue
		}
		var items []json.RawMessage
		r.json(t, &items)
		got := pageHeaders(t, r)
		if want[2] == -2 { // a filter: the total counts the matching records
			n := 0
			recs, _ := e.sim.Records(g.CompanyUUID, "employees")
			for _, raw := range recs {
				if strings.Contains(string(raw), `"terminated":true`) {
					n++
				}
			}
			want[2], want[3] = n, (n+6)/7
		}
		if got != want {
			t.Fatalf("employees%s: headers %v, want %v", q, got, want)
		}
		if wantLen := min(want[1], max(want[2]-(want[0]-1)*want[1], 0)); len(items) != wantLen {
			t.Fatalf("employees%s: %d records, want %d", q, len(items), wantLen)
		}
	}

	// A server capping per below what is asked: a walk by X-Total-Pages gets
	// every record, where a walk stopping at the first short page would not.
	e.sim.Update(func(c *gustosim.Config) { c.MaxPer = 25 })
	r := e.get(emps+"?per=100", tok)
	if h := pageHeaders(t, r); h != [4]int{1, 25, 130, 6} {
		t.Fatalf("per 100 capped at 25: headers %v", h)
	}
	want, _ := e.sim.Records(g.CompanyUUID, "employees")
	if got := e.walkByHeaders(emps+"?x=1", tok, 100); !slices.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
		t.Fatalf("walk by X-Total-Pages with per capped: %d records, want the %d of Records", len(got), len(want))
	}

	// Payrolls: the total is what the filters match.
	all := payrollRecords(t, e.sim, g.CompanyUUID)
	pays := "/v1/companies/" + g.CompanyUUID + "/payrolls?processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle&start_date=2026-01-01&end_date=2026-12-31"
	n := 0
	for _, p := range all {
		if p.Start >= "2026-01-01" && p.End <= "2026-12-31" {
			n++
		}
	}
	if h := pageHeaders(t, e.get(pays+"&page=2&per=10", tok)); h != [4]int{2, 10, n, (n + 9) / 10} {
		t.Fatalf("payrolls: headers %v, want total %d", h, n)
	}

	// Turned off: none of the four, on either endpoint; an empty collection
	// has zero pages.
	empty := e.company(gustosim.CompanyOptions{Employees: 0, Payrolls: 0})
	if h := pageHeaders(t, e.get("/v1/companies/"+empty.CompanyUUID+"/employees", empty.Token.AccessToken)); h != [4]int{1, 25, 0, 0} {
		t.Fatalf("no employees: headers %v", h)
	}
	e.sim.Update(func(c *gustosim.Config) { c.OmitPaginationHeaders = true })
	for _, p := range []string{emps + "?page=2&per=10", pays + "&page=1&per=10", pays} {
		r := e.get(p, tok)
		if h := pageHeaders(t, r); r.status != 200 || h != [4]int{-1, -1, -1, -1} {
			t.Fatalf("headers turned off: %s answered %d with %v", p, r.status, h)
		}
	}
}

func TestPayrollsPaginateByDefaultFrom20260615(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(gustosim.CompanyOptions{Employees: 2, Payrolls: 125})
	tok := g.Token.AccessToken
	q := "/v1/companies/" + g.CompanyUUID + "/payrolls?processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle&start_date=2025-12-01&end_date=2026-11-30"
	n := 0
	for _, p := range payrollRecords(t, e.sim, g.CompanyUUID) {
		if p.Start >= "2025-12-01" && p.End <= "2026-11-30" {
			n++
		}
	}
	if n <= 25 {
		t.Fatalf("only %d payrolls in the window: the test needs more than a page", n)
	}
	// Before 2026-06-15 (and without the header, at the minimum): every
	// matching payroll in one unpaginated answer.
	for _, v := range []string{"2025-11-15", "2026-02-01", ""} {
		r := e.getAt(v, q, tok)
		var items []json.RawMessage
		r.json(t, &items)
		if r.status != 200 || len(items) != n || pageHeaders(t, r) != [4]int{-1, -1, -1, -1} {
			t.Fatalf("version %q without page/per: %d, %d payrolls, headers %v; want all %d unpaginated", v, r.status, len(items), pageHeaders(t, r), n)
		}
	}
	// From 2026-06-15: page 1 of 25.
	r := e.getAt("2026-06-15", q, tok)
	var items []json.RawMessage
	r.json(t, &items)
	if len(items) != 25 || pageHeaders(t, r) != [4]int{1, 25, n, (n + 24) / 25} {
		t.Fatalf("2026-06-15 without page/per: %d payrolls, headers %v", len(items), pageHeaders(t, r))
	}
	// Page parameters paginate at any version.
	r = e.getAt("2025-11-15", q+"&per=10", tok)
	r.json(t, &items)
	if len(items) != 10 || pageHeaders(t, r) != [4]int{1, 10, n, (n + 9) / 10} {
		t.Fatalf("2025-11-15 with per=10: %d payrolls, headers %v", len(items), pageHeaders(t, r))
	}

	// payroll_status_meta of off-cycle payrolls: null initial_check_date and
	// payroll_late from 2026-06-15, dates and false before.
	meta := func(v string) map[bool][]map[string]any {
		r := e.getAt(v, q+"&per=100&include=payroll_status_meta", tok)
		var ps []struct {
			OffCycle bool           `json:"off_cycle"`
			Meta     map[string]any `json:"payroll_status_meta"`
		}
		r.json(t, &ps)
		out := map[bool][]map[string]any{}
		for _, p := range ps {
			out[p.OffCycle] = append(out[p.OffCycle], p.Meta)
		}
		return out
	}
	for _, v := range []string{"2025-11-15", "2026-06-15"} {
		m := meta(v)
		if len(m[true]) == 0 || len(m[false]) == 0 {
			t.Fatalf("%s: want regular and off-cycle payrolls in the window, got %d and %d", v, len(m[false]), len(m[true]))
		}
		for off, metas := range m {
			for _, x := range metas {
				wantNull := off && v == "2026-06-15"
				if (x["initial_check_date"] == nil) != wantNull || (x["payroll_late"] == nil) != wantNull || x["expected_check_date"] == nil {
					t.Fatalf("version %s off_cycle %v: payroll_status_meta %v", v, off, x)
				}
			}
		}
	}
}

// payrollRec is what the filter tests read of a payroll.
type payrollRec struct {
	UUID       string
	Start, End string // pay period
	Check      string
	Processed  bool
	OffCycle   bool
	Monthly    bool
	External   bool
	// Frequency is withholding_pay_period; Schedule is pay_schedule_uuid
	// ("" when null).
	Frequency string
	Schedule  string
}

func payrollRecords(t *testing.T, sim *gustosim.Sim, company string) []payrollRec {
	t.Helper()
	recs, err := sim.Records(company, "payrolls")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]payrollRec, 0, len(recs))
	for _, raw := range recs {
		var p struct {
			UUID      string `json:"payroll_uuid"`
			Check     string `json:"check_date"`
			Processed bool   `json:"processed"`
			OffCycle  bool   `json:"off_cycle"`
			External  bool   `json:"external"`
			Period    string `json:"withholding_pay_period"`
			PayPeriod struct {
				Start    string  `json:"start_date"`
				End      string  `json:"end_date"`
				Schedule *string `json:"pay_schedule_uuid"`
			} `json:"pay_period"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		rec := payrollRec{UUID: p.UUID, Start: p.PayPeriod.Start, End: p.PayPeriod.End, Check: p.Check, Processed: p.Processed,
			OffCycle: p.OffCycle, Monthly: p.Period == "Monthly", External: p.External, Frequency: p.Period}
		if p.PayPeriod.Schedule != nil {
			rec.Schedule = *p.PayPeriod.Schedule
		}
		out = append(out, rec)
	}
	return out
}

// readings are the filter readings, each with the test's own statement of
// which payrolls a [from, to] window returns (dates compare as strings).
var readings = map[gustosim.PayrollFilter]func(p payrollRec, from, to string) bool{
	gustosim.FilterWithin:  func(p payrollRec, from, to string) bool { return from <= p.Start && p.End <= to },
	gustosim.FilterStart:   func(p payrollRec, from, to string) bool { return from <= p.Start && p.Start <= to },
	gustosim.FilterOverlap: func(p payrollRec, from, to string) bool { return p.Start <= to && from <= p.End },
	gustosim.FilterCheckDate: func(p payrollRec, from, to string) bool {
		if p.Processed && !p.OffCycle && !p.External {
			return from <= p.Check && p.Check <= to
		}
		return from <= p.Start && p.End <= to // the reference: check_date applies to regular processed payrolls only
	},
}

// monthlyCompany creates a company with a monthly schedule (which one has is
// a function of the seed and the uuid: fixed uuids keep the test
// deterministic).
func (e *env) monthlyCompany(payrolls int) (gustosim.Grant, []payrollRec) {
	e.t.Helper()
	for i := 1; i < 100; i++ {
		g := e.company(gustosim.CompanyOptions{UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Employees: 2, Payrolls: payrolls})
		recs := payrollRecords(e.t, e.sim, g.CompanyUUID)
		if slices.ContainsFunc(recs, func(p payrollRec) bool { return p.Monthly }) {
			return g, recs
		}
	}
	e.t.Fatal("no company with a monthly schedule among 99")
	return gustosim.Grant{}, nil
}

const allPayrolls = "processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle"

func TestPayrollFilterReadings(t *testing.T) {
	for reading, in := range readings {
		t.Run(string(reading), func(t *testing.T) {
			e := newEnv(t, func(c *gustosim.Config) { c.PayrollFilter = reading })
			g, recs := e.monthlyCompany(125)
			// Hand-computed: the monthly periods around the 2025 window's
			// seams, 2024-12-16..2025-01-15 and 2025-12-16..2026-01-15, with
			// check dates 3 to 6 days after their ends.
			find := func(start string) payrollRec {
				for _, p := range recs {
					if p.Monthly && !p.OffCycle && p.Start == start {
						return p
					}
				}
				t.Fatalf("no regular monthly payroll for the period starting %s", start)
				return payrollRec{}
			}
			dec, decNext := find("2024-12-16"), find("2025-12-16")
			if dec.End != "2025-01-15" || decNext.End != "2026-01-15" || dec.Check < "2025-01-18" || dec.Check > "2025-01-21" || !dec.Processed {
				t.Fatalf("monthly periods: %+v, %+v", dec, decNext)
			}
			wantDec := map[gustosim.PayrollFilter][2]bool{ // in the window?: [2024-12-16 period, 2025-12-16 period]
				gustosim.FilterWithin:    {false, false},
				gustosim.FilterStart:     {false, true},
				gustosim.FilterOverlap:   {true, true},
				gustosim.FilterCheckDate: {true, false},
			}[reading]

			for _, by := range []string{"", "&date_filter_by=check_date"} {
				got := e.payrollUUIDs(g, allPayrolls+by+"&start_date=2025-01-01&end_date=2025-12-31")
				match := in
				if by != "" {
					match = readings[gustosim.FilterCheckDate]
					if reading != gustosim.FilterCheckDate { // the other payrolls keep the configured reading
						match = func(p payrollRec, from, to string) bool {
							if p.Processed && !p.OffCycle {
								return from <= p.Check && p.Check <= to
							}
							return in(p, from, to)
						}
					}
				}
				var want []string
				for _, p := range recs {
					if match(p, "2025-01-01", "2025-12-31") {
						want = append(want, p.UUID)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("window 2025%s: got %d payrolls, want %d (%v)", by, len(got), len(want), diff(got, want))
				}
				if by == "" && (slices.Contains(got, dec.UUID) != wantDec[0] || slices.Contains(got, decNext.UUID) != wantDec[1]) {
					t.Fatalf("window 2025: seam periods in it: %v, %v; want %v", slices.Contains(got, dec.UUID), slices.Contains(got, decNext.UUID), wantDec)
				}
			}
		})
	}
}

// diff names the uuids in one list and not the other.
func diff(got, want []string) string {
	var extra, missing []string
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	return fmt.Sprintf("extra %v, missing %v", extra, missing)
}

// Back-to-back one-year windows: the literal reading loses exactly the
// payrolls straddling a seam; the start reading partitions the history; the
// overlap reading returns a seam payroll twice.
func TestBackToBackWindowsPerReading(t *testing.T) {
	windows := [][2]string{{"2023-12-01", "2024-11-30"}, {"2024-12-01", "2025-11-30"}, {"2025-12-01", "2026-11-30"}, {"2026-12-01", "2027-03-10"}}
	for reading := range readings {
		t.Run(string(reading), func(t *testing.T) {
			e := newEnv(t, func(c *gustosim.Config) { c.PayrollFilter = reading })
			g, recs := e.monthlyCompany(125)
			seen := map[string]int{}
			for _, w := range windows {
				for _, id := range e.payrollUUIDs(g, allPayrolls+"&start_date="+w[0]+"&end_date="+w[1]) {
					seen[id]++
				}
			}
			var lost, twice int
			for _, p := range recs {
				straddles := false
				for _, w := range windows[1:] {
					straddles = straddles || p.Start < w[0] && w[0] <= p.End
				}
				want := 1
				switch {
				case straddles && reading == gustosim.FilterWithin:
					want = 0
				case straddles && reading == gustosim.FilterOverlap:
					want = 2
				case reading == gustosim.FilterCheckDate && p.Processed && !p.OffCycle:
					want = 1 // check dates partition
				case straddles && reading == gustosim.FilterCheckDate:
					want = 0 // unprocessed and off-cycle ones: the literal reading
				}
				if seen[p.UUID] != want {
					t.Fatalf("payroll %+v: in %d windows, want %d", p, seen[p.UUID], want)
				}
				lost += btoi(want == 0)
				twice += btoi(want == 2)
			}
			switch reading {
			case gustosim.FilterWithin:
				if lost == 0 {
					t.Fatal("no payroll straddles a seam: the test proves nothing")
				}
			case gustosim.FilterOverlap:
				if twice == 0 {
					t.Fatal("no payroll straddles a seam: the test proves nothing")
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestPayrollDateValidations(t *testing.T) {
	e := newEnv(t, nil) // Gusto's today: 2026-12-10
	g := e.company(gustosim.CompanyOptions{Employees: 2, Payrolls: 125})
	base := "/v1/companies/" + g.CompanyUUID + "/payrolls?" + allPayrolls
	for q, key := range map[string]string{
		"&start_date=2025-01-01&end_date=2026-01-02": "end_date",   // more than a year apart
		"&start_date=2026-12-01&end_date=2027-03-11": "end_date",   // more than 3 months ahead
		"&end_date=2027-04-01":                       "end_date",   // ahead, start defaulted
		"&start_date=2026-06-02&end_date=2026-06-01": "start_date", // start after end
		"&start_date=2026-06-31":                     "start_date", // not a date
		"&start_date=2024-01-01":                     "end_date",   // end defaults to today: 3 years
	} {
		r := e.get(base+q, g.Token.AccessToken)
		gotKey, cat := r.gustoError(t)
		if r.status != 422 || gotKey != key || cat != "invalid_parameter" {
			t.Errorf("%s: %d %s/%s, want 422 %s/invalid_parameter", q, r.status, gotKey, cat, key)
		}
	}
	for _, q := range []string{
		"&start_date=2025-01-01&end_date=2026-01-01", // exactly a year
		"&start_date=2026-12-01&end_date=2027-03-10", // exactly 3 months ahead
		"&start_date=2026-06-01&end_date=2026-06-01", // one day
	} {
		if r := e.get(base+q, g.Token.AccessToken); r.status != 200 {
			t.Errorf("%s: %d, want 200", q, r.status)
		}
	}

	// No filter: processed regular payrolls of the past six months (the
	// literal reading: pay period inside 2026-06-10..2026-12-10).
	var want []string
	for _, p := range payrollRecords(t, e.sim, g.CompanyUUID) {
		if p.Processed && !p.OffCycle && "2026-06-10" <= p.Start && p.End <= "2026-12-10" {
			want = append(want, p.UUID)
		}
	}
	if got := e.payrollUUIDs(g, "x=1"); len(want) < 10 || !slices.Equal(got, want) {
		t.Fatalf("default filters: %d payrolls, want %d: %s", len(got), len(want), diff(got, want))
	}
}

// The payroll history: about three years of biweekly and monthly pay
// periods straddling month and year boundaries, off-cycle payrolls, the
// current periods unprocessed; the same seed gives the same set.
func TestPayrollHistoryShape(t *testing.T) {
	e := newEnv(t, nil)
	today := "2026-12-10"
	var monthly, biweekly, offCycle, straddleMonth, straddleYear int
	for i := 0; i < 10; i++ {
		g := e.company(gustosim.CompanyOptions{Employees: 2, Payrolls: -1})
		recs := payrollRecords(t, e.sim, g.CompanyUUID)
		if len(recs) != gustosim.DefaultPayrolls {
			t.Fatalf("company %d: %d payrolls, want the count asked for", i, len(recs))
		}
		oldest, current := recs[0].Start, false
		for j, p := range recs {
			if p.Start > p.End || p.Check <= p.End || p.Check > addDays(t, p.End, 6) {
				t.Fatalf("payroll %+v: check date not a few days after the period", p)
			}
			if j > 0 && p.Check < recs[j-1].Check {
				t.Fatal("payrolls not in check-date order")
			}
			oldest = min(oldest, p.Start)
			if p.Processed != (addDays(t, p.Check, -2) <= today) {
				t.Fatalf("payroll %+v: processed two days before the check date, today %s", p, today)
			}
			current = current || !p.Processed && p.Start <= today && today <= p.End
			monthly += btoi(p.Monthly && !p.OffCycle)
			biweekly += btoi(!p.Monthly && !p.OffCycle)
			offCycle += btoi(p.OffCycle)
			straddleMonth += btoi(p.Start[:7] != p.End[:7])
			straddleYear += btoi(p.Start[:4] != p.End[:4])
		}
		if oldest < "2023-12-10" || oldest > "2025-06-01" || !current {
			t.Fatalf("company %d: history from %s (want about 2 to 3 years back, never more than 3); an unprocessed current period: %v", i, oldest, current)
		}
	}
	if monthly == 0 || biweekly == 0 || offCycle == 0 || straddleMonth == 0 || straddleYear == 0 {
		t.Fatalf("monthly %d, biweekly %d, off-cycle %d, straddling a month %d, a year %d: want some of each", monthly, biweekly, offCycle, straddleMonth, straddleYear)
	}

	// Small counts are the most recent payrolls; more than three years of
	// the schedules hold adds schedules rather than years.
	g := e.company(gustosim.CompanyOptions{Employees: 1, Payrolls: 1000})
	recs := payrollRecords(t, e.sim, g.CompanyUUID)
	if len(recs) != 1000 || recs[0].Start < "2023-12-10" {
		t.Fatalf("1000 payrolls: %d, oldest period %s", len(recs), recs[0].Start)
	}
	if _, err := e.sim.CreateCompany(gustosim.CompanyOptions{Payrolls: gustosim.MaxPayrolls + 1}); !errors.Is(err, gustosim.ErrInvalidOptions) {
		t.Fatalf("too many payrolls: %v", err)
	}
}

func addDays(t *testing.T, day string, n int) string {
	t.Helper()
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		t.Fatal(err)
	}
	return d.AddDate(0, 0, n).Format("2006-01-02")
}

func TestRateLimitScope(t *testing.T) {
	accountant := "a0000000-0000-4000-8000-00000000000a"
	setup := func(t *testing.T, scope gustosim.RateLimitScope) (*env, [3]gustosim.Grant) {
		e := newEnv(t, func(c *gustosim.Config) { c.RateLimit = 3; c.RateLimitScope = scope })
		a := e.company(gustosim.CompanyOptions{Employees: 1, Payrolls: 1, ResourceOwner: accountant})
		b := e.company(gustosim.CompanyOptions{Employees: 1, Payrolls: 1, ResourceOwner: accountant})
		c := e.company(gustosim.CompanyOptions{Employees: 1, Payrolls: 1})
		return e, [3]gustosim.Grant{a, b, c}
	}
	get := func(e *env, g gustosim.Grant) resp { return e.get("/v1/companies/"+g.CompanyUUID, g.Token.AccessToken) }

	t.Run("owner: an accountant's companies share one budget", func(t *testing.T) {
		e, gs := setup(t, gustosim.RateLimitPerOwner)
		for i, g := range []gustosim.Grant{gs[0], gs[1], gs[0]} {
			if r := get(e, g); r.status != 200 || r.header.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) {
				t.Fatalf("request %d: %d remaining %q", i, r.status, r.header.Get("X-RateLimit-Remaining"))
			}
		}
		if r := get(e, gs[1]); r.status != 429 || r.header.Get("Retry-After") == "" {
			t.Fatalf("4th request of the owner, on its other company: %d, want 429 with Retry-After", r.status)
		}
		if r := get(e, gs[2]); r.status != 200 {
			t.Fatalf("another owner's company: %d", r.status)
		}
	})
	t.Run("grant: each company its own budget", func(t *testing.T) {
		e, gs := setup(t, gustosim.RateLimitPerGrant)
		for i := 0; i < 3; i++ {
			if r := get(e, gs[0]); r.status != 200 {
				t.Fatalf("request %d: %d", i, r.status)
			}
		}
		if r := get(e, gs[1]); r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "2" {
			t.Fatalf("the owner's other company: %d remaining %q, want its own budget", r.status, r.header.Get("X-RateLimit-Remaining"))
		}
		if r := get(e, gs[0]); r.status != 429 {
			t.Fatalf("4th request of one grant: %d", r.status)
		}
	})
	t.Run("token_info and me name the resource owner", func(t *testing.T) {
		e, gs := setup(t, gustosim.RateLimitPerGrant)
		owners := map[string]bool{}
		for i, g := range gs {
			var info struct {
				Resource      struct{ Type, UUID string } `json:"resource"`
				ResourceOwner struct{ Type, UUID string } `json:"resource_owner"`
			}
			e.get("/v1/token_info", g.Token.AccessToken).json(t, &info)
			if info.Resource.UUID != g.CompanyUUID || info.ResourceOwner.Type != "CompanyAdmin" || (i < 2) != (info.ResourceOwner.UUID == accountant) {
				t.Fatalf("company %d: token_info %+v", i, info)
			}
			owners[info.ResourceOwner.UUID] = true
		}
		if len(owners) != 2 {
			t.Fatalf("owners %v: want the accountant and the third company's own", owners)
		}
		var me struct {
			UUID  string `json:"uuid"`
			Roles struct {
				PayrollAdmin struct {
					Companies []struct{ UUID string } `json:"companies"`
				} `json:"payroll_admin"`
			} `json:"roles"`
		}
		e.get("/v1/me", gs[1].Token.AccessToken).json(t, &me)
		if me.UUID != accountant || len(me.Roles.PayrollAdmin.Companies) != 2 {
			t.Fatalf("me: %+v", me)
		}
		if _, err := e.sim.CreateCompany(gustosim.CompanyOptions{ResourceOwner: "accountant-1"}); !errors.Is(err, gustosim.ErrInvalidOptions) {
			t.Fatalf("a resource owner that is not a uuid: %v", err)
		}
	})
}
