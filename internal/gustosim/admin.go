package gustosim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Admin endpoints, JSON in and out, for tests and demos (no
// authentication). They live under /admin/, which no Gusto path uses, never
// count as API requests, are never rate limited, delayed or failed by
// injection, and answer 404 when Config.DisableAdmin is set.
//
//	POST  /admin/companies                       {"count", "uuid", "name", "employees", "payrolls", "scopes", "resource_owner", "pay_schedules", "history_months", "long_payrolls"} → 201 [grant…]
//	GET   /admin/companies                       → ["uuid", …]
//	POST  /admin/companies/{uuid}/revoke         → {"revoked": "uuid"}
//	POST  /admin/companies/{uuid}/events         {event_type, entity_type, entity_uuid} → the Event (EmitEvent)
//	POST  /admin/companies/{uuid}/employees/{employee}/update[?quiet=true] → {"uuid", "event"} (UpdateEmployee)
//	GET   /admin/companies/{uuid}/records/{res}  res = company | employees | payrolls → [record…]
//	GET   /admin/companies/{uuid}/checksum       → {"company"|"employees"|"payrolls": {"count", "sha256"}}
//	GET   /admin/counters                        → Counters
//	GET   /admin/config                          → the configuration (never the client secret)
//	PATCH /admin/config                          {"revocation": "strict", "error_rate": 0.1, "token_lifetime": "5s", "min_api_version": "2026-02-01", "payroll_filter": "start", "rate_limit_scope": "owner", "other_consumer": 50, "omit_pagination_headers": true, …} → the configuration
//	PUT   /admin/authorize                       {"deny", "scopes", "companies", "company_uuid"} → 204
//	POST  /admin/token-uses                      {"access_token"} → {"uses": n}
//
// A grant is {"company_uuid", "access_token", "refresh_token", "token_type",
// "expires_in", "scope", "created_at"}: the shape `gustosync companies add`
// reads. Employees/payrolls absent (or -1) mean the configured default.

// maxAdminBody bounds an admin request body.
const maxAdminBody = 1 << 20

func (s *Sim) adminRoutes(m *http.ServeMux) {
	handle := func(pattern string, h http.HandlerFunc) {
		m.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if s.cfg.Load().DisableAdmin {
				adminJSON(w, http.StatusNotFound, adminErr("admin endpoints are disabled"))
				return
			}
			h(w, r)
		})
	}
	handle("POST /admin/companies", s.adminCreate)
	s.adminDeleteRoutes(handle)
	s.adminEditRoutes(handle)
	handle("GET /admin/companies", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, s.CompanyUUIDs())
	})
	handle("POST /admin/companies/{company_id}/revoke", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("company_id")
		if err := s.Revoke(id); err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, map[string]string{"revoked": s.company(id).uuid})
	})
	handle("POST /admin/companies/{company_id}/events", func(w http.ResponseWriter, r *http.Request) {
		var a struct {
			EventType  string `json:"event_type"`
			EntityType string `json:"entity_type"`
			EntityUUID string `json:"entity_uuid"`
		}
		if !decodeAdmin(w, r, &a) {
			return
		}
		ev, err := s.EmitEvent(r.PathValue("company_id"), a.EventType, a.EntityType, a.EntityUUID)
		if err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusCreated, ev)
	})
	handle("GET /admin/companies/{company_id}/records/{resource}", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		buf.WriteByte('[')
		n := 0
		err := s.eachRecord(r.PathValue("company_id"), r.PathValue("resource"), func(b []byte) {
			if n > 0 {
				buf.WriteByte(',')
			}
			buf.Write(b)
			n++
		})
		if err != nil {
			adminError(w, err)
			return
		}
		buf.WriteByte(']')
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	})
	handle("GET /admin/companies/{company_id}/checksum", func(w http.ResponseWriter, r *http.Request) {
		type sum struct {
			Count  int    `json:"count"`
			SHA256 string `json:"sha256"`
		}
		out := map[string]sum{}
		for _, res := range []string{"company", "employees", "payrolls"} {
			n, h, err := s.Checksum(r.PathValue("company_id"), res)
			if err != nil {
				adminError(w, err)
				return
			}
			out[res] = sum{n, h}
		}
		adminJSON(w, http.StatusOK, out)
	})
	handle("GET /admin/counters", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, s.Counters())
	})
	handle("GET /admin/config", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, configView(s.Config()))
	})
	handle("PATCH /admin/config", s.adminPatchConfig)
	handle("PUT /admin/authorize", func(w http.ResponseWriter, r *http.Request) {
		var a struct {
			Deny        bool     `json:"deny"`
			Scopes      []string `json:"scopes"`
			Companies   int      `json:"companies"`
			CompanyUUID string   `json:"company_uuid"`
		}
		if !decodeAdmin(w, r, &a) {
			return
		}
		s.SetAuthorize(AuthorizeBehavior{Deny: a.Deny, Scopes: a.Scopes, Companies: a.Companies, CompanyUUID: a.CompanyUUID})
		w.WriteHeader(http.StatusNoContent)
	})
	handle("POST /admin/token-uses", func(w http.ResponseWriter, r *http.Request) {
		var a struct {
			AccessToken string `json:"access_token"`
		}
		if !decodeAdmin(w, r, &a) {
			return
		}
		adminJSON(w, http.StatusOK, map[string]int64{"uses": s.AccessTokenUses(a.AccessToken)})
	})
	handle("/admin/", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusNotFound, adminErr("no such admin endpoint"))
	})
}

func (s *Sim) adminCreate(w http.ResponseWriter, r *http.Request) {
	req := struct {
		Count     int      `json:"count"`
		UUID      string   `json:"uuid"`
		Name      string   `json:"name"`
		Employees *int     `json:"employees"`
		Payrolls  *int     `json:"payrolls"`
		Scopes    []string `json:"scopes"`
		// ResourceOwner is the uuid of the user all count companies share.
		ResourceOwner string `json:"resource_owner"`
		// PaySchedules are frequencies as Gusto names them or short
		// (weekly … annually); HistoryMonths and LongPayrolls as in
		// CompanyOptions.
		PaySchedules  []string `json:"pay_schedules"`
		HistoryMonths int      `json:"history_months"`
		LongPayrolls  bool     `json:"long_payrolls"`
	}{Count: 1}
	if !decodeAdmin(w, r, &req) {
		return
	}
	if req.Count < 1 || req.Count > 100000 {
		adminJSON(w, http.StatusBadRequest, adminErr("count must be between 1 and 100000"))
		return
	}
	if req.UUID != "" && req.Count != 1 {
		adminJSON(w, http.StatusBadRequest, adminErr("uuid needs count 1"))
		return
	}
	o := CompanyOptions{UUID: req.UUID, Name: req.Name, Employees: -1, Payrolls: -1, Scopes: req.Scopes, ResourceOwner: req.ResourceOwner,
		HistoryMonths: req.HistoryMonths, LongPayrolls: req.LongPayrolls}
	if req.PaySchedules != nil {
		fs, err := ParseFrequencies(strings.Join(req.PaySchedules, ","))
		if err == nil && len(fs) == 0 {
			err = fmt.Errorf("%w: pay_schedules is empty (leave it out for the default mix)", ErrInvalidOptions)
		}
		if err != nil {
			adminError(w, err)
			return
		}
		o.PaySchedules = fs
	}
	if req.Employees != nil {
		o.Employees = *req.Employees
	}
	if req.Payrolls != nil {
		o.Payrolls = *req.Payrolls
	}
	out := make([]Grant, 0, req.Count)
	for i := 0; i < req.Count; i++ {
		g, err := s.CreateCompany(o)
		if err != nil {
			adminError(w, err)
			return
		}
		out = append(out, g)
	}
	adminJSON(w, http.StatusCreated, out)
}

// configJSON is the configuration as the admin endpoints show and patch it:
// durations as Go duration strings. The client secret is never shown.
type configJSON struct {
	ClientID       string      `json:"client_id"`
	RedirectURI    string      `json:"redirect_uri"`
	TokenLifetime  string      `json:"token_lifetime"`
	Revocation     Rule        `json:"revocation"`
	RateLimit      int         `json:"rate_limit"`
	RateWindow     string      `json:"rate_window"`
	TokenRateLimit int         `json:"token_rate_limit"`
	OtherConsumer  int         `json:"other_consumer"`
	ErrorRate      float64     `json:"error_rate"`
	TokenErrorRate float64     `json:"token_error_rate"`
	LatencyRate    float64     `json:"latency_rate"`
	Latency        string      `json:"latency"`
	ClockOffset    string      `json:"clock_offset"`
	Employees      int         `json:"employees"`
	Payrolls       int         `json:"payrolls"`
	PlainPayrolls  bool        `json:"plain_payrolls"`
	PaySchedules   []Frequency `json:"pay_schedules"`
	HistoryMonths  int         `json:"history_months"`
	LongPayrolls   bool        `json:"long_payrolls"`
	MaxPer         int         `json:"max_per"`
	CodeLifetime   string      `json:"code_lifetime"`
	Seed           int64       `json:"seed"`
	// Today's Gusto (issue 10): versions, pagination, filters, limits.
	MinAPIVersion         string         `json:"min_api_version"`
	PayrollFilter         PayrollFilter  `json:"payroll_filter"`
	RateLimitScope        RateLimitScope `json:"rate_limit_scope"`
	OmitPaginationHeaders bool           `json:"omit_pagination_headers"`
}

func configView(c Config) configJSON {
	return configJSON{
		ClientID: c.ClientID, RedirectURI: c.RedirectURI, TokenLifetime: c.TokenLifetime.String(),
		Revocation: c.Revocation, RateLimit: c.RateLimit, RateWindow: c.RateWindow.String(),
		TokenRateLimit: c.TokenRateLimit, OtherConsumer: c.OtherConsumer, ErrorRate: c.ErrorRate, TokenErrorRate: c.TokenErrorRate,
		LatencyRate: c.LatencyRate, Latency: c.Latency.String(), ClockOffset: c.ClockOffset.String(),
		Employees: c.Employees, Payrolls: c.Payrolls, PlainPayrolls: c.PlainPayrolls, MaxPer: c.MaxPer,
		PaySchedules: c.PaySchedules, HistoryMonths: c.HistoryMonths, LongPayrolls: c.LongPayrolls,
		CodeLifetime: c.CodeLifetime.String(), Seed: c.Seed,
		MinAPIVersion: c.MinAPIVersion, PayrollFilter: c.PayrollFilter, RateLimitScope: c.RateLimitScope,
		OmitPaginationHeaders: c.OmitPaginationHeaders,
	}
}

func (s *Sim) adminPatchConfig(w http.ResponseWriter, r *http.Request) {
	var p struct {
		TokenLifetime  *string   `json:"token_lifetime"`
		Revocation     *string   `json:"revocation"`
		RateLimit      *int      `json:"rate_limit"`
		RateWindow     *string   `json:"rate_window"`
		TokenRateLimit *int      `json:"token_rate_limit"`
		OtherConsumer  *int      `json:"other_consumer"`
		ErrorRate      *float64  `json:"error_rate"`
		TokenErrorRate *float64  `json:"token_error_rate"`
		LatencyRate    *float64  `json:"latency_rate"`
		Latency        *string   `json:"latency"`
		ClockOffset    *string   `json:"clock_offset"`
		Employees      *int      `json:"employees"`
		Payrolls       *int      `json:"payrolls"`
		PlainPayrolls  *bool     `json:"plain_payrolls"`
		PaySchedules   *[]string `json:"pay_schedules"`
		HistoryMonths  *int      `json:"history_months"`
		LongPayrolls   *bool     `json:"long_payrolls"`
		MaxPer         *int      `json:"max_per"`
		CodeLifetime   *string   `json:"code_lifetime"`
		Seed           *int64    `json:"seed"`

		MinAPIVersion         *string `json:"min_api_version"`
		PayrollFilter         *string `json:"payroll_filter"`
		RateLimitScope        *string `json:"rate_limit_scope"`
		OmitPaginationHeaders *bool   `json:"omit_pagination_headers"`
	}
	if !decodeAdmin(w, r, &p) {
		return
	}
	var perr error
	dur := func(name string, v *string, dst *time.Duration) {
		if v == nil || perr != nil {
			return
		}
		d, err := time.ParseDuration(*v)
		if err != nil {
			perr = fmt.Errorf("%s: not a duration: %q", name, *v)
			return
		}
		*dst = d
	}
	err := s.TryUpdate(func(c *Config) {
		dur("token_lifetime", p.TokenLifetime, &c.TokenLifetime)
		dur("rate_window", p.RateWindow, &c.RateWindow)
		dur("latency", p.Latency, &c.Latency)
		dur("clock_offset", p.ClockOffset, &c.ClockOffset)
		dur("code_lifetime", p.CodeLifetime, &c.CodeLifetime)
		if p.Revocation != nil {
			c.Revocation = Rule(*p.Revocation)
		}
		set := func(dst *int, v *int) {
			if v != nil {
				*dst = *v
			}
		}
		set(&c.RateLimit, p.RateLimit)
		set(&c.TokenRateLimit, p.TokenRateLimit)
		set(&c.OtherConsumer, p.OtherConsumer)
		set(&c.Employees, p.Employees)
		set(&c.Payrolls, p.Payrolls)
		set(&c.MaxPer, p.MaxPer)
		setF := func(dst *float64, v *float64) {
			if v != nil {
				*dst = *v
			}
		}
		setF(&c.ErrorRate, p.ErrorRate)
		setF(&c.TokenErrorRate, p.TokenErrorRate)
		setF(&c.LatencyRate, p.LatencyRate)
		if p.PlainPayrolls != nil {
			c.PlainPayrolls = *p.PlainPayrolls
		}
		set(&c.HistoryMonths, p.HistoryMonths)
		if p.LongPayrolls != nil {
			c.LongPayrolls = *p.LongPayrolls
		}
		if p.PaySchedules != nil && perr == nil {
			fs, err := ParseFrequencies(strings.Join(*p.PaySchedules, ","))
			if err != nil {
				perr = fmt.Errorf("pay_schedules: %w", err)
			}
			c.PaySchedules = fs // empty: the default mix
		}
		if p.Seed != nil {
			c.Seed = *p.Seed
		}
		if p.MinAPIVersion != nil {
			c.MinAPIVersion = *p.MinAPIVersion
		}
		if p.PayrollFilter != nil {
			c.PayrollFilter = PayrollFilter(*p.PayrollFilter)
		}
		if p.RateLimitScope != nil {
			c.RateLimitScope = RateLimitScope(*p.RateLimitScope)
		}
		if p.OmitPaginationHeaders != nil {
			c.OmitPaginationHeaders = *p.OmitPaginationHeaders
		}
		if perr != nil {
			c.ClientID = "" // make normalize fail: nothing is applied
		}
	})
	if perr != nil {
		adminJSON(w, http.StatusBadRequest, adminErr(perr.Error()))
		return
	}
	if err != nil {
		adminJSON(w, http.StatusBadRequest, adminErr(err.Error()))
		return
	}
	adminJSON(w, http.StatusOK, configView(s.Config()))
}

func adminErr(msg string) map[string]string { return map[string]string{"error": msg} }

func adminJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func adminError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, ErrUnknownCompany), errors.Is(err, ErrUnknownResource), errors.Is(err, ErrUnknownRecord):
		status = http.StatusNotFound
	case errors.Is(err, ErrNotDeletable):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, ErrCompanyExists):
		status = http.StatusConflict
	}
	adminJSON(w, status, adminErr(err.Error()))
}

// decodeAdmin decodes a JSON body strictly (unknown fields refused); an
// empty body leaves v as is.
func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		adminJSON(w, http.StatusBadRequest, adminErr("body too large or unreadable"))
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminJSON(w, http.StatusBadRequest, adminErr("invalid JSON body: "+err.Error()))
		return false
	}
	return true
}
