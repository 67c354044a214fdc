package gustosim

import (
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// apiHandler serves an authenticated API call.
type apiHandler func(w http.ResponseWriter, r *http.Request, cfg *Config, at *accessToken)

var versionFormat = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// rateResetFormat is X-RateLimit-Reset's format in Gusto's changelog.
const rateResetFormat = "2006-01-02 15:04:05 -0700"

// api wraps h with what every API call goes through, in this order:
// injected gateway errors (502/503, before anything else), the version
// header, authentication (401), the per-grant rate limit (429), the token's
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
		if v := r.Header.Get("X-Gusto-API-Version"); v == "" {
			s.n.withoutVerHdr.Add(1)
		} else if !versionFormat.MatchString(v) {
			s.sendError(w, r, cfg, http.StatusNotAcceptable, "request", "invalid_api_version", "Invalid API Version. Expected format: YYYY-MM-DD")
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
		if cfg.RateLimit > 0 {
			now := cfg.Now()
			ok, remaining, reset := g.api.take(now, cfg.RateLimit, cfg.RateWindow)
			h := w.Header()
			h.Set("X-RateLimit-Limit", strconv.Itoa(cfg.RateLimit))
			h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
			h.Set("X-RateLimit-Reset", reset.Add(cfg.ClockOffset).UTC().Format(rateResetFormat))
			if !ok {
				s.n.rateLimited.Add(1)
				h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(now, reset), 10))
				s.sendError(w, r, cfg, http.StatusTooManyRequests, "request", "rate_limit_exceeded", "Rate limit exceeded. Retry after the window resets.")
				return
			}
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
		h(w, r, cfg, at)
	}
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

func (s *Sim) handleTokenInfo(w http.ResponseWriter, r *http.Request, cfg *Config, at *accessToken) {
	g := at.grant
	s.sendJSON(w, r, cfg, http.StatusOK, tokenInfoResponse{
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

func (s *Sim) handleMe(w http.ResponseWriter, r *http.Request, cfg *Config, at *accessToken) {
	u := at.grant.owner
	out := meResponse{UUID: u.uuid, Email: u.email, FirstName: u.first, LastName: u.last}
	s.mu.RLock()
	for _, c := range u.companies {
		out.Roles.PayrollAdmin.Companies = append(out.Roles.PayrollAdmin.Companies, meCompany{UUID: c.uuid, Name: c.name, TradeName: c.tradeName})
	}
	s.mu.RUnlock()
	s.sendJSON(w, r, cfg, http.StatusOK, out)
}

// --- companies ---

func (s *Sim) handleCompany(w http.ResponseWriter, r *http.Request, cfg *Config, at *accessToken) {
	s.send(w, r, cfg, http.StatusOK, at.grant.company.object())
}

// invalid is a 422 about one query parameter.
type invalid struct{ key, msg string }

// parsePage reads page (default 1) and per (default 25, capped at maxPer).
func parsePage(r *http.Request, maxPer int) (page, per int, bad *invalid) {
	q := r.URL.Query()
	page, per = 1, DefaultPer
	if v := q.Get("page"); v != "" || q.Has("page") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, &invalid{"page", "page must be a positive integer"}
		}
		page = n
	}
	if v := q.Get("per"); v != "" || q.Has("per") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, &invalid{"per", "per must be a positive integer"}
		}
		per = min(n, maxPer)
	}
	return page, per, nil
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

func (s *Sim) handleEmployees(w http.ResponseWriter, r *http.Request, cfg *Config, at *accessToken) {
	c := at.grant.company
	page, per, bad := parsePage(r, cfg.MaxPer)
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
	comp := at.grant.scopes["compensations:read"]
	q.view = employeeView{
		compensations: comp, allCompensations: comp && inc["all_compensations"],
		companyName: inc["company_name"], currentHome: inc["current_home_address"], allHomes: inc["all_home_addresses"],
		customFields: inc["custom_fields"], portal: inc["portal_invitations"],
	}
	idx := c.employeePage(&q, page, per)
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], '[')
	for n, i := range idx {
		if n > 0 {
			b = append(b, ',')
		}
		b = c.appendEmployee(b, i, q.view)
	}
	b = append(b, ']')
	c.records.Add(int64(len(idx)))
	s.send(w, r, cfg, http.StatusOK, b)
	*bp = b
	bufPool.Put(bp)
}

func (s *Sim) handlePayrolls(w http.ResponseWriter, r *http.Request, cfg *Config, at *accessToken) {
	c := at.grant.company
	q, page, per, bad := s.parsePayrollQuery(r, cfg)
	if bad != nil {
		s.sendInvalid(w, r, cfg, bad)
		return
	}
	idx := c.payrollPage(q, page, per)
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], '[')
	for n, j := range idx {
		if n > 0 {
			b = append(b, ',')
		}
		b = c.appendPayroll(b, j, q.view)
	}
	b = append(b, ']')
	c.records.Add(int64(len(idx)))
	s.send(w, r, cfg, http.StatusOK, b)
	*bp = b
	bufPool.Put(bp)
}

// parsePayrollQuery reads the payroll filters with the reference's defaults
// and limits.
func (s *Sim) parsePayrollQuery(r *http.Request, cfg *Config) (*payrollQuery, int, int, *invalid) {
	page, per, bad := parsePage(r, cfg.MaxPer)
	if bad != nil {
		return nil, 0, 0, bad
	}
	qs := r.URL.Query()
	q := &payrollQuery{processed: true, regular: true}
	statuses, bad := parseList(r, "processing_statuses", "processed", "unprocessed")
	if bad != nil {
		return nil, 0, 0, bad
	}
	if statuses != nil {
		q.processed, q.unprocessed = statuses["processed"], statuses["unprocessed"]
	} else if p, bad := parseBool(r, "processed"); bad != nil {
		return nil, 0, 0, bad
	} else if p != nil {
		q.processed, q.unprocessed = *p, !*p
	}
	types, bad := parseList(r, "payroll_types", "regular", "off_cycle", "external")
	if bad != nil {
		return nil, 0, 0, bad
	}
	if types != nil {
		q.regular, q.offCycle = types["regular"], types["off_cycle"]
	} else if oc, bad := parseBool(r, "include_off_cycle"); bad != nil {
		return nil, 0, 0, bad
	} else if oc != nil && *oc {
		q.offCycle = true
	}
	inc, bad := parseList(r, "include", "taxes", "payroll_status_meta", "totals", "risk_blockers", "reversals")
	if bad != nil {
		return nil, 0, 0, bad
	}
	q.view = payrollView{totals: inc["totals"], statusMeta: inc["payroll_status_meta"], taxes: inc["taxes"], blockers: inc["risk_blockers"]}
	switch v := qs.Get("date_filter_by"); v {
	case "":
	case "check_date":
		q.byCheckDate = true
	default:
		return nil, 0, 0, &invalid{"date_filter_by", "date_filter_by must be check_date"}
	}
	switch v := qs.Get("sort_order"); v {
	case "", "asc":
	case "desc":
		q.desc = true
	default:
		return nil, 0, 0, &invalid{"sort_order", "sort_order must be asc or desc"}
	}
	today := dayOf(s.gustoNow(cfg))
	date := func(key string) (int64, bool, *invalid) {
		v := qs.Get(key)
		if v == "" {
			return 0, false, nil
		}
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return 0, false, &invalid{key, key + " must be a date (YYYY-MM-DD)"}
		}
		return dayOf(t), true, nil
	}
	from, hasFrom, bad := date("start_date")
	if bad != nil {
		return nil, 0, 0, bad
	}
	to, hasTo, bad := date("end_date")
	if bad != nil {
		return nil, 0, 0, bad
	}
	if !hasTo {
		to = today
	}
	if !hasFrom {
		from = addMonths(to, -6)
	}
	switch {
	case to > addMonths(today, 3):
		return nil, 0, 0, &invalid{"end_date", "end_date can be at most 3 months in the future"}
	case from > to:
		return nil, 0, 0, &invalid{"start_date", "start_date must be on or before end_date"}
	case to > addMonths(from, 12):
		return nil, 0, 0, &invalid{"end_date", "start_date and end_date can't be more than 1 year apart"}
	}
	q.from, q.to = from, to
	return q, page, per, nil
}

// addMonths moves a day number by calendar months.
func addMonths(day int64, months int) int64 {
	return dayOf(time.Unix(day*86400, 0).UTC().AddDate(0, months, 0))
}
