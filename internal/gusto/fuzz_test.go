package gusto

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// cannedTransport answers every request with the same status, headers and
// body, without a network.
type cannedTransport struct {
	status int
	header http.Header
	body   []byte
}

func (ct cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    ct.status,
		Status:        http.StatusText(ct.status),
		Header:        ct.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(ct.body)),
		ContentLength: -1,
		Request:       r,
		Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// fuzzEndpoints is the number of decoding paths FuzzDecodeResponse drives:
// refresh, code exchange, token_info, me, company, employees, payrolls.
const fuzzEndpoints = 7

// FuzzDecodeResponse feeds an arbitrary status, Retry-After (also sent as
// WWW-Authenticate), Date, pagination headers and body to each decoding path
// of the client and checks its invariants: no panic; an error is always one
// of the client's typed errors and never contains a credential (even when
// the body echoes one); a 406 is an *APIVersionError and not transient; a
// success has a 2xx status and every required field; a list walk yields at
// most one error and never after a page, and ends only where Page.Last says.
//
// pagination is "X-Page,X-Per-Page,X-Total-Count,X-Total-Pages", each sent
// when not empty.
func FuzzDecodeResponse(f *testing.F) {
	date := t0.Format(http.TimeFormat)
	seeds := []struct {
		endpoint   uint8
		status     int
		retry      string
		body       string
		pagination string
	}{
		{0, 200, "", tokenResponse, ""},
		{1, 200, "", tokenResponse, ""},
		{0, 200, "", `{"access_token":"a","refresh_token":"r","expires_in":7200.0,"created_at":"1767644464"}`, ""},
		{0, 400, "", `{"error":"invalid_grant","error_description":"token ` + testRefresh + ` revoked"}`, ""},
		{0, 401, "", `{"error":"invalid_client"}`, ""},
		{0, 429, "30", ``, ""},
		{0, 503, t0.Add(time.Minute).Format(http.TimeFormat), `<html></html>`, ""},
		{2, 200, "", tokenInfoJSON, ""},
		{2, 200, "", `{"scope":null,"resource":null,"resource_owner":null}`, ""},
		{3, 200, "", meJSON, ""},
		{3, 200, "", `{"companies":[{"uuid":"c1"},null,3],"roles":{"x":{"companies":[{"uuid":"c1"}]}}}`, ""},
		{4, 200, "", companyJSON(testCompany), ""},
		{4, 403, "", `{"errors":[{"error_key":"base","category":"forbidden","message":"missing scope for ` + testAccess + `"}]}`, ""},
		{4, 404, "", `{"errors":[{"error_key":"request","category":"not_found","message":"The requested resource was not found."}]}`, ""},
		{5, 200, "", jsonArray(0, 3, employeeJSON, testCompany), ""},
		{5, 200, "", jsonArray(0, 2, employeeJSON, testCompany), ""},
		{5, 200, "", `[{"uuid":"e1","terminated":"no"}]`, ""},
		{5, 429, "1.5", `{"errors":"x"}`, ""},
		{6, 200, "", jsonArray(0, 2, payrollJSON, testCompany), ""},
		{6, 200, "", `[{"payroll_uuid":"p1","uuid":"p2"}]`, ""},
		{6, 200, "", `[]`, ""},
		{6, 500, "", `{"message":"` + testSecret + `"}`, ""},
		// API version 2026-06-15 and its refusals.
		{0, 200, "", `{"access_token":"a","refresh_token":"r","expires_in":7200,"created_at":"2026-01-05T20:21:04Z"}`, ""},
		{1, 200, "", `{"access_token":"a","refresh_token":"r","expires_in":7200,"created_at":"yesterday"}`, ""},
		{0, 406, "", `{"name":"Not Acceptable","message":"API version 2025-06-15 is no longer supported"}`, ""},
		{0, 406, "", `{"error":"invalid_grant"}`, ""},
		{4, 406, "", `{"errors":[{"error_key":"request","category":"invalid_api_version","message":"Invalid API Version"}]}`, ""},
		{4, 404, "", `{"errors":[{"error_key":"request","category":"deprecated_endpoint","message":"gone"}]}`, ""},
		{4, 403, "", `{"errors":[{"error_key":"base","category":"missing_permissions","message":"needs employees:read","metadata":{"scopes":["employees:read","` + testAccess + `"]}}]}`, ""},
		{5, 404, "", `{"errors":[{"error_key":"request","category":"missing_permissions","message":"This endpoint is part of Gusto Embedded."}]}`, ""},
		{5, 401, `Bearer error="insufficient_scope", scope="employees:read payrolls:read"`, `{}`, ""},
		{4, 403, "", ``, ""},
		{6, 200, "", `[{"payroll_uuid":"p1","totals":{"gross_pay":1234.5,"net_pay":"1000.00"},"payroll_status_meta":{"initial_check_date":null,"payroll_late":null}}]`, ""},
		{6, 200, "", `[{"payroll_uuid":"p1","totals":{"gross_pay":true}}]`, ""},
		{6, 200, "", `[{"payroll_uuid":"p1","totals":{"net_pay":1e400}}]`, ""},
		// Pagination headers: consistent, mismatched, garbage.
		{5, 200, "", jsonArray(0, 3, employeeJSON, testCompany), "1,3,7,3"},
		{5, 200, "", jsonArray(0, 2, employeeJSON, testCompany), "1,3,2,1"},
		{6, 200, "", jsonArray(0, 2, payrollJSON, testCompany), "2,25,100,4"},
		{6, 200, "", `[]`, "1,3,9,3"},
		{5, 200, "", jsonArray(0, 3, employeeJSON, testCompany), "x,-3,,99999999999999999999"},
	}
	for _, s := range seeds {
		f.Add(s.endpoint, s.status, s.retry, date, s.pagination, []byte(s.body))
	}
	f.Add(uint8(4), 200, "", "", "", []byte(`{"uuid":"`+testCompany+`"`))
	f.Add(uint8(5), 302, "", "garbage", ",,,", []byte(`[{"uuid":"\u0000"}]`))

	f.Fuzz(func(t *testing.T, endpoint uint8, status int, retry, date, pagination string, body []byte) {
		if status < 100 || status > 599 {
			status = 100 + (status%500+500)%500
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if retry != "" {
			h.Set("Retry-After", retry)
			h.Set("WWW-Authenticate", retry)
		}
		if date != "" {
			h.Set("Date", date)
		}
		for i, v := range strings.SplitN(pagination, ",", 4) {
			if v != "" {
				h.Set([]string{"X-Page", "X-Per-Page", "X-Total-Count", "X-Total-Pages"}[i], v)
			}
		}
		c, err := New(Options{BaseURL: "https://api.gusto.test", ClientID: "client-id", ClientSecret: testSecret,
			MaxBodyBytes: 1 << 16, Now: func() time.Time { return t0 },
			HTTPClient: &http.Client{Transport: cannedTransport{status: status, header: h, body: body}}})
		if err != nil {
			t.Fatal(err)
		}
		ep := endpointCalls()[int(endpoint)%fuzzEndpoints]
		got, err := ep.call(c)
		if err != nil {
			checkFuzzError(t, ep, status, err)
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("%s: status %d accepted", ep.name, status)
		}
		checkFuzzSuccess(t, ep, got)
	})
}

func checkFuzzError(t *testing.T, ep endpointCall, status int, err error) {
	var he *HTTPError
	var me *MalformedResponseError
	var te *TransportError
	switch {
	case errors.As(err, &me):
		if me.Op != ep.op || me.Reason == "" {
			t.Fatalf("%s: malformed error %+v", ep.name, me)
		}
	case errors.As(err, &he):
		if he.Op != ep.op || he.StatusCode != status || (status >= 200 && status <= 299) {
			t.Fatalf("%s: status %d gave HTTPError %+v", ep.name, status, he)
		}
		if len(he.Message) > maxMessageBytes+len("…") {
			t.Fatalf("%s: message of %d bytes", ep.name, len(he.Message))
		}
	case errors.As(err, &te):
		t.Fatalf("%s: transport error from an in-memory transport: %v", ep.name, err)
	default:
		t.Fatalf("%s: untyped error %T: %v", ep.name, err, err)
	}
	if d := RetryAfter(err); d < 0 || d > maxRetryAfter {
		t.Fatalf("%s: RetryAfter %v", ep.name, d)
	}
	var ve *APIVersionError
	if isVersion := errors.As(err, &ve); status == http.StatusNotAcceptable && !isVersion {
		t.Fatalf("%s: 406 gave %T: %v", ep.name, err, err)
	}
	if ve != nil && (Transient(err) || ve.Version != DefaultAPIVersion) {
		t.Fatalf("%s: APIVersionError %+v transient %v", ep.name, ve, Transient(err))
	}
	var ig *InvalidGrantError
	if errors.As(err, &ig) && status == http.StatusNotAcceptable {
		t.Fatalf("%s: 406 classified as invalid_grant", ep.name)
	}
	var ms *MissingScopeError
	if errors.As(err, &ms) {
		if ms.StatusCode != 401 && ms.StatusCode != 403 && ms.StatusCode != 404 || Transient(err) || len(ms.Scopes) > maxScopes {
			t.Fatalf("%s: MissingScopeError %+v", ep.name, ms)
		}
		for _, sc := range ms.Scopes {
			if !scopeName(sc, secrets) {
				t.Fatalf("%s: scope %q kept", ep.name, sc)
			}
		}
	}
	msg := err.Error()
	for _, sec := range secrets {
		if strings.Contains(msg, sec) {
			t.Fatalf("%s: error contains a credential: %q", ep.name, msg)
		}
	}
}

func checkFuzzSuccess(t *testing.T, ep endpointCall, got any) {
	switch v := got.(type) {
	case Token:
		if v.AccessToken == "" || v.RefreshToken == "" || v.ExpiresIn <= 0 || v.ExpiresIn > maxExpiresIn || v.CreatedAt < 0 {
			t.Fatalf("%s: token without required fields: %v", ep.name, v)
		}
	case TokenInfo:
	case Me:
		if !json.Valid(v.Raw) || bytes.TrimSpace(v.Raw)[0] != '{' {
			t.Fatalf("me: Raw is not a JSON object")
		}
		for _, co := range v.Companies {
			if co.UUID == "" {
				t.Fatalf("me: company without uuid")
			}
		}
	case Company:
		if v.UUID == "" || !strings.EqualFold(v.UUID, testCompany) || !json.Valid(v.Raw) {
			t.Fatalf("company: %+v", v)
		}
	case []any:
		if len(v) == 0 {
			t.Fatalf("%s: a walk ended with neither a page nor an error", ep.name)
		}
		for i, p := range v {
			switch pg := p.(type) {
			case Page[Employee]:
				checkPage(t, i, len(v), pg.Number, pg.Per, len(pg.Items), pg.Last, pg.PageHeaders, pg.Mismatch)
				for _, e := range pg.Items {
					if e.UUID == "" || !sameCompany(e.CompanyUUID, testCompany) || !json.Valid(e.Raw) {
						t.Fatalf("employee: %+v", e)
					}
				}
			case Page[Payroll]:
				checkPage(t, i, len(v), pg.Number, pg.Per, len(pg.Items), pg.Last, pg.PageHeaders, pg.Mismatch)
				for _, p := range pg.Items {
					if p.UUID == "" || !sameCompany(p.CompanyUUID, testCompany) || !json.Valid(p.Raw) {
						t.Fatalf("payroll: %+v", p)
					}
					if p.Totals != nil && (!validMoney(p.Totals.GrossPay) || !validMoney(p.Totals.NetPay)) {
						t.Fatalf("payroll totals: %+v", *p.Totals)
					}
				}
			default:
				t.Fatalf("%s: page of type %T", ep.name, p)
			}
		}
	default:
		t.Fatalf("%s: result of type %T", ep.name, got)
	}
}

// checkPage checks page i of a walk of n pages (the walk stops at 3): pages
// are numbered from 1 with the per asked for; an empty page is last; a last
// page ends the walk; without X-Total-Pages only an empty page is last; an
// empty page before X-Total-Pages is reported; headers are -1 or served
// values.
func checkPage(t *testing.T, i, n, number, per, items int, last bool, h PageHeaders, mismatch string) {
	t.Helper()
	bad := number != i+1 || per != 3 || (items == 0 && !last) || (last && i != n-1) ||
		(!h.HasTotals() && last != (items == 0)) ||
		(h.HasTotals() && items == 0 && number < h.TotalPages && mismatch == "") ||
		h.ServedPage < -1 || h.PerPage < -1 || h.TotalCount < -1 || h.TotalPages < -1
	if bad {
		t.Fatalf("page %d of %d: number %d per %d items %d last %v headers %+v mismatch %q", i, n, number, per, items, last, h, mismatch)
	}
}

// validMoney reports whether m is empty or a plain decimal.
func validMoney(m Money) bool { return m == "" || plainDecimal(string(m)) }
