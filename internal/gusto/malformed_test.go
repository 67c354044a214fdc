package gusto

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// endpointCall runs one client method and returns what it produced: the
// decoded value (or the pages of a list walk) and the error.
type endpointCall struct {
	name, op string
	// object endpoints answer one JSON object, list endpoints an array.
	list  bool
	valid string
	call  func(c *Client) (any, error)
}

func endpointCalls() []endpointCall {
	ctx := context.Background()
	src := StaticToken(testAccess)
	walk := func(seq func(yield func(any, error) bool)) (any, error) {
		var got []any
		var errs []error
		n := 0
		seq(func(p any, err error) bool {
			n++
			if err != nil {
				errs = append(errs, err)
			} else {
				got = append(got, p)
			}
			return n < 3 // the fake server answers every page alike
		})
		switch {
		case len(errs) > 1:
			return got, errors.New("more than one error yielded")
		case len(errs) == 1 && len(got) > 0:
			return got, errors.Join(errors.New("pages yielded before the error"), errs[0])
		case len(errs) == 1:
			return nil, errs[0]
		}
		return got, nil
	}
	return []endpointCall{
		{"refresh", opToken, false, tokenResponse, func(c *Client) (any, error) { return c.RefreshToken(ctx, testRefresh) }},
		{"exchange", opToken, false, tokenResponse, func(c *Client) (any, error) { return c.ExchangeCode(ctx, testCode) }},
		{"token_info", opTokenInfo, false, tokenInfoJSON, func(c *Client) (any, error) { return c.TokenInfo(ctx, testAccess) }},
		{"me", opMe, false, meJSON, func(c *Client) (any, error) { return c.Me(ctx, testAccess) }},
		{"company", opCompany, false, companyJSON(testCompany), func(c *Client) (any, error) { return c.Company(ctx, src, testCompany) }},
		{"employees", opEmployees, true, jsonArray(0, 2, employeeJSON, testCompany), func(c *Client) (any, error) {
			return walk(func(y func(any, error) bool) {
				for p, err := range c.Employees(ctx, src, testCompany, PageOptions{Per: 3}) {
					if !y(p, err) {
						return
					}
				}
			})
		}},
		{"payrolls", opPayrolls, true, jsonArray(0, 2, payrollJSON, testCompany), func(c *Client) (any, error) {
			return walk(func(y func(any, error) bool) {
				for p, err := range c.Payrolls(ctx, src, testCompany, PayrollOptions{PageOptions: PageOptions{Per: 3}}) {
					if !y(p, err) {
						return
					}
				}
			})
		}},
	}
}

func TestMalformedBodies(t *testing.T) {
	const limit = 4 << 10
	big := strings.Repeat("x", limit)
	common := map[string]string{
		"empty":         "",
		"blank":         "  \n ",
		"not JSON":      "not json " + testAccess,
		"html":          "<html><body>Service " + testRefresh + "</body></html>",
		"null":          "null",
		"number":        "42",
		"string":        `"` + testSecret + `"`,
		"open brace":    "{",
		"open bracket":  "[",
		"trailing junk": "{} {}",
	}
	perEndpoint := map[string]map[string]string{
		"refresh": {
			"array":              `[]`,
			"no access_token":    `{"refresh_token":"r","expires_in":7200}`,
			"empty access_token": `{"access_token":"","refresh_token":"r","expires_in":7200}`,
			"no refresh_token":   `{"access_token":"` + testAccess + `","expires_in":7200}`,
			"no expires_in":      `{"access_token":"a","refresh_token":"r"}`,
			"zero expires_in":    `{"access_token":"a","refresh_token":"r","expires_in":0}`,
			"negative expires":   `{"access_token":"a","refresh_token":"r","expires_in":-60}`,
			"fractional expires": `{"access_token":"a","refresh_token":"r","expires_in":7200.5}`,
			"huge expires":       `{"access_token":"a","refresh_token":"r","expires_in":1e300}`,
			"word expires":       `{"access_token":"` + testAccess + `","refresh_token":"` + testRefresh + `","expires_in":"soon"}`,
			"wrong type":         `{"access_token":12345,"refresh_token":"r","expires_in":7200}`,
			"object token":       `{"access_token":{"v":"` + testAccess + `"},"refresh_token":"r","expires_in":7200}`,
			"mac token":          `{"access_token":"a","refresh_token":"r","expires_in":7200,"token_type":"mac"}`,
			"negative created":   `{"access_token":"a","refresh_token":"r","expires_in":7200,"created_at":-1}`,
			"oversized":          `{"access_token":"` + big + `","refresh_token":"r","expires_in":7200}`,
		},
		"token_info": {
			"array":         `[]`,
			"scope number":  `{"scope":5}`,
			"resource text": `{"resource":"Company"}`,
			"oversized":     `{"scope":"` + big + `"}`,
		},
		"me": {
			"array":     `[{"uuid":"u"}]`,
			"oversized": `{"email":"` + big + `"}`,
		},
		"company": {
			"array":         `[` + companyJSON(testCompany) + `]`,
			"no uuid":       `{"name":"Shoppe"}`,
			"empty uuid":    `{"uuid":""}`,
			"uuid number":   `{"uuid":5}`,
			"other company": `{"uuid":"c7a07c73-a703-4462-9343-1b181182b6e0"}`,
			"name array":    `{"uuid":"` + testCompany + `","name":["a"]}`,
			"oversized":     `{"uuid":"` + testCompany + `","name":"` + big + `"}`,
		},
		"employees": {
			"object":          `{}`,
			"errors object":   `{"errors":[]}`,
			"null item":       `[null]`,
			"number item":     `[1]`,
			"no uuid":         `[{"first_name":"A"}]`,
			"bool as string":  `[{"uuid":"e1","terminated":"no"}]`,
			"version number":  `[{"uuid":"e1","version":3}]`,
			"other company":   `[{"uuid":"e1","company_uuid":"c7a07c73-a703-4462-9343-1b181182b6e0"}]`,
			"good then bad":   `[` + employeeJSON(0, testCompany) + `,{"first_name":"no uuid"}]`,
			"truncated item":  `[{"uuid":"e1"`,
			"oversized":       `[{"uuid":"e1","first_name":"` + big + `"}]`,
			"oversized items": jsonArray(0, 10, employeeJSON, testCompany),
		},
		"payrolls": {
			"object":          `{}`,
			"no id":           `[{"check_date":"2025-06-08"}]`,
			"ids differ":      `[{"payroll_uuid":"p1","uuid":"p2"}]`,
			"pay_period text": `[{"payroll_uuid":"p1","pay_period":"2025-05"}]`,
			"processed text":  `[{"payroll_uuid":"p1","processed":"yes"}]`,
			"good then bad":   `[` + payrollJSON(0, testCompany) + `,3]`,
		},
	}
	perEndpoint["exchange"] = perEndpoint["refresh"]

	for _, ep := range endpointCalls() {
		bodies := map[string]string{"truncated valid body": ep.valid[:len(ep.valid)/2]}
		for k, v := range common {
			bodies[k] = v
		}
		for k, v := range perEndpoint[ep.name] {
			bodies[k] = v
		}
		if len(perEndpoint[ep.name]) == 0 {
			t.Fatalf("no endpoint-specific bodies for %s", ep.name)
		}
		for name, body := range bodies {
			t.Run(ep.name+"/"+name, func(t *testing.T) {
				c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 200, body)
				}), func(o *Options) { o.MaxBodyBytes = limit })
				got, err := ep.call(c)
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				var me *MalformedResponseError
				if !errors.As(err, &me) {
					t.Fatalf("error %T %v, want *MalformedResponseError", err, err)
				}
				if me.Op != ep.op || me.StatusCode != 200 || me.Reason == "" {
					t.Errorf("MalformedResponseError %+v", me)
				}
				if got != nil && !reflect.ValueOf(got).IsZero() {
					t.Errorf("partial result with the error: %+v", got)
				}
				if strings.HasPrefix(name, "oversized") && !errors.Is(err, ErrBodyTooLarge) {
					t.Errorf("oversized body: %v does not wrap ErrBodyTooLarge", err)
				}
				assertNoSecret(t, "error", err.Error())
				if strings.Contains(err.Error(), "Boaty") || strings.Contains(err.Error(), "Shoppe") {
					t.Errorf("error echoes the body: %v", err)
				}
			})
		}
		t.Run(ep.name+"/valid", func(t *testing.T) {
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, ep.valid) }), nil)
			if _, err := ep.call(c); err != nil {
				t.Fatalf("valid body refused: %v", err)
			}
		})
	}
}

func TestTokenResponseLeniency(t *testing.T) {
	for _, body := range []string{
		`{"access_token":"a","refresh_token":"r","expires_in":7200.0}`,
		`{"access_token":"a","refresh_token":"r","expires_in":"7200","token_type":"bearer"}`,
		`{"access_token":"a","refresh_token":"r","expires_in":300,"created_at":1767644464.0,"unknown":[1,2]}`,
	} {
		tok, err := decodeToken([]byte(body))
		if err != nil || tok.ExpiresIn <= 0 || tok.AccessToken != "a" || tok.RefreshToken != "r" {
			t.Errorf("decodeToken(%s) = %v, %v", body, tok, err)
		}
	}
}
