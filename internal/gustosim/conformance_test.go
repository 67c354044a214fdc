package gustosim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// The conformance test checks the simulator's real responses against
// Gusto's published OpenAPI reference, operation by operation (validating
// the whole document fails on an example in Gusto's own spec).

var reference struct {
	once sync.Once
	doc  *openapi3.T
	path string
	err  error
}

// referencePath finds gusto/openapi.yaml: ../shared/ beside the repository
// root (the CI clone), else /work/shared/.
func referencePath() (string, []string) {
	var tried []string
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, "..", "shared", "gusto", "openapi.yaml")
				tried = append(tried, p)
				if _, err := os.Stat(p); err == nil {
					return p, tried
				}
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	p := "/work/shared/gusto/openapi.yaml"
	tried = append(tried, p)
	if _, err := os.Stat(p); err == nil {
		return p, tried
	}
	return "", tried
}

// loadReference loads the reference once per test binary.
func loadReference(t *testing.T) *openapi3.T {
	t.Helper()
	reference.once.Do(func() {
		p, tried := referencePath()
		if p == "" {
			reference.err = &os.PathError{Op: "find Gusto's OpenAPI reference (tried " + strings.Join(tried, ", ") + ")", Path: "gusto/openapi.yaml", Err: os.ErrNotExist}
			return
		}
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		reference.path = p
		reference.doc, reference.err = loader.LoadFromFile(p)
	})
	if reference.err != nil {
		t.Fatalf("Gusto's OpenAPI reference is required for this test: %v", reference.err)
	}
	return reference.doc
}

// conform validates one real response against the reference's operation.
func conform(t *testing.T, doc *openapi3.T, method, template string, params map[string]string, r resp, req *http.Request) {
	t.Helper()
	if err := validateOp(t, doc, method, template, params, r, req); err != nil {
		t.Errorf("%s %s → %d does not conform to the reference: %v\nbody: %s", method, template, r.status, err, truncate(r.body))
	}
}

func validateOp(t *testing.T, doc *openapi3.T, method, template string, params map[string]string, r resp, req *http.Request) error {
	t.Helper()
	item := doc.Paths.Find(template)
	if item == nil {
		t.Fatalf("reference has no path %s", template)
	}
	op := item.GetOperation(method)
	if op == nil {
		t.Fatalf("reference has no %s %s", method, template)
	}
	if req == nil {
		req, _ = http.NewRequest(method, "https://api.gusto-demo.com"+template, nil)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params,
			Route: &routers.Route{Spec: doc, Path: template, PathItem: item, Method: method, Operation: op},
		},
		Status: r.status,
		Header: r.header,
		Body:   io.NopCloser(bytes.NewReader(r.body)),
		// Only documented statuses are checked here: an undocumented one
		// would pass silently.
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// conformSchema validates a body against a component schema.
func conformSchema(t *testing.T, doc *openapi3.T, schema string, what string, body []byte) {
	t.Helper()
	ref := doc.Components.Schemas[schema]
	if ref == nil || ref.Value == nil {
		t.Fatalf("reference has no schema %s", schema)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: body is not JSON: %v", what, err)
	}
	if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		t.Errorf("%s does not conform to %s: %v\nbody: %s", what, schema, err, truncate(body))
	}
}

func TestConformsToGustoReference(t *testing.T) {
	doc := loadReference(t)
	e := newEnv(t, func(c *gustosim.Config) { c.RateLimit = 3 })
	g := e.company(gustosim.CompanyOptions{Employees: 60, Payrolls: 60})
	tok := g.Token.AccessToken
	co := map[string]string{"company_id": g.CompanyUUID}
	unknown := "6f1c8d34-0000-4000-8000-000000000000"

	// POST /oauth/token: refresh and code grants.
	refresh := e.postJSON("/oauth/token", map[string]string{
		"client_id": testClientID, "client_secret": testClientSecret, "grant_type": "refresh_token", "refresh_token": g.Token.RefreshToken,
	})
	// The operation's response is oneOf Create-Token-Authentication /
	// Refresh-Token-Authentication, and every refresh answer matches both
	// (the second is allOf the first plus optional fields), so oneOf cannot
	// pass: validate against the schema Gusto documents for a refresh.
	conformSchema(t, doc, "Refresh-Token-Authentication", "refresh answer", refresh.body)
	conformSchema(t, doc, "Create-Token-Authentication", "refresh answer", refresh.body)
	var fresh tokenJSON
	refresh.json(t, &fresh)
	tok = fresh.AccessToken

	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{})
	_, q := e.authorize(authorizeParams("c", ""))
	code := e.postJSON("/oauth/token", map[string]string{
		"client_id": testClientID, "client_secret": testClientSecret, "redirect_uri": testRedirect, "grant_type": "authorization_code", "code": q.Get("code"),
	})
	conformSchema(t, doc, "Refresh-Token-Authentication", "code exchange answer", code.body)

	// The reference describes version 2025-06-15, which Gusto no longer
	// serves: responses are checked at the oldest version it does.
	get := func(path string) resp {
		e.clock.Advance(61e9) // a fresh rate limit window for every call
		return e.getAt(gustosim.DefaultMinAPIVersion, path, tok)
	}
	req := func(path string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "https://api.gusto-demo.com"+path, nil)
		return r
	}

	conform(t, doc, "GET", "/v1/token_info", nil, get("/v1/token_info"), nil)
	conform(t, doc, "GET", "/v1/companies/{company_id}", co, get("/v1/companies/"+g.CompanyUUID), nil)
	notFound := get("/v1/companies/" + unknown)
	conform(t, doc, "GET", "/v1/companies/{company_id}", map[string]string{"company_id": unknown}, notFound, nil)

	for _, path := range []string{
		"/v1/companies/" + g.CompanyUUID + "/employees?per=100",
		"/v1/companies/" + g.CompanyUUID + "/employees?per=100&include=all_compensations,all_home_addresses,company_name,current_home_address,custom_fields,portal_invitations",
		"/v1/companies/" + g.CompanyUUID + "/employees?terminated=true",
	} {
		conform(t, doc, "GET", "/v1/companies/{company_id}/employees", co, get(path), req(path))
	}
	conform(t, doc, "GET", "/v1/companies/{company_id}/employees", map[string]string{"company_id": unknown}, get("/v1/companies/"+unknown+"/employees"), nil)

	for _, path := range []string{
		"/v1/companies/" + g.CompanyUUID + "/payrolls",
		"/v1/companies/" + g.CompanyUUID + "/payrolls?per=100&processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle&include=totals,payroll_status_meta,taxes,risk_blockers,reversals&start_date=2026-01-01&end_date=2026-12-31",
		// Unpaginated before 2026-06-15: every matching payroll.
		"/v1/companies/" + g.CompanyUUID + "/payrolls?processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle&include=totals&start_date=2025-12-11&end_date=2026-12-10",
		// Each filter reading.
		"/v1/companies/" + g.CompanyUUID + "/payrolls?per=100&payroll_types=regular,off_cycle&date_filter_by=check_date&start_date=2026-01-01&end_date=2026-12-31",
	} {
		r := get(path)
		var items []json.RawMessage
		r.json(t, &items)
		if len(items) == 0 {
			t.Fatalf("%s: no payrolls to check", path)
		}
		conform(t, doc, "GET", "/v1/companies/{company_id}/payrolls", co, r, req(path))
	}
	conform(t, doc, "GET", "/v1/companies/{company_id}/payrolls", map[string]string{"company_id": unknown}, get("/v1/companies/"+unknown+"/payrolls"), nil)

	// Every pay schedule frequency, and the long off-cycle and external
	// payrolls.
	lg := e.company(gustosim.CompanyOptions{Employees: 3, Payrolls: 80, HistoryMonths: 60, LongPayrolls: true, PaySchedules: gustosim.Frequencies})
	for _, window := range []string{"start_date=2022-01-01&end_date=2022-12-31", "start_date=2026-01-01&end_date=2026-12-31"} {
		path := "/v1/companies/" + lg.CompanyUUID + "/payrolls?per=100&processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle,external&include=totals,taxes&" + window
		e.clock.Advance(61e9)
		r := e.getAt(gustosim.DefaultMinAPIVersion, path, lg.Token.AccessToken)
		var items []json.RawMessage
		r.json(t, &items)
		if len(items) == 0 {
			t.Fatalf("%s: no payrolls to check", path)
		}
		conform(t, doc, "GET", "/v1/companies/{company_id}/payrolls", map[string]string{"company_id": lg.CompanyUUID}, r, req(path))
	}

	// At 2026-06-15, payrolls paginate by default (the shape is the same
	// Payroll-List). Its null payroll_status_meta.initial_check_date and
	// .payroll_late for off-cycle payrolls postdate the reference (which
	// types them string and boolean), so include=payroll_status_meta is not
	// checked at that version; TestPayrollsPaginateByDefaultFrom20260615 is.
	for _, reading := range []gustosim.PayrollFilter{gustosim.FilterWithin, gustosim.FilterStart, gustosim.FilterOverlap, gustosim.FilterCheckDate} {
		e.sim.Update(func(c *gustosim.Config) { c.PayrollFilter = reading })
		path := "/v1/companies/" + g.CompanyUUID + "/payrolls?processing_statuses=processed,unprocessed&payroll_types=regular,off_cycle&include=totals,taxes&start_date=2026-01-01&end_date=2026-12-31"
		e.clock.Advance(61e9)
		r := e.getAt("2026-06-15", path, tok)
		if pageHeaders(t, r)[0] != 1 {
			t.Fatalf("%s at 2026-06-15: not paginated by default", reading)
		}
		conform(t, doc, "GET", "/v1/companies/{company_id}/payrolls", co, r, req(path))
	}

	// token_info of a company whose resource owner owns another company.
	shared := "b0000000-0000-4000-8000-00000000000b"
	for i := 0; i < 2; i++ {
		sg := e.company(gustosim.CompanyOptions{Employees: 1, Payrolls: 1, ResourceOwner: shared})
		e.clock.Advance(61e9)
		r := e.getAt(gustosim.DefaultMinAPIVersion, "/v1/token_info", sg.Token.AccessToken)
		conform(t, doc, "GET", "/v1/token_info", nil, r, nil)
	}

	// Error bodies the endpoints above do not document: Gusto's error shape.
	bodies := map[string]resp{
		"422 bad per":          get("/v1/companies/" + g.CompanyUUID + "/employees?per=0"),
		"422 window":           get("/v1/companies/" + g.CompanyUUID + "/payrolls?start_date=2020-01-01&end_date=2026-01-01"),
		"401 unknown token":    e.get("/v1/companies/"+g.CompanyUUID, "nope"),
		"403 another company":  get("/v1/companies/" + e.company(defaults()).CompanyUUID),
		"404 unknown endpoint": get("/v1/nowhere"),
		"422 start after end":  get("/v1/companies/" + g.CompanyUUID + "/payrolls?start_date=2026-06-02&end_date=2026-06-01"),
		"422 end too far":      get("/v1/companies/" + g.CompanyUUID + "/payrolls?start_date=2026-12-01&end_date=2027-03-11"),
	}
	for i := 0; i < 3; i++ {
		e.get("/v1/token_info", tok)
	}
	bodies["429 rate limited"] = e.get("/v1/token_info", tok)
	for what, r := range bodies {
		if r.status < 400 {
			t.Fatalf("%s: status %d", what, r.status)
		}
		conformSchema(t, doc, "Unprocessable-Entity-Error-Object", what, r.body)
		conformSchema(t, doc, "Not-Found-Error-Object", what, r.body)
	}

	// The reference declares no 406; its shape is that of Gusto's versioning
	// guide (https://docs.gusto.com/embedded-payroll/docs/getting-setup),
	// on the API and on the token endpoint alike.
	tokenReq, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth/token", strings.NewReader(`{}`))
	tokenReq.Header.Set("X-Gusto-API-Version", "2025-06-15")
	for _, c := range []struct {
		what, version string
		r             resp
	}{
		{"API", "2025-06-15", e.getAt("2025-06-15", "/v1/token_info", tok)},
		{"token endpoint", "2025-06-15", e.do(tokenReq)},
		{"not a date", "x", e.getAt("x", "/v1/token_info", tok)},
	} {
		wantVersionRefused(t, "406 from the "+c.what, c.r, c.version, gustosim.DefaultMinAPIVersion)
	}
}

// The check is real: deviations from the reference are caught.
func TestConformanceCatchesDeviations(t *testing.T) {
	doc := loadReference(t)
	h := http.Header{"Content-Type": {"application/json"}}
	co := map[string]string{"company_id": "x"}
	for name, body := range map[string]string{
		"terminated as a string": `[{"uuid":"u","first_name":"A","last_name":"B","terminated":"yes"}]`,
		"missing last_name":      `[{"uuid":"u","first_name":"A"}]`,
		"object instead of list": `{"uuid":"u","first_name":"A","last_name":"B"}`,
	} {
		if err := validateOp(t, doc, "GET", "/v1/companies/{company_id}/employees", co, resp{status: 200, header: h, body: []byte(body)}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := validateOp(t, doc, "GET", "/v1/companies/{company_id}/payrolls", co, resp{status: 200, header: h, body: []byte(`[{"processed":"true"}]`)}, nil); err == nil {
		t.Error("payroll with processed as a string: accepted")
	}
	if err := validateOp(t, doc, "GET", "/v1/companies/{company_id}", co, resp{status: 401, header: h, body: []byte(`{}`)}, nil); err == nil {
		t.Error("an undocumented status passed the strict check")
	}
}
