package gusto

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestParseAPIVersion(t *testing.T) {
	for _, good := range []string{"2026-06-15", "2025-11-15", "2024-02-29", "2000-01-01"} {
		if got, err := ParseAPIVersion(good); err != nil || got != good {
			t.Errorf("ParseAPIVersion(%q) = %q, %v", good, got, err)
		}
	}
	bad := map[string]string{
		"":                  "empty",
		"2026-6-15":         "not in the form YYYY-MM-DD",
		"2026/06/15":        "not in the form YYYY-MM-DD",
		" 2026-06-15":       "not in the form YYYY-MM-DD",
		"2026-06-15\n":      "not in the form YYYY-MM-DD",
		"v2026-06-15":       "not in the form YYYY-MM-DD",
		"20260615":          "not in the form YYYY-MM-DD",
		"2026-06-15T00:00Z": "not in the form YYYY-MM-DD",
		"latest":            "not in the form YYYY-MM-DD",
		"2026-13-01":        "not a calendar date",
		"2026-02-30":        "not a calendar date",
		"2025-02-29":        "not a calendar date",
		"2026-06-00":        "not a calendar date",
		"٢٠٢٦-٠٦-١٥":        "not in the form YYYY-MM-DD",
	}
	for in, want := range bad {
		_, err := ParseAPIVersion(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAPIVersion(%q) = %v, want an error saying %q", in, err, want)
		}
	}
	long := strings.Repeat("x", 200)
	if _, err := ParseAPIVersion(long); err == nil || strings.Contains(err.Error(), long) {
		t.Errorf("a long value is echoed whole: %v", err)
	}
}

func TestNewValidatesAPIVersion(t *testing.T) {
	c, err := New(Options{BaseURL: "https://api.gusto.test"})
	if err != nil || c.APIVersion() != DefaultAPIVersion {
		t.Fatalf("default: %v %v", c, err)
	}
	c, err = New(Options{BaseURL: "https://api.gusto.test", APIVersion: "2025-11-15"})
	if err != nil || c.APIVersion() != "2025-11-15" {
		t.Fatalf("configured: %v", err)
	}
	if _, err := New(Options{BaseURL: "https://api.gusto.test", APIVersion: "2025-02-30"}); err == nil || !strings.Contains(err.Error(), "APIVersion") && !strings.Contains(err.Error(), "API version") {
		t.Errorf("bad version: %v", err)
	}
}

// TestVersionHeaderOnEveryRequest: the configured version goes out on the
// token endpoint, token_info, me, company and list requests alike.
func TestVersionHeaderOnEveryRequest(t *testing.T) {
	const version = "2025-11-15"
	var mu sync.Mutex
	seen := map[string]string{}
	record := func(r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.Pattern] = r.Header.Get("X-Gusto-API-Version")
		mu.Unlock()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) { record(r); writeJSON(w, 200, tokenResponse) })
	mux.HandleFunc("GET /v1/token_info", func(w http.ResponseWriter, r *http.Request) { record(r); writeJSON(w, 200, tokenInfoJSON) })
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) { record(r); writeJSON(w, 200, meJSON) })
	mux.HandleFunc("GET /v1/companies/{id}", func(w http.ResponseWriter, r *http.Request) { record(r); writeJSON(w, 200, companyJSON(testCompany)) })
	mux.HandleFunc("GET /v1/companies/{id}/employees", func(w http.ResponseWriter, r *http.Request) { record(r); writeJSON(w, 200, `[]`) })
	mux.HandleFunc("GET /v1/companies/{id}/payrolls", func(w http.ResponseWriter, r *http.Request) { record(r); writeJSON(w, 200, `[]`) })
	c := newTestClient(t, mux, func(o *Options) { o.APIVersion = version })
	ctx, src := context.Background(), StaticToken(testAccess)
	if _, err := c.RefreshToken(ctx, testRefresh); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExchangeCode(ctx, testCode); err != nil {
		t.Fatal(err)
	}
	c.TokenInfo(ctx, testAccess)
	c.Me(ctx, testAccess)
	c.Company(ctx, src, testCompany)
	for range c.Employees(ctx, src, testCompany, PageOptions{}) {
	}
	for range c.Payrolls(ctx, src, testCompany, PayrollOptions{}) {
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 6 {
		t.Errorf("saw %d endpoints: %v", len(seen), seen)
	}
	for ep, v := range seen {
		if v != version {
			t.Errorf("%s sent X-Gusto-API-Version %q, want %q", ep, v, version)
		}
	}
}

// Gusto's 406 bodies: the {"name","message"} shape and the errors-array
// shape of https://docs.gusto.com/embedded-payroll/docs/error-categories.
const (
	body406Name   = `{"name":"Not Acceptable","message":"API version 2025-06-15 is no longer supported. Upgrade to 2026-06-15."}`
	body406Errors = `{"errors":[{"error_key":"request","category":"invalid_api_version","message":"Invalid API Version ` + "`2025-06-15`" + `"}]}`
)

func TestAPIVersionRefused(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		code   string
	}{
		{"406 name and message", 406, body406Name, "Not Acceptable"},
		{"406 errors array", 406, body406Errors, "request"},
		{"406 without a body", 406, "", ""},
		{"406 with an invalid_grant body", 406, `{"error":"invalid_grant","error_description":"x"}`, "invalid_grant"},
		{"406 html", 406, "<html>" + testRefresh + "</html>", ""},
		{"invalid_api_version under another status", 400, body406Errors, "request"},
		{"deprecated_endpoint", 404, `{"errors":[{"error_key":"request","category":"deprecated_endpoint","message":"The requested endpoint is no longer supported in the requested API version."}]}`, "request"},
	}
	calls := map[string]func(c *Client) error{
		"token":    func(c *Client) error { _, err := c.RefreshToken(context.Background(), testRefresh); return err },
		"exchange": func(c *Client) error { _, err := c.ExchangeCode(context.Background(), testCode); return err },
		"company": func(c *Client) error {
			_, err := c.Company(context.Background(), &rotatingSource{tokens: []string{testAccess, "other"}}, testCompany)
			return err
		},
		"employees": func(c *Client) error {
			for _, err := range c.Employees(context.Background(), StaticToken(testAccess), testCompany, PageOptions{}) {
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	for _, tc := range cases {
		for name, call := range calls {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				var n atomic.Int32
				c := newTestClient(t, answering(&n, tc.status, nil, tc.body), func(o *Options) { o.APIVersion = "2025-06-15" })
				err := call(c)
				e := as[*APIVersionError](t, err)
				if e.Version != "2025-06-15" || e.StatusCode != tc.status || e.Code != tc.code {
					t.Errorf("APIVersionError %+v", e)
				}
				var ig *InvalidGrantError
				var ue *UnauthorizedError
				var fe *ForbiddenError
				var ms *MissingScopeError
				if errors.As(err, &ig) || errors.As(err, &ue) || errors.As(err, &fe) || errors.As(err, &ms) || Transient(err) {
					t.Errorf("%T classified as an auth failure or transient: %v", err, err)
				}
				if !strings.Contains(err.Error(), "API version 2025-06-15") {
					t.Errorf("error does not name the version: %v", err)
				}
				assertNoSecret(t, "error", err.Error())
				if n.Load() != 1 {
					t.Errorf("%d requests, want 1 (no retry, no invalidate)", n.Load())
				}
			})
		}
	}
}

func TestMissingScope(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header map[string]string
		body   string
		scopes []string // nil: a *MissingScopeError is not expected
		other  func(t *testing.T, err error)
	}{
		{name: "403 missing_permissions", status: 403,
			body:   `{"errors":[{"error_key":"base","category":"missing_permissions","message":"Missing permissions for employees:read."}]}`,
			scopes: []string{"employees:read"}},
		{name: "404 missing_permissions (Gusto's documented example)", status: 404,
			body:   `{"errors":[{"error_key":"request","category":"missing_permissions","message":"This endpoint is part of Gusto Embedded. Please contact us if you'd like to use it for production."}]}`,
			scopes: []string{}},
		{name: "metadata names the scopes", status: 403,
			body:   `{"errors":[{"error_key":"request","category":"missing_permissions","message":"no","metadata":{"missing_scopes":["payrolls:read","companies:read"],"scope":"employees:read payrolls:read"}}]}`,
			scopes: []string{"companies:read", "employees:read", "payrolls:read"}},
		{name: "error_key spelling", status: 403, body: `{"errors":[{"error_key":"invalid_scope","category":"invalid_operation","message":"x"}]}`, scopes: []string{}},
		{name: "OAuth insufficient_scope body", status: 403, body: `{"error":"insufficient_scope","error_description":"requires payrolls:read","scope":"payrolls:read"}`,
			scopes: []string{"payrolls:read"}},
		{name: "Bearer challenge", status: 403, header: map[string]string{"WWW-Authenticate": `Bearer realm="gusto", error="insufficient_scope", scope="employees:read"`},
			scopes: []string{"employees:read"}},
		{name: "401 with a marker is a missing scope, not retried", status: 401,
			body:   `{"errors":[{"error_key":"request","category":"missing_permissions","message":"token lacks companies:read"}]}`,
			scopes: []string{"companies:read"}},
		{name: "secret-shaped scopes dropped", status: 403,
			body:   `{"errors":[{"category":"missing_permissions","metadata":{"scopes":["` + testAccess + `","abc:` + testAccess + `","x:y:z","UP:read","employees:read"]}}]}`,
			scopes: []string{"employees:read"}},
		{name: "bare 403 is the edge's, transient", status: 403, other: func(t *testing.T, err error) {
			if as[*EdgeError](t, err); !Transient(err) {
				t.Errorf("%v is not transient", err)
			}
		}},
		{name: "403 html is the edge's", status: 403, body: "<html>missing_permissions</html>", other: func(t *testing.T, err error) { as[*EdgeError](t, err) }},
		{name: "403 other category stays forbidden", status: 403, body: `{"errors":[{"error_key":"base","category":"forbidden","message":"Missing scope companies:read"}]}`,
			other: func(t *testing.T, err error) { as[*ForbiddenError](t, err) }},
		{name: "404 not_found stays an HTTPError", status: 404, body: `{"errors":[{"error_key":"request","category":"not_found","message":"Not found"}]}`,
			other: func(t *testing.T, err error) {
				if e := as[*HTTPError](t, err); e.StatusCode != 404 {
					t.Errorf("%+v", e)
				}
			}},
		{name: "422 with a marker is not a missing scope", status: 422, body: `{"errors":[{"category":"missing_permissions"}]}`,
			other: func(t *testing.T, err error) { as[*HTTPError](t, err) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			c := newTestClient(t, answering(&n, tc.status, tc.header, tc.body), nil)
			src := &rotatingSource{tokens: []string{testAccess, "other"}}
			_, err := c.Company(context.Background(), src, testCompany)
			var ms *MissingScopeError
			isScope := errors.As(err, &ms)
			if tc.scopes == nil {
				if isScope {
					t.Fatalf("classified as a missing scope: %v", err)
				}
				tc.other(t, err)
				return
			}
			if !isScope {
				t.Fatalf("error %T %v, want *MissingScopeError", err, err)
			}
			if !slices.Equal(ms.Scopes, tc.scopes) && !(len(ms.Scopes) == 0 && len(tc.scopes) == 0) {
				t.Errorf("Scopes %q, want %q", ms.Scopes, tc.scopes)
			}
			var ue *UnauthorizedError
			var fe *ForbiddenError
			if Transient(err) || errors.As(err, &ue) || errors.As(err, &fe) || ms.StatusCode != tc.status || ms.Op != opCompany {
				t.Errorf("classification of %+v", ms)
			}
			if n.Load() != 1 || len(src.invalidated) != 0 {
				t.Errorf("%d requests, invalidated %v: a missing scope was retried", n.Load(), src.invalidated)
			}
			assertNoSecret(t, "error", err.Error())
		})
	}
}

func TestBearerChallenge(t *testing.T) {
	cases := map[string]map[string]string{
		`Bearer error="insufficient_scope", scope="a:read b:write"`: {"error": "insufficient_scope", "scope": "a:read b:write"},
		`bearer realm="x",error=invalid_token`:                      {"realm": "x", "error": "invalid_token"},
		`Bearer error="a\"b"`:                                       {"error": `a"b`},
		`Bearer error="unterminated`:                                {},
		`Basic realm="x"`:                                           nil,
		`Bearer`:                                                    {},
		`Bearer error="insufficient_scope", garbage here, scope="x"`: {"error": "insufficient_scope"},
	}
	for in, want := range cases {
		got := bearerChallenge(http.Header{"Www-Authenticate": {in}})
		if len(got) != len(want) || (want == nil) != (got == nil) {
			t.Errorf("bearerChallenge(%q) = %v, want %v", in, got, want)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("bearerChallenge(%q)[%s] = %q, want %q", in, k, got[k], v)
			}
		}
	}
}

func TestTokenCreatedAt(t *testing.T) {
	const base = `{"access_token":"a","refresh_token":"r","expires_in":7200`
	good := map[string]int64{
		``:                                          0,
		`,"created_at":null`:                        0,
		`,"created_at":""`:                          0,
		`,"created_at":1767644464`:                  1767644464,
		`,"created_at":1767644464.0`:                1767644464,
		`,"created_at":"1767644464"`:                1767644464,
		`,"created_at":"2026-01-05T20:21:04Z"`:      1767644464,
		`,"created_at":"2026-01-05T21:21:04+01:00"`: 1767644464,
		`,"created_at":"2026-01-05T20:21:04.75Z"`:   1767644464,
	}
	for field, want := range good {
		tok, err := decodeToken([]byte(base + field + `}`))
		if err != nil || tok.CreatedAt != want {
			t.Errorf("created_at %s: %d, %v; want %d", field, tok.CreatedAt, err, want)
		}
	}
	bad := []string{`"yesterday"`, `"2026-01-05"`, `"2026-01-05 20:21:04"`, `"0x10"`, `"1e3x"`, `true`, `{}`, `[1]`, `-5`, `"1969-12-31T23:59:59Z"`, `1767644464.5`, `"` + testAccess + `"`}
	c := newTestClient(t, nil, nil)
	for _, v := range bad {
		body := base + `,"created_at":` + v + `}`
		c.hc.Transport = cannedTransport{status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(body)}
		_, err := c.RefreshToken(context.Background(), testRefresh)
		me := as[*MalformedResponseError](t, err)
		if !strings.Contains(me.Reason, "created_at") {
			t.Errorf("created_at %s: reason %q does not name the field", v, me.Reason)
		}
		assertNoSecret(t, "error", err.Error())
	}
}

func TestMoney(t *testing.T) {
	good := map[string]Money{
		`"1234.56"`: "1234.56", `"-12"`: "-12", `"0.10"`: "0.10", `""`: "", `null`: "",
		`1234.56`: "1234.56", `1234.50`: "1234.50", `0`: "0", `-0.5`: "-0.5",
		`1.5e3`: "1500", `25E-2`: "0.25", `-1.25e+1`: "-12.5", `1e-3`: "0.001", `0e5`: "0", `-0.0e1`: "0",
	}
	for in, want := range good {
		var m Money
		if err := json.Unmarshal([]byte(in), &m); err != nil || m != want {
			t.Errorf("Money(%s) = %q, %v; want %q", in, m, err, want)
		}
	}
	for _, in := range []string{`"12,34"`, `"1e3"`, `".5"`, `"5."`, `"$5"`, `" 5"`, `"NaN"`, `true`, `{}`, `[1]`, `1e400`, `1e-31`} {
		var m Money
		err := json.Unmarshal([]byte(in), &m)
		if err == nil {
			t.Errorf("Money(%s) = %q, want an error", in, m)
			continue
		}
		if !strings.Contains(err.Error(), "money") {
			t.Errorf("Money(%s): error %q does not say money", in, err)
		}
	}
}

// TestPayroll20260615: a payroll as API version 2026-06-15 sends it
// decodes: money as strings or numbers, payroll_status_meta with null
// fields (off-cycle), fields the client does not know.
func TestPayroll20260615(t *testing.T) {
	body := `[{"payroll_uuid":"p1","company_uuid":"` + testCompany + `","off_cycle":true,"auto_payroll":false,"reimbursements":[],` +
		`"totals":{"gross_pay":"1234.56","net_pay":1000.5,"company_debit":null,"new_total":"7"},` +
		`"payroll_status_meta":{"cancellable":true,"expected_check_date":"2026-07-01","initial_check_date":null,"payroll_late":null},` +
		`"employee_compensations":[{"uuid":"c1","gross_pay":"100.00"}]},` +
		`{"payroll_uuid":"p2","payroll_status_meta":{"initial_check_date":"2026-07-01","payroll_late":false}}]`
	ps, err := decodeList[Payroll]([]byte(body), testCompany)
	if err != nil || len(ps) != 2 {
		t.Fatalf("%v %v", ps, err)
	}
	p := ps[0]
	if p.Totals == nil || p.Totals.GrossPay != "1234.56" || p.Totals.NetPay != "1000.5" || p.Totals.CompanyDebit != "" {
		t.Errorf("totals %+v", p.Totals)
	}
	if m := p.StatusMeta; m == nil || m.InitialCheckDate != "" || m.PayrollLate != nil || m.Cancellable == nil || !*m.Cancellable || m.ExpectedCheckDate != "2026-07-01" {
		t.Errorf("status meta %+v", p.StatusMeta)
	}
	if m := ps[1].StatusMeta; m == nil || m.InitialCheckDate != "2026-07-01" || m.PayrollLate == nil || *m.PayrollLate || ps[1].Totals != nil {
		t.Errorf("second payroll %+v", ps[1])
	}
	if _, err := decodeList[Payroll]([]byte(`[{"payroll_uuid":"p1","totals":{"gross_pay":"lots"}}]`), testCompany); err == nil || !strings.Contains(err.Error(), "money") {
		t.Errorf("bad money: %v", err)
	}
}
