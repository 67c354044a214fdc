package gustosim

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiCall is what an authenticated API handler is given.
type apiCall struct {
	cfg     *Config
	at      *accessToken
	version string // the X-Gusto-API-Version served, YYYY-MM-DD
}

// apiHandler serves an authenticated API call.
type apiHandler func(w http.ResponseWriter, r *http.Request, c *apiCall)

// rateResetFormat is X-RateLimit-Reset's format in Gusto's changelog.
const rateResetFormat = "2006-01-02 15:04:05 -0700"

// api wraps h with what every API call goes through, in this order:
// injected gateway errors (502/503, before anything else), the version
// header (406), authentication (401), the rate limit (429), the token's
// first use, company access (403/404), the scope (403), injected
// application errors (500), then h.
func (s *Sim) api(scope string, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cfg := s.cfg.Load()
		s.n.apiRequests.Add(1)
		inject := 0
		if cfg.ErrorRate > 0 && rand.Float64() < cfg.ErrorRate {
			inject = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[rand.IntN(3)]
		}
		if inject == http.StatusBadGateway || inject == http.StatusServiceUnavailable {
			s.n.injectedErrors.Add(1)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if inject == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
			}
			s.send(w, r, cfg, inject, []byte("<html><body><h1>"+strconv.Itoa(inject)+" "+http.StatusText(inject)+"</h1></body></html>\n"))
			return
		}
		version, ok := s.apiVersion(w, r, cfg)
		if !ok {
			return
		}
		if r.URL.Query().Has("access_token") {
			s.sendError(w, r, cfg, http.StatusBadRequest, "request", "invalid_parameter", "Send the access token in the Authorization header, not in the URL.")
			return
		}
		at, why := s.authenticate(r, cfg)
		if at == nil {
			s.unauthorized(w, r, cfg, why)
			return
		}
		g := at.grant
		g.company.requests.Add(1)
		if cfg.RateLimit > 0 && !s.takeRate(w, r, cfg, g) {
			return
		}
		if !markUsed(at) {
			s.unauthorized(w, r, cfg, "The access token was revoked.")
			return
		}
		if id := r.PathValue("company_id"); id != "" && !strings.EqualFold(id, g.company.uuid) {
			if s.company(id) == nil {
				s.sendError(w, r, cfg, http.StatusNotFound, "request", "not_found", "The requested resource was not found.")
				return
			}
			s.n.forbidden.Add(1)
			s.sendError(w, r, cfg, http.StatusForbidden, "request", "missing_permissions", "The access token is not authorized for this company.")
			return
		}
		if scope != "" && !g.scopes[scope] {
			s.n.forbidden.Add(1)
			s.sendError(w, r, cfg, http.StatusForbidden, "request", "missing_permissions", "The access token is missing the scope "+scope+".")
			return
		}
		if inject == http.StatusInternalServerError {
			s.n.injectedErrors.Add(1)
			s.sendError(w, r, cfg, http.StatusInternalServerError, "request", "internal_error", "An unexpected error has occurred.")
			return
		}
		h(w, r, &apiCall{cfg: cfg, at: at, version: version})
	}
}

// takeRate counts the request against its budget, sets the X-RateLimit-*
// headers and, when the budget is spent, answers 429 with Retry-After and
// returns false. The headers and Retry-After are those of Gusto's rate-limit
// page (https://docs.gusto.com/embedded-payroll/v2024-04-01/docs/rate-limits,
// "API response headers"); the budget is the grant's or, with
// RateLimitPerOwner, its resource owner's (see RateLimitScope).
func (s *Sim) takeRate(w http.ResponseWriter, r *http.Request, cfg *Config, g *grant) bool {
	budget := &g.api
	if cfg.RateLimitScope == RateLimitPerOwner {
		budget = &g.owner.api
	}
	now := cfg.Now()
	ok, remaining, reset := budget.takeShared(now, cfg.RateLimit, cfg.RateWindow, cfg.OtherConsumer)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(cfg.RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", reset.Add(cfg.ClockOffset).UTC().Format(rateResetFormat))
	if ok {
		return true
	}
	s.n.rateLimited.Add(1)
	h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(now, reset), 10))
	s.sendError(w, r, cfg, http.StatusTooManyRequests, "request", "rate_limit_exceeded", "Rate limit exceeded. Retry after the window resets.")
	return false
}

// authenticate finds the request's valid access token, or says why not.
func (s *Sim) authenticate(r *http.Request, cfg *Config) (*accessToken, string) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, "The access token is missing."
	}
	token = strings.TrimSpace(token)
	at := s.lookupAccess(token)
	if at == nil {
		s.countUnknownUse(token)
		return nil, "The access token is invalid."
	}
	at.uses.Add(1)
	switch {
	case at.grant.dead.Load():
		return nil, "The access token was revoked."
	case at.revoked.Load():
		return nil, "The access token was revoked."
	case !s.gustoNow(cfg).Before(at.expiresAt):
		return nil, "The access token expired."
	}
	return at, ""
}

func (s *Sim) unauthorized(w http.ResponseWriter, r *http.Request, cfg *Config, why string) {
	s.n.unauthorized.Add(1)
	w.Header().Set("WWW-Authenticate", `Bearer realm="Gusto", error="invalid_token", error_description="`+why+`"`)
	s.sendError(w, r, cfg, http.StatusUnauthorized, "request", "invalid_token", why)
}

// --- /v1/token_info and /v1/me ---

type tokenInfoResource struct {
	Type string `json:"type"`
	UUID string `json:"uuid"`
}

type tokenInfoResponse struct {
	Scope         string            `json:"scope"`
	Resource      tokenInfoResource `json:"resource"`
	ResourceOwner tokenInfoResource `json:"resource_owner"`
}

// handleTokenInfo is GET /v1/token_info (operation get-v1-token-info,
// schema Token-Info): the resource owner is the user who authorized the
// grant, a "CompanyAdmin" (the schema's enum has no accountant type), shared
// by every company created with the same CompanyOptions.ResourceOwner.
func (s *Sim) handleTokenInfo(w http.ResponseWriter, r *http.Request, c *apiCall) {
	g := c.at.grant
	s.sendJSON(w, r, c.cfg, http.StatusOK, tokenInfoResponse{
		Scope:         g.scope,
		Resource:      tokenInfoResource{Type: "Company", UUID: g.company.uuid},
		ResourceOwner: tokenInfoResource{Type: "CompanyAdmin", UUID: g.owner.uuid},
	})
}

type meCompany struct {
	UUID      string `json:"uuid"`
	Name      string `json:"name"`
	TradeName string `json:"trade_name"`
}

type meResponse struct {
	UUID      string `json:"uuid"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Roles     struct {
		PayrollAdmin struct {
			Companies []meCompany `json:"companies"`
		} `json:"payroll_admin"`
	} `json:"roles"`
}

func (s *Sim) handleMe(w http.ResponseWriter, r *http.Request, c *apiCall) {
	u := c.at.grant.owner
	out := meResponse{UUID: u.uuid, Email: u.email, FirstName: u.first, LastName: u.last}
	s.mu.RLock()
	for _, co := range u.companies {
		out.Roles.PayrollAdmin.Companies = append(out.Roles.PayrollAdmin.Companies, meCompany{UUID: co.uuid, Name: co.name, TradeName: co.tradeName})
	}
	s.mu.RUnlock()
	s.sendJSON(w, r, c.cfg, http.StatusOK, out)
}

// --- companies ---

func (s *Sim) handleCompany(w http.ResponseWriter, r *http.Request, c *apiCall) {
	s.send(w, r, c.cfg, http.StatusOK, c.at.grant.company.object())
}

// invalid is a 422 about one query parameter.
type invalid struct{ key, msg string }

// pageRequest is a request's page and page size.
type pageRequest struct {
	page, per int
	// paginated is false when the answer holds every matching record
	// (payrolls before 2026-06-15 without page or per).
	paginated bool
}

// everything is the page size of an unpaginated answer.
const everything = math.MaxInt32

// parsePage reads page (default 1) and per (default 25, capped at maxPer:
// X-Per-Page then says what was served). Gusto's reference (pageParam):
// "When unspecified, will load all objects unless endpoint forces
// pagination"; forced says whether this endpoint (at this version) does.
func parsePage(r *http.Request, maxPer int, forced bool) (pageRequest, *invalid) {
	q := r.URL.Query()
	p := pageRequest{page: 1, per: DefaultPer, paginated: forced || q.Has("page") || q.Has("per")}
	if !p.paginated {
		p.per = everything
		return p, nil
	}
	if v := q.Get("page"); v != "" || q.Has("page") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, &invalid{"page", "page must be a positive integer"}
		}
		p.page = n
	}
	if v := q.Get("per"); v != "" || q.Has("per") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, &invalid{"per", "per must be a positive integer"}
		}
		p.per = min(n, maxPer)
	}
	return p, nil
}

// setPageHeaders sets Gusto's pagination headers on a paginated answer:
// X-Page, X-Per-Page (the page size served), X-Total-Count (records matching
// the request) and X-Total-Pages (zero when nothing matches), as
// https://docs.gusto.com/embedded-payroll/docs/pagination ("Paginated
// responses") describes them. Config.OmitPaginationHeaders leaves them out.
func setPageHeaders(w http.ResponseWriter, cfg *Config, p pageRequest, total int) {
	if !p.paginated || cfg.OmitPaginationHeaders {
		return
	}
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(p.page))
	h.Set("X-Per-Page", strconv.Itoa(p.per))
	h.Set("X-Total-Count", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa((total+p.per-1)/p.per))
}

// parseBool reads an optional boolean filter.
func parseBool(r *http.Request, key string) (*bool, *invalid) {
	q := r.URL.Query()
	if !q.Has(key) {
		return nil, nil
	}
	switch q.Get(key) {
	case "true":
		t := true
		return &t, nil
	case "false":
		f := false
		return &f, nil
	}
	return nil, &invalid{key, key + " must be true or false"}
}

// parseList reads a comma-separated enum list; ok lists the allowed values.
func parseList(r *http.Request, key string, ok ...string) (map[string]bool, *invalid) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return nil, nil
	}
	out := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		found := false
		for _, o := range ok {
			if item == o {
				found = true
			}
		}
		if !found {
			return nil, &invalid{key, key + " has an invalid value: " + strconv.Quote(item)}
		}
		out[item] = true
	}
	return out, nil
}

func (s *Sim) sendInvalid(w http.ResponseWriter, r *http.Request, cfg *Config, bad *invalid) {
	s.sendError(w, r, cfg, http.StatusUnprocessableEntity, bad.key, "invalid_parameter", bad.msg)
}

// unsupported lists the reference's filters the simulator does not
// implement: a request using one is refused rather than silently answered
// unfiltered.
var unsupportedEmployeeFilters = []string{"location_uuid", "payroll_uuid", "search_term", "uuids", "onboarded_active", "terminated_today"}

// handleEmployees is GET /v1/companies/{company_id}/employees (operation
// get-v1-companies-company_id-employees). The simulator forces pagination
// here (page 1, per 25 without parameters) at every version.
func (s *Sim) handleEmployees(w http.ResponseWriter, r *http.Request, c *apiCall) {
	cfg, co := c.cfg, c.at.grant.company
	co.employeeRequests.Add(1)
	p, bad := parsePage(r, cfg.MaxPer, true)
	var q employeeQuery
	if bad == nil {
		q.terminated, bad = parseBool(r, "terminated")
	}
	if bad == nil {
		q.onboarded, bad = parseBool(r, "onboarded")
	}
	var inc map[string]bool
	if bad == nil {
		inc, bad = parseList(r, "include", "all_compensations", "all_home_addresses", "company_name", "current_home_address", "custom_fields", "portal_invitations")
	}
	if bad == nil {
		if v := r.URL.Query().Get("sort_by"); v != "" && v != "created_at" {
			bad = &invalid{"sort_by", "gustosim supports only sort_by=created_at (the default order)"}
		}
	}
	for _, f := range unsupportedEmployeeFilters {
		if bad == nil && r.URL.Query().Has(f) {
			bad = &invalid{f, "gustosim does not support the " + f + " filter"}
		}
	}
	if bad != nil {
		s.sendInvalid(w, r, cfg, bad)
		return
	}
	comp := c.at.grant.scopes["compensations:read"]
	q.view = employeeView{
		compensations: comp, allCompensations: comp && inc["all_compensations"],
		companyName: inc["company_name"], currentHome: inc["current_home_address"], allHomes: inc["all_home_addresses"],
		customFields: inc["custom_fields"], portal: inc["portal_invitations"],
	}
	idx, total := co.employeePage(&q, p.page, p.per)
	co.records.Add(int64(len(idx)))
	s.sendPage(w, r, cfg, p, total, idx, func(b []byte, i int) []byte { return co.appendEmployee(b, i, q.view) })
}

// handlePayrolls is GET /v1/companies/{company_id}/payrolls (operation
// get-v1-companies-company_id-payrolls). From version 2026-06-15 it
// paginates by default ("now paginates by default when no pagination
// parameters are provided",
// https://docs.gusto.com/embedded-payroll/changelog/v2026-06-15); before, a
// request without page or per gets every matching payroll in one answer.
func (s *Sim) handlePayrolls(w http.ResponseWriter, r *http.Request, c *apiCall) {
	cfg, co := c.cfg, c.at.grant.company
	q, p, bad := s.parsePayrollQuery(r, c)
	if bad != nil {
		s.sendInvalid(w, r, cfg, bad)
		return
	}
	idx, total := co.payrollPage(q, p.page, p.per)
	co.records.Add(int64(len(idx)))
	s.sendPage(w, r, cfg, p, total, idx, func(b []byte, j int) []byte { return co.appendPayroll(b, j, q.view) })
}

// sendPage sends the records idx as a JSON array, with the pagination
// headers.
func (s *Sim) sendPage(w http.ResponseWriter, r *http.Request, cfg *Config, p pageRequest, total int, idx []int, appendRecord func([]byte, int) []byte) {
	setPageHeaders(w, cfg, p, total)
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], '[')
	for n, i := range idx {
		if n > 0 {
			b = append(b, ',')
		}
		b = appendRecord(b, i)
	}
	b = append(b, ']')
	s.send(w, r, cfg, http.StatusOK, b)
	*bp = b
	bufPool.Put(bp)
}

// parsePayrollQuery reads the payroll filters with the reference's defaults
// and limits: "By default, will return processed, regular payrolls for the
// past 6 months"; "end_date can be at most 3 months in the future and
// start_date and end_date can't be more than 1 year apart" (operation
// get-v1-companies-company_id-payrolls); a start after the end is refused
// too. Each is a 422 with Gusto's error body.
func (s *Sim) parsePayrollQuery(r *http.Request, c *apiCall) (*payrollQuery, pageRequest, *invalid) {
	cfg := c.cfg
	p, bad := parsePage(r, cfg.MaxPer, c.version >= version20260615)
	if bad != nil {
		return nil, p, bad
	}
	qs := r.URL.Query()
	q := &payrollQuery{processed: true, regular: true, reading: cfg.PayrollFilter}
	statuses, bad := parseList(r, "processing_statuses", "processed", "unprocessed")
	if bad != nil {
		return nil, p, bad
	}
	if statuses != nil {
		q.processed, q.unprocessed = statuses["processed"], statuses["unprocessed"]
	} else if pr, bad := parseBool(r, "processed"); bad != nil {
		return nil, p, bad
	} else if pr != nil {
		q.processed, q.unprocessed = *pr, !*pr
	}
	types, bad := parseList(r, "payroll_types", "regular", "off_cycle", "external")
	if bad != nil {
		return nil, p, bad
	}
	if types != nil {
		q.regular, q.offCycle, q.external = types["regular"], types["off_cycle"], types["external"]
	} else if oc, bad := parseBool(r, "include_off_cycle"); bad != nil {
		return nil, p, bad
	} else if oc != nil && *oc {
		q.offCycle = true
	}
	inc, bad := parseList(r, "include", "taxes", "payroll_status_meta", "totals", "risk_blockers", "reversals")
	if bad != nil {
		return nil, p, bad
	}
	q.view = payrollView{
		totals: inc["totals"], statusMeta: inc["payroll_status_meta"], taxes: inc["taxes"], blockers: inc["risk_blockers"],
		offCycleMetaNull: c.version >= version20260615,
	}
	switch v := qs.Get("date_filter_by"); v {
	case "":
	case "check_date":
		q.byCheckDate = true
	default:
		return nil, p, &invalid{"date_filter_by", "date_filter_by must be check_date"}
	}
	switch v := qs.Get("sort_order"); v {
	case "", "asc":
	case "desc":
		q.desc = true
	default:
		return nil, p, &invalid{"sort_order", "sort_order must be asc or desc"}
	}
	today := dayOf(s.gustoNow(cfg))
	date := func(key string) (int64, bool, *invalid) {
		v := qs.Get(key)
		if v == "" {
			return 0, false, nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return 0, false, &invalid{key, key + " must be a date (YYYY-MM-DD)"}
		}
		return dayOf(t), true, nil
	}
	from, hasFrom, bad := date("start_date")
	if bad != nil {
		return nil, p, bad
	}
	to, hasTo, bad := date("end_date")
	if bad != nil {
		return nil, p, bad
	}
	if !hasTo {
		to = today
	}
	if !hasFrom {
		from = addMonths(to, -6)
	}
	switch {
	case to > addMonths(today, 3):
		return nil, p, &invalid{"end_date", "end_date can be at most 3 months in the future"}
	case from > to:
		return nil, p, &invalid{"start_date", "start_date must be on or before end_date"}
	case to > addMonths(from, 12):
		return nil, p, &invalid{"end_date", "start_date and end_date can't be more than 1 year apart"}
	}
	q.from, q.to = from, to
	return q, p, nil
}

// addMonths moves a day number by calendar months.
func addMonths(day int64, months int) int64 {
	return dayOf(time.Unix(day*86400, 0).UTC().AddDate(0, months, 0))
}
