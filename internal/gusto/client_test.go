package gusto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// Credentials the tests plant; none may ever appear in an error or a log.
// Shaped like Gusto's (43 characters of base64url).
const (
	testSecret  = "secret-3aQSHRB3596nZhm6NdNBELZ1u9xbZmvCrKp"
	testRefresh = "refresh-iEjL96L9Pndwmi-xVX3Q-xbrvvhnjHYGX87"
	testAccess  = "access-As8qKfNObHbwe7abbJqF0WUF6iCQoIW2R664"
	testCode    = "code-qr6L_9FRkbMVL_GdwvrMW6Ef8tcU6NUxjWpOfqX"
)

var secrets = []string{testSecret, testRefresh, testAccess, testCode}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestClient(t *testing.T, h http.Handler, mod func(*Options)) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o := Options{
		BaseURL:      srv.URL,
		ClientID:     "client-id",
		ClientSecret: testSecret,
		RedirectURI:  "https://app.example.com/oauth/callback",
		Now:          func() time.Time { return t0 },
	}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// assertNoSecret fails when s contains any planted credential.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			t.Errorf("%s contains a credential: %q", what, s)
		}
	}
}

// answering is a handler that counts requests in n and answers each with
// status, header and body.
func answering(n *atomic.Int32, status int, header map[string]string, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

const tokenResponse = `{"access_token":"new-access","token_type":"Bearer","expires_in":7200,"created_at":1767644464,` +
	`"refresh_token":"new-refresh","scope":"companies:read employees:read payrolls:read"}`

func TestNewValidatesOptions(t *testing.T) {
	for _, base := range []string{"", "api.gusto.com", "ftp://api.gusto.com", "https://user:pw@api.gusto.com", "https://api.gusto.com?x=1", "http://"} {
		if _, err := New(Options{BaseURL: base}); err == nil {
			t.Errorf("New(BaseURL %q) succeeded, want an error", base)
		}
	}
	if _, err := New(Options{BaseURL: "https://api.gusto.com", MaxBodyBytes: -1}); err == nil {
		t.Error("New with negative MaxBodyBytes succeeded")
	}
	if _, err := New(Options{BaseURL: "https://api.gusto-demo.com/"}); err != nil {
		t.Errorf("New with a valid BaseURL: %v", err)
	}
}

func TestRefreshTokenRequestAndResponse(t *testing.T) {
	type seen struct {
		method, path, rawQuery, uri, auth, version, accept, ctype string
		body                                                      map[string]string
	}
	var got seen
	var n atomic.Int32
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		got = seen{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, uri: r.RequestURI,
			auth: r.Header.Get("Authorization"), version: r.Header.Get("X-Gusto-API-Version"),
			accept: r.Header.Get("Accept"), ctype: r.Header.Get("Content-Type")}
		if err := json.NewDecoder(r.Body).Decode(&got.body); err != nil {
			t.Errorf("token request body is not a JSON object of strings: %v", err)
		}
		w.Header().Set("Date", t0.Add(90*time.Second).Format(http.TimeFormat))
		writeJSON(w, 200, tokenResponse)
	}), nil)

	tok, err := c.RefreshToken(context.Background(), testRefresh)
	if err != nil {
		t.Fatalf("RefreshToken: %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("requests = %d, want 1", n.Load())
	}
	if got.method != http.MethodPost || got.path != "/oauth/token" {
		t.Errorf("request = %s %s, want POST /oauth/token", got.method, got.path)
	}
	if got.rawQuery != "" || strings.Contains(got.uri, testSecret) || strings.Contains(got.uri, testRefresh) {
		t.Errorf("credentials or a query in the token URL: %q", got.uri)
	}
	if got.auth != "" {
		t.Errorf("token request carries an Authorization header")
	}
	if got.version != DefaultAPIVersion || got.accept != "application/json" || got.ctype != "application/json" {
		t.Errorf("headers: version %q accept %q content-type %q", got.version, got.accept, got.ctype)
	}
	want := map[string]string{"grant_type": "refresh_token", "refresh_token": testRefresh, "client_id": "client-id",
		"client_secret": testSecret, "redirect_uri": "https://app.example.com/oauth/callback"}
	for k, v := range want {
		if got.body[k] != v {
			t.Errorf("body[%s] = %q, want %q", k, got.body[k], v)
		}
	}
	if tok.AccessToken != "new-access" || tok.RefreshToken != "new-refresh" || tok.ExpiresIn != 7200 ||
		tok.CreatedAt != 1767644464 || tok.TokenType != "Bearer" || len(tok.Scopes()) != 3 {
		t.Errorf("token = %+v", tok)
	}
	if !tok.ServerDate.Equal(t0.Add(90*time.Second)) || !tok.ReceivedAt.Equal(t0) {
		t.Errorf("ServerDate %v ReceivedAt %v", tok.ServerDate, tok.ReceivedAt)
	}
	if got := c.Skew(); got != 90*time.Second+500*time.Millisecond || tok.Skew != got {
		t.Errorf("Skew = %v, token carries %v; want 90.5s both", got, tok.Skew)
	}
}

// TestMeasureSkew pins the one skew formula: the Date header, centred in
// its second, minus the midpoint of the round trip.
func TestMeasureSkew(t *testing.T) {
	date := t0.Add(90 * time.Second)
	for _, c := range []struct {
		start, end time.Time
		want       time.Duration
	}{
		{t0, t0, 90500 * time.Millisecond},
		{t0, t0.Add(2 * time.Second), 89500 * time.Millisecond},                       // midpoint t0+1s
		{t0.Add(-time.Minute), t0.Add(-time.Minute), 150500 * time.Millisecond},       // we are behind
		{t0.Add(3 * time.Minute), t0.Add(3 * time.Minute), -89500 * time.Millisecond}, // Gusto is behind
	} {
		if got := measureSkew(date, c.start, c.end); got != c.want {
			t.Errorf("measureSkew(Date %s, %s…%s) = %s, want %s", date, c.start, c.end, got, c.want)
		}
	}
}

func TestExchangeCode(t *testing.T) {
	var body map[string]string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&body)
		if r.URL.RawQuery != "" {
			t.Errorf("query on token request: %q", r.URL.RawQuery)
		}
		writeJSON(w, 200, tokenResponse)
	}), nil)
	tok, err := c.ExchangeCode(context.Background(), testCode)
	if err != nil {
		t.Fatalf("ExchangeCode: %v", err)
	}
	if body["grant_type"] != "authorization_code" || body["code"] != testCode || body["client_secret"] != testSecret ||
		body["redirect_uri"] == "" || body["refresh_token"] != "" {
		t.Errorf("body = %v", body)
	}
	if tok.RefreshToken != "new-refresh" {
		t.Errorf("token = %v", tok)
	}
}

func TestTokenRequestNeedsClientCredentials(t *testing.T) {
	var n atomic.Int32
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }), func(o *Options) { o.ClientSecret = "" })
	if _, err := c.RefreshToken(context.Background(), testRefresh); err == nil {
		t.Fatal("RefreshToken without a client secret succeeded")
	}
	if n.Load() != 0 {
		t.Errorf("a request was sent without client credentials")
	}
}

func TestAuthorizeURL(t *testing.T) {
	c, err := New(Options{BaseURL: "https://api.gusto-demo.com", ClientID: "cid", ClientSecret: testSecret, RedirectURI: "https://app/cb"})
	if err != nil {
		t.Fatal(err)
	}
	raw := c.AuthorizeURL("st@te", []string{"companies:read", "employees:read"})
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "https" || u.Host != "api.gusto-demo.com" || u.Path != "/oauth/authorize" {
		t.Errorf("authorize URL %q", raw)
	}
	want := map[string]string{"client_id": "cid", "redirect_uri": "https://app/cb", "response_type": "code", "state": "st@te", "scope": "companies:read employees:read"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	assertNoSecret(t, "authorize URL", raw)
	if q := must(url.Parse(c.AuthorizeURL("s", nil))).Query(); q.Has("scope") {
		t.Errorf("empty scope list still sent: %v", q)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// errorCase is one status answer and how it must be classified.
type errorCase struct {
	name   string
	status int
	header map[string]string
	body   string
	check  func(t *testing.T, err error)
}

func as[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %T (%v) is not a %T", err, err, target)
	}
	return target
}

// notGrant fails when an answer was read as a refused grant.
func notGrant(t *testing.T, err error) {
	t.Helper()
	var ig *InvalidGrantError
	if errors.As(err, &ig) {
		t.Errorf("%v classified as invalid_grant", err)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	cases := []errorCase{
		{name: "invalid_grant", status: 400, body: `{"error":"invalid_grant","error_description":"The refresh token ` + testRefresh + ` is revoked"}`,
			check: func(t *testing.T, err error) {
				e := as[*InvalidGrantError](t, err)
				if e.Code != "invalid_grant" || e.StatusCode != 400 || !strings.Contains(e.Message, "[redacted]") {
					t.Errorf("InvalidGrantError %+v", e)
				}
			}},
		{name: "invalid_grant as 401", status: 401, body: `{"error":"invalid_grant"}`, check: func(t *testing.T, err error) { as[*InvalidGrantError](t, err) }},
		// RFC 6749 §5.2: the token endpoint's 401 is client authentication;
		// one with no OAuth body is a gateway's or a WAF's answer. Neither
		// is a verdict on the grant.
		{name: "401 without body", status: 401, check: func(t *testing.T, err error) { notGrant(t, as[*EdgeError](t, err)) }},
		{name: "401 html", status: 401, body: `<html>401 Authorization Required</html>`, check: func(t *testing.T, err error) { notGrant(t, as[*EdgeError](t, err)) }},
		{name: "403 WAF", status: 403, body: `{"message":"Request blocked"}`, check: func(t *testing.T, err error) { notGrant(t, as[*EdgeError](t, err)) }},
		{name: "invalid_client", status: 401, body: `{"error":"invalid_client","error_description":"Client authentication failed: ` + testSecret + `"}`,
			check: func(t *testing.T, err error) {
				var ig *InvalidGrantError
				if errors.As(err, &ig) {
					t.Errorf("invalid_client classified as invalid_grant")
				}
				if e := as[*HTTPError](t, err); e.Code != "invalid_client" || e.StatusCode != 401 {
					t.Errorf("HTTPError %+v", e)
				}
			}},
		{name: "429 seconds", status: 429, header: map[string]string{"Retry-After": "17"},
			check: func(t *testing.T, err error) {
				if e := as[*RateLimitedError](t, err); e.RetryAfter != 17*time.Second || RetryAfter(err) != 17*time.Second {
					t.Errorf("RetryAfter = %v", e.RetryAfter)
				}
			}},
		{name: "429 date", status: 429, header: map[string]string{"Date": t0.Format(http.TimeFormat), "Retry-After": t0.Add(2 * time.Minute).Format(http.TimeFormat)},
			check: func(t *testing.T, err error) {
				if e := as[*RateLimitedError](t, err); e.RetryAfter != 2*time.Minute {
					t.Errorf("RetryAfter = %v, want 2m", e.RetryAfter)
				}
			}},
		{name: "500", status: 500, body: `<html>oops ` + testRefresh + `</html>`, check: func(t *testing.T, err error) {
			if e := as[*ServerError](t, err); e.Message != "" {
				t.Errorf("a non-JSON body was echoed: %q", e.Message)
			}
		}},
		{name: "503 retry-after", status: 503, header: map[string]string{"Retry-After": "5"},
			check: func(t *testing.T, err error) {
				if RetryAfter(err) != 5*time.Second {
					t.Errorf("RetryAfter = %v", RetryAfter(err))
				}
			}},
		{name: "invalid_request", status: 400, body: `{"error":"invalid_request"}`, check: func(t *testing.T, err error) {
			if e := as[*HTTPError](t, err); e.Code != "invalid_request" {
				t.Errorf("code %q", e.Code)
			}
			var ig *InvalidGrantError
			if errors.As(err, &ig) {
				t.Error("invalid_request classified as invalid_grant")
			}
		}},
		{name: "redirect not followed", status: 307, header: map[string]string{"Location": "/elsewhere"}, check: func(t *testing.T, err error) {
			if e := as[*HTTPError](t, err); e.StatusCode != 307 {
				t.Errorf("status %d", e.StatusCode)
			}
		}},
	}
	transient := map[string]bool{"429 seconds": true, "429 date": true, "500": true, "503 retry-after": true,
		"401 without body": true, "401 html": true, "403 WAF": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			c := newTestClient(t, answering(&n, tc.status, tc.header, tc.body), nil)
			tok, err := c.RefreshToken(context.Background(), testRefresh)
			if err == nil {
				t.Fatalf("RefreshToken succeeded with %+v", tok)
			}
			tc.check(t, err)
			assertNoSecret(t, "error", err.Error())
			if Transient(err) != transient[tc.name] {
				t.Errorf("Transient = %v", Transient(err))
			}
			if n.Load() != 1 {
				t.Errorf("token endpoint called %d times, want exactly 1 (no retry)", n.Load())
			}
			if !strings.Contains(err.Error(), opToken) {
				t.Errorf("error %q does not name the op", err)
			}
		})
	}
}

func TestRetryAfterParsing(t *testing.T) {
	date := t0.Add(3 * time.Minute).Format(http.TimeFormat)
	cases := []struct {
		value      string
		serverDate time.Time
		skew       time.Duration
		want       time.Duration
	}{
		{"", time.Time{}, 0, 0},
		{"0", time.Time{}, 0, 0},
		{"-3", time.Time{}, 0, 0},
		{"2.5", time.Time{}, 0, 2500 * time.Millisecond},
		{"soon", time.Time{}, 0, 0},
		{"99999999999999", time.Time{}, 0, maxRetryAfter},
		{date, t0, 0, 3 * time.Minute},                         // against the response's Date
		{date, time.Time{}, 0, 3 * time.Minute},                // against local now
		{date, time.Time{}, time.Minute, 2 * time.Minute},      // local now corrected by skew
		{t0.Add(-time.Hour).Format(http.TimeFormat), t0, 0, 0}, // in the past
		{t0.Add(1000 * time.Hour).Format(http.TimeFormat), t0, 0, maxRetryAfter},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.value != "" {
			h.Set("Retry-After", tc.value)
		}
		if got := retryAfter(h, tc.serverDate, t0, tc.skew); got != tc.want {
			t.Errorf("retryAfter(%q, date %v, skew %v) = %v, want %v", tc.value, tc.serverDate, tc.skew, got, tc.want)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	cases := []errorCase{
		{name: "401", status: 401, body: `{"message":"token ` + testAccess + ` expired"}`, check: func(t *testing.T, err error) {
			if e := as[*UnauthorizedError](t, err); e.StatusCode != 401 {
				t.Errorf("%+v", e)
			}
		}},
		{name: "403 missing scope", status: 403,
			body: `{"errors":[{"error_key":"base","category":"forbidden","message":"Missing scope companies:read for ` + testAccess + `"}]}`,
			check: func(t *testing.T, err error) {
				e := as[*ForbiddenError](t, err)
				if e.Code != "base" || e.Category != "forbidden" || !strings.Contains(e.Message, "Missing scope companies:read") {
					t.Errorf("ForbiddenError %+v", e)
				}
			}},
		{name: "404", status: 404, body: `{"errors":[{"error_key":"request","category":"not_found","message":"The requested resource was not found."}]}`,
			check: func(t *testing.T, err error) {
				if e := as[*HTTPError](t, err); e.Code != "request" || e.Category != "not_found" || e.StatusCode != 404 {
					t.Errorf("HTTPError %+v", e)
				}
			}},
		{name: "429", status: 429, header: map[string]string{"Retry-After": "42", "X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0"},
			check: func(t *testing.T, err error) {
				if e := as[*RateLimitedError](t, err); e.RetryAfter != 42*time.Second {
					t.Errorf("RetryAfter %v", e.RetryAfter)
				}
			}},
		{name: "429 date", status: 429, header: map[string]string{"Date": t0.Format(http.TimeFormat), "Retry-After": t0.Add(61 * time.Second).Format(http.TimeFormat)},
			check: func(t *testing.T, err error) {
				if e := as[*RateLimitedError](t, err); e.RetryAfter != 61*time.Second {
					t.Errorf("RetryAfter %v", e.RetryAfter)
				}
			}},
		{name: "500 html", status: 500, body: "<html>" + strings.Repeat("x", 100<<10) + "</html>", check: func(t *testing.T, err error) {
			if e := as[*ServerError](t, err); e.Message != "" {
				t.Errorf("HTML echoed: %q", e.Message)
			}
		}},
		{name: "502", status: 502, check: func(t *testing.T, err error) { as[*ServerError](t, err) }},
		{name: "long message truncated", status: 422, body: `{"errors":[{"error_key":"base","category":"invalid_operation","message":"` + strings.Repeat("é", 500) + `"}]}`,
			check: func(t *testing.T, err error) {
				e := as[*HTTPError](t, err)
				if len(e.Message) > maxMessageBytes+len("…") || !strings.HasSuffix(e.Message, "…") {
					t.Errorf("message of %d bytes not truncated", len(e.Message))
				}
			}},
	}
	transient := map[string]bool{"429": true, "429 date": true, "500 html": true, "502": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tc.status, tc.body)
			}), nil)
			co, err := c.Company(context.Background(), StaticToken(testAccess), testCompany)
			if err == nil {
				t.Fatalf("Company succeeded: %+v", co)
			}
			if co.UUID != "" || co.Raw != nil {
				t.Errorf("partial result with an error: %+v", co)
			}
			tc.check(t, err)
			assertNoSecret(t, "error", err.Error())
			if Transient(err) != transient[tc.name] {
				t.Errorf("Transient = %v", Transient(err))
			}
			if e := as[*HTTPError](t, err); e.Op != "GET /v1/companies/{company_id}" {
				t.Errorf("Op = %q", e.Op)
			}
			if strings.Contains(err.Error(), testCompany) {
				t.Errorf("error names the path, not the template: %v", err)
			}
		})
	}
}

func TestAPIRequestHeaders(t *testing.T) {
	var auth, version, accept, path string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, version, accept, path = r.Header.Get("Authorization"), r.Header.Get("X-Gusto-API-Version"), r.Header.Get("Accept"), r.URL.Path
		writeJSON(w, 200, companyJSON(testCompany))
	}), nil)
	co, err := c.Company(context.Background(), StaticToken(testAccess), testCompany)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer "+testAccess || version != DefaultAPIVersion || accept != "application/json" || path != "/v1/companies/"+testCompany {
		t.Errorf("auth %q version %q accept %q path %q", auth, version, accept, path)
	}
	if co.UUID != testCompany || co.Name != "Shoppe Studios LLC" || co.TradeName != "Record Shoppe" || co.CompanyStatus != "Approved" || co.EIN != "00-0000001" {
		t.Errorf("company %+v", co)
	}
	if !json.Valid(co.Raw) || !bytes.Equal(co.Raw, []byte(companyJSON(testCompany))) {
		t.Errorf("Raw is not the exact body: %s", co.Raw)
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		c, err := New(Options{BaseURL: base})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Company(context.Background(), StaticToken(testAccess), testCompany)
		e := as[*TransportError](t, err)
		if e.Op != opCompany || !Transient(err) {
			t.Errorf("TransportError %+v transient %v", e, Transient(err))
		}
		assertNoSecret(t, "error", err.Error())
	})
	t.Run("context cancelled mid-request", func(t *testing.T) {
		arrived, release := make(chan struct{}), make(chan struct{})
		c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // the server watches the connection only once the body is read
			close(arrived)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}), nil)
		t.Cleanup(func() { close(release) }) // runs before the server's Close
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		_, err := c.RefreshToken(ctx, testRefresh)
		as[*TransportError](t, err)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v does not wrap context.Canceled", err)
		}
	})
	t.Run("body cut short", func(t *testing.T) {
		c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5000")
			w.WriteHeader(200)
			io.WriteString(w, `{"uuid":"`+testCompany+`"`)
		}), nil)
		_, err := c.Company(context.Background(), StaticToken(testAccess), testCompany)
		if e := as[*MalformedResponseError](t, err); !errors.Is(e, ErrTruncatedBody) {
			t.Errorf("MalformedResponseError %+v does not wrap ErrTruncatedBody", e)
		}
	})
	t.Run("error body cut short keeps its status", func(t *testing.T) {
		c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5000")
			w.Header().Set("Retry-After", "9")
			w.WriteHeader(503)
			io.WriteString(w, `{"errors":[`)
		}), nil)
		_, err := c.Company(context.Background(), StaticToken(testAccess), testCompany)
		if e := as[*ServerError](t, err); e.RetryAfter != 9*time.Second || !Transient(err) {
			t.Errorf("ServerError %+v", e)
		}
	})
}

// rotatingSource hands out tokens in order; Invalidate moves to the next one
// when the refused token is the current one.
type rotatingSource struct {
	mu          sync.Mutex
	tokens      []string
	i           int
	calls       int
	invalidated []string
	invErr      error
}

func (s *rotatingSource) AccessToken(ctx context.Context, company string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.tokens[s.i], nil
}

func (s *rotatingSource) Invalidate(ctx context.Context, company, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, token)
	if s.invErr != nil {
		return s.invErr
	}
	if token == s.tokens[s.i] && s.i+1 < len(s.tokens) {
		s.i++
	}
	return nil
}

func TestUnauthorizedInvalidatesAndRetriesOnce(t *testing.T) {
	handler := func(n *atomic.Int32) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			if r.Header.Get("Authorization") != "Bearer good" {
				writeJSON(w, 401, "")
				return
			}
			writeJSON(w, 200, companyJSON(testCompany))
		})
	}
	t.Run("new token works", func(t *testing.T) {
		var n atomic.Int32
		c := newTestClient(t, handler(&n), nil)
		src := &rotatingSource{tokens: []string{"stale", "good"}}
		co, err := c.Company(context.Background(), src, testCompany)
		if err != nil {
			t.Fatal(err)
		}
		if co.UUID != testCompany || n.Load() != 2 || src.calls != 2 || len(src.invalidated) != 1 || src.invalidated[0] != "stale" {
			t.Errorf("requests %d, token calls %d, invalidated %v", n.Load(), src.calls, src.invalidated)
		}
	})
	t.Run("second 401 is returned", func(t *testing.T) {
		var n atomic.Int32
		c := newTestClient(t, handler(&n), nil)
		src := &rotatingSource{tokens: []string{"bad-1", "bad-2", "good"}}
		_, err := c.Company(context.Background(), src, testCompany)
		as[*UnauthorizedError](t, err)
		if n.Load() != 2 || len(src.invalidated) != 1 || src.invalidated[0] != "bad-1" {
			t.Errorf("requests %d, invalidated %v; want 2 requests, one invalidation", n.Load(), src.invalidated)
		}
		if strings.Contains(err.Error(), "bad-") {
			t.Errorf("token in error: %v", err)
		}
	})
	t.Run("no invalidator", func(t *testing.T) {
		var n atomic.Int32
		c := newTestClient(t, handler(&n), nil)
		_, err := c.Company(context.Background(), StaticToken("stale"), testCompany)
		as[*UnauthorizedError](t, err)
		if n.Load() != 1 {
			t.Errorf("requests %d, want 1", n.Load())
		}
	})
	t.Run("invalidate fails", func(t *testing.T) {
		var n atomic.Int32
		c := newTestClient(t, handler(&n), nil)
		boom := errors.New("store down")
		src := &rotatingSource{tokens: []string{"stale", "good"}, invErr: boom}
		_, err := c.Company(context.Background(), src, testCompany)
		if !errors.Is(err, boom) || n.Load() != 1 {
			t.Errorf("err %v, requests %d", err, n.Load())
		}
	})
}

type countingLimiter struct {
	n, done atomic.Int32
	err     error
	mu      sync.Mutex
	seen    []RateHeaders
}

func (l *countingLimiter) Wait(ctx context.Context, company string) (Permit, error) {
	l.n.Add(1)
	if company != testCompany {
		return nil, errors.New("limiter asked for the wrong company " + company)
	}
	if l.err != nil {
		return nil, l.err
	}
	return countingPermit{l}, nil
}

type countingPermit struct{ l *countingLimiter }

func (p countingPermit) Done(_ context.Context, h RateHeaders) {
	p.l.done.Add(1)
	p.l.mu.Lock()
	p.l.seen = append(p.l.seen, h)
	p.l.mu.Unlock()
}

func TestLimiter(t *testing.T) {
	var requests atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, tokenResponse) })
	mux.HandleFunc("GET /v1/companies/{id}/employees", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		n := 10
		if page == 3 {
			n = 3
		}
		w.Header().Set("X-Total-Pages", "3")
		w.Header().Set("X-RateLimit-Limit", "200")
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(200-page))
		w.Header().Set("X-RateLimit-Reset", time.Now().Add(30*time.Second).Format("2006-01-02 15:04:05 -0700"))
		writeJSON(w, 200, jsonArray((page-1)*10, n, employeeJSON, testCompany))
	})
	lim := &countingLimiter{}
	c := newTestClient(t, mux, func(o *Options) { o.Limiter = lim })
	if _, err := c.RefreshToken(context.Background(), testRefresh); err != nil {
		t.Fatal(err)
	}
	if lim.n.Load() != 0 {
		t.Errorf("Limiter consulted for a token request")
	}
	for _, err := range c.Employees(context.Background(), StaticToken(testAccess), testCompany, PageOptions{Per: 10}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if lim.n.Load() != 3 || requests.Load() != 3 || lim.done.Load() != 3 {
		t.Errorf("Limiter waits %d and permits done %d for %d requests, want 3, 3 and 3", lim.n.Load(), lim.done.Load(), requests.Load())
	}
	for i, h := range lim.seen {
		if !h.Complete() || h.Limit != 200 || h.Remaining != 199-i || h.Status != 200 || h.ResetIn < 29*time.Second || h.ResetIn > 32*time.Second {
			t.Errorf("permit %d done with %+v, want the response's rate-limit headers", i, h)
		}
	}

	full := errors.New("limiter: context done")
	lim2 := &countingLimiter{err: full}
	c2 := newTestClient(t, mux, func(o *Options) { o.Limiter = lim2 })
	_, err := c2.Company(context.Background(), StaticToken(testAccess), testCompany)
	if !errors.Is(err, full) || requests.Load() != 3 {
		t.Errorf("err %v, requests %d: a request was sent although the limiter refused", err, requests.Load())
	}
}

func TestSkewMeasuredOnEveryResponse(t *testing.T) {
	var mu sync.Mutex
	var measured []time.Duration
	offset := atomic.Int64{}
	var logs bytes.Buffer
	var logMu sync.Mutex
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", t0.Add(time.Duration(offset.Load())).Format(http.TimeFormat))
		switch r.URL.Path {
		case "/oauth/token":
			writeJSON(w, 400, `{"error":"invalid_grant"}`)
		default:
			writeJSON(w, 500, `{}`)
		}
	}), func(o *Options) {
		o.OnSkew = func(d time.Duration) { mu.Lock(); measured = append(measured, d); mu.Unlock() }
		o.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	offset.Store(int64(-45 * time.Second))
	c.RefreshToken(context.Background(), testRefresh)
	if got := c.Skew(); got != -44500*time.Millisecond {
		t.Errorf("Skew after an error answer = %v, want -44.5s", got)
	}
	offset.Store(int64(2 * time.Second))
	c.Company(context.Background(), StaticToken(testAccess), testCompany)
	if got := c.Skew(); got != 2500*time.Millisecond {
		t.Errorf("Skew = %v, want 2.5s", got)
	}
	mu.Lock()
	if len(measured) != 2 || measured[0] != -44500*time.Millisecond {
		t.Errorf("OnSkew saw %v", measured)
	}
	mu.Unlock()
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if strings.Count(out, "skew with gusto above threshold") != 1 || strings.Count(out, "level=ERROR msg=\"clock skew with gusto above threshold") != 1 ||
		!strings.Contains(out, "skew with gusto back within threshold") {
		t.Errorf("skew above the threshold not logged once at error level, or its return not logged:\n%s", out)
	}
	assertNoSecret(t, "log output", out)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestTokenInfoAndMe(t *testing.T) {
	lim := &countingLimiter{}
	var auths []string
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/token_info", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		writeJSON(w, 200, tokenInfoJSON)
	})
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, meJSON) })
	c := newTestClient(t, mux, func(o *Options) { o.Limiter = lim })
	ti, err := c.TokenInfo(context.Background(), testAccess)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Resource == nil || ti.Resource.Type != "Company" || ti.Resource.UUID != testCompany || ti.ResourceOwner == nil || ti.Scope == "" {
		t.Errorf("token info %+v", ti)
	}
	if len(auths) != 1 || auths[0] != "Bearer "+testAccess {
		t.Errorf("Authorization %v", auths)
	}
	me, err := c.Me(context.Background(), testAccess)
	if err != nil {
		t.Fatal(err)
	}
	if me.Email != "admin@example.com" || len(me.Companies) != 2 || me.Companies[0].UUID != testCompany ||
		me.Companies[0].Name != "Shoppe Studios LLC" || len(me.Companies[0].Roles) != 2 || me.Companies[1].Name != "Other" {
		t.Errorf("me %+v", me)
	}
	if lim.n.Load() != 0 {
		t.Errorf("onboarding calls waited on the limiter")
	}
}

func TestMeIsTolerant(t *testing.T) {
	for _, body := range []string{`{}`, `{"uuid":5,"roles":"x","companies":{"a":1}}`, `{"companies":[{"uuid":"c1","name":7},{"name":"no id"},3]}`,
		`{"roles":{"payroll_admin":null,"employee":{"companies":"x"}}}`} {
		m, err := decodeMe([]byte(body))
		if err != nil {
			t.Errorf("decodeMe(%s): %v", body, err)
		}
		if string(m.Raw) != body {
			t.Errorf("Raw %s", m.Raw)
		}
	}
	m, _ := decodeMe([]byte(`{"companies":[{"uuid":"c1","name":7},{"name":"no id"},3]}`))
	if len(m.Companies) != 1 || m.Companies[0].UUID != "c1" || m.Companies[0].Name != "" {
		t.Errorf("companies %+v", m.Companies)
	}
}

func TestRedactOpaque(t *testing.T) {
	cases := map[string]string{
		"The requested resource was not found.":                     "The requested resource was not found.",
		"invalid_attribute_value on payroll_status_meta":            "invalid_attribute_value on payroll_status_meta",
		"employee 3601a7a2-0562-4e4c-9559-20886658daac not found":   "employee 3601a7a2-0562-4e4c-9559-20886658daac not found",
		"token iEjL96L9Pndwmi-xVX3Q-xbrvvhnjHYGX87sopgGJ8E revoked": "token [redacted] revoked",
		"As8qKfNObHbwe7abbJqF0WUF6iCQoIW2R664TFzXd-A":               "[redacted]",
		"short a1b2c3": "short a1b2c3",
	}
	for in, want := range cases {
		if got := redactOpaque(in); got != want {
			t.Errorf("redactOpaque(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanNeverLeaksASecret(t *testing.T) {
	s := clean("a\x00b "+testAccess+" sec\x01ret \xff", 200, []string{testAccess, "secret"})
	if strings.Contains(s, testAccess) || strings.Contains(s, "secret") || strings.ContainsAny(s, "\x00\x01") || !utf8.ValidString(s) {
		t.Errorf("clean = %q", s)
	}
}

// TestSkewIgnoresOneBadDate (#13: skew from the last single response): one
// answer whose Date header is an hour off does not move the estimate, which
// follows a real change of Gusto's clock once most recent answers agree.
func TestSkewIgnoresOneBadDate(t *testing.T) {
	var offset atomic.Int64
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", t0.Add(time.Duration(offset.Load())).Format(http.TimeFormat))
		writeJSON(w, 500, `{}`)
	}), nil)
	call := func(d time.Duration) {
		offset.Store(int64(d))
		c.Company(context.Background(), StaticToken(testAccess), testCompany)
	}
	for range 5 {
		call(0)
	}
	call(time.Hour)
	if got := c.Skew(); got != 500*time.Millisecond {
		t.Fatalf("Skew after one bad Date = %v, want 0.5s", got)
	}
	call(-time.Hour)
	if got := c.Skew(); got != 500*time.Millisecond {
		t.Fatalf("Skew after a second bad Date = %v, want 0.5s", got)
	}
	for range skewSamples {
		call(10 * time.Second)
	}
	if got := c.Skew(); got != 10500*time.Millisecond {
		t.Fatalf("Skew after Gusto's clock moved = %v, want 10.5s", got)
	}
}

func TestSkewEstimator(t *testing.T) {
	var e skewEstimator
	for i, tc := range []struct{ add, want time.Duration }{
		{time.Hour, time.Hour},             // one measurement: it
		{2 * time.Second, time.Second * 2}, // two: the least correction
		{3 * time.Second, 3 * time.Second}, // three: the median
		{-time.Hour, 2500 * time.Millisecond},
	} {
		if got := e.add(tc.add); got != tc.want {
			t.Fatalf("add #%d (%v) = %v, want %v", i, tc.add, got, tc.want)
		}
	}
}
