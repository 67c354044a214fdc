package gusto

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Operation names, as they appear in errors: method and path template.
const (
	opTokenInfo = "GET /v1/token_info"
	opMe        = "GET /v1/me"
	opCompany   = "GET /v1/companies/{company_id}"
	opEmployees = "GET /v1/companies/{company_id}/employees"
	opPayrolls  = "GET /v1/companies/{company_id}/payrolls"
)

// DefaultPer is the page size used when PageOptions.Per is zero. Gusto's
// reference declares no maximum (its own default is 25); 100 keeps requests
// per sync low under the 200 requests/minute limit.
const DefaultPer = 100

// MaxPer is the largest page size the client asks for; a larger Per is
// clamped to it. A server that caps per below what was asked answers a short
// page, and a short page is how the walk knows it reached the end: asking
// for more than the cap would silently drop every page after the first.
const MaxPer = 100

// PageOptions selects where a page walk starts and how big pages are.
type PageOptions struct {
	// Page is the 1-based page to start from (resume from a checkpoint).
	// Zero means 1.
	Page int
	// Per is the page size. Zero means DefaultPer; above MaxPer means MaxPer.
	Per int
}

// PayrollOptions filters GET /v1/companies/{company_id}/payrolls. Empty
// fields are not sent, so Gusto's defaults apply (processed regular payrolls
// of the past six months).
type PayrollOptions struct {
	PageOptions
	// StartDate and EndDate (YYYY-MM-DD) bound the pay period (or the check
	// date with DateFilterBy "check_date"). EndDate is at most three months
	// ahead, and the window at most a year.
	StartDate, EndDate string
	// ProcessingStatuses: "processed", "unprocessed".
	ProcessingStatuses []string
	// PayrollTypes: "regular", "off_cycle", "external".
	PayrollTypes []string
	// Include: "totals", "taxes", "payroll_status_meta", "risk_blockers", "reversals".
	Include []string
	// DateFilterBy is "" (pay period) or "check_date".
	DateFilterBy string
	// SortOrder is "", "asc" or "desc".
	SortOrder string
}

// Page is one page of a list endpoint.
type Page[T any] struct {
	// Number is the 1-based page number, Per the page size requested.
	Number, Per int
	// Items are the page's records, each with its raw JSON.
	Items []T
	// Last reports that this is the final page: it held fewer than Per
	// items (or none).
	Last bool
}

// TokenInfo returns what accessToken grants and which company it is for
// (GET /v1/token_info). It does not consult the Limiter (the token is not
// yet tied to a stored company).
func (c *Client) TokenInfo(ctx context.Context, accessToken string) (TokenInfo, error) {
	r, err := c.getWith(ctx, StaticToken(accessToken), "", opTokenInfo, "/v1/token_info", nil, false)
	if err != nil {
		return TokenInfo{}, err
	}
	ti, err := decodeTokenInfo(r.body)
	if err != nil {
		return TokenInfo{}, malformed(opTokenInfo, r.status, err)
	}
	return ti, nil
}

// Me returns the user behind accessToken and the companies it can reach
// (GET /v1/me, app integrations). Decoding is tolerant; see Me.
func (c *Client) Me(ctx context.Context, accessToken string) (Me, error) {
	r, err := c.getWith(ctx, StaticToken(accessToken), "", opMe, "/v1/me", nil, false)
	if err != nil {
		return Me{}, err
	}
	m, err := decodeMe(r.body)
	if err != nil {
		return Me{}, malformed(opMe, r.status, err)
	}
	return m, nil
}

// Company returns the company (GET /v1/companies/{company_id}). A record
// without a uuid, or with another company's uuid, is a
// *MalformedResponseError.
func (c *Client) Company(ctx context.Context, src TokenSource, companyUUID string) (Company, error) {
	if err := checkCompanyID(opCompany, companyUUID); err != nil {
		return Company{}, err
	}
	r, err := c.get(ctx, src, companyUUID, opCompany, "/v1/companies/"+companyUUID, nil)
	if err != nil {
		return Company{}, err
	}
	var co Company
	if err := decodeRecord(r.body, &co, companyUUID); err != nil {
		return Company{}, malformed(opCompany, r.status, err)
	}
	return co, nil
}

// Employees walks the company's employees page by page, starting at o.Page.
// The sequence yields each page, stops after the last one (fewer than Per
// items, or empty), yields an error at most once and then stops, and stops
// when the caller breaks out of the loop.
func (c *Client) Employees(ctx context.Context, src TokenSource, companyUUID string, o PageOptions) iter.Seq2[Page[Employee], error] {
	return pages[Employee](c, ctx, src, companyUUID, opEmployees, "/employees", o, nil)
}

// Payrolls walks the company's payrolls page by page with the filters of o;
// the sequence behaves as that of Employees.
func (c *Client) Payrolls(ctx context.Context, src TokenSource, companyUUID string, o PayrollOptions) iter.Seq2[Page[Payroll], error] {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("start_date", o.StartDate)
	set("end_date", o.EndDate)
	set("processing_statuses", strings.Join(o.ProcessingStatuses, ","))
	set("payroll_types", strings.Join(o.PayrollTypes, ","))
	set("include", strings.Join(o.Include, ","))
	set("date_filter_by", o.DateFilterBy)
	set("sort_order", o.SortOrder)
	return pages[Payroll](c, ctx, src, companyUUID, opPayrolls, "/payrolls", o.PageOptions, q)
}

// pages is the page iterator shared by the list endpoints.
func pages[T any, P interface {
	*T
	record
}](c *Client, ctx context.Context, src TokenSource, companyUUID, op, suffix string, o PageOptions, filters url.Values) iter.Seq2[Page[T], error] {
	return func(yield func(Page[T], error) bool) {
		number, per := max(o.Page, 1), o.Per
		if per <= 0 {
			per = DefaultPer
		}
		per = min(per, MaxPer)
		if err := checkCompanyID(op, companyUUID); err != nil {
			yield(Page[T]{Number: number, Per: per}, err)
			return
		}
		for {
			q := url.Values{}
			for k, v := range filters {
				q[k] = v
			}
			q.Set("page", strconv.Itoa(number))
			q.Set("per", strconv.Itoa(per))
			items, err := listPage(c, ctx, src, companyUUID, op, "/v1/companies/"+companyUUID+suffix, q, decodeList[T, P])
			if err != nil {
				yield(Page[T]{Number: number, Per: per}, err)
				return
			}
			last := len(items) < per
			if !yield(Page[T]{Number: number, Per: per, Items: items, Last: last}, nil) || last {
				return
			}
			number++
		}
	}
}

// listPage fetches and decodes one page.
func listPage[T any](c *Client, ctx context.Context, src TokenSource, companyUUID, op, path string, q url.Values, decode func([]byte, string) ([]T, error)) ([]T, error) {
	r, err := c.get(ctx, src, companyUUID, op, path, q)
	if err != nil {
		return nil, err
	}
	items, err := decode(r.body, companyUUID)
	if err != nil {
		return nil, malformed(op, r.status, err)
	}
	return items, nil
}

// get is an API GET for a company: Limiter, token, request, one
// invalidate-and-retry on a 401.
func (c *Client) get(ctx context.Context, src TokenSource, companyUUID, op, path string, q url.Values) (*response, error) {
	return c.getWith(ctx, src, companyUUID, op, path, q, true)
}

// getWith is get with the Limiter optional. It returns a 2xx response whose
// body is within bounds, or a typed error.
func (c *Client) getWith(ctx context.Context, src TokenSource, companyUUID, op, path string, q url.Values, limit bool) (*response, error) {
	if src == nil {
		return nil, errors.New("gusto: " + op + ": nil TokenSource")
	}
	for attempt := 0; ; attempt++ {
		if limit && c.opts.Limiter != nil {
			if err := c.opts.Limiter.Wait(ctx, companyUUID); err != nil {
				return nil, fmt.Errorf("gusto: %s: rate limiter: %w", op, err)
			}
		}
		token, err := src.AccessToken(ctx, companyUUID)
		if err != nil {
			return nil, fmt.Errorf("gusto: %s: access token: %w", op, err)
		}
		if token == "" {
			return nil, errors.New("gusto: " + op + ": empty access token")
		}
		r, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path, query: q, bearer: token})
		if err != nil {
			return nil, err
		}
		if r.status < 200 || r.status > 299 {
			serr := c.statusError(op, r, token)
			var ue *UnauthorizedError
			// Only a plain 401 is the token's: a 401 that says a scope is
			// missing or the version is refused would fail again.
			if inv, ok := src.(Invalidator); ok && attempt == 0 && errors.As(serr, &ue) {
				if err := inv.Invalidate(ctx, companyUUID, token); err != nil {
					return nil, fmt.Errorf("gusto: %s: invalidate token after 401: %w", op, err)
				}
				continue
			}
			return nil, serr
		}
		if r.tooLarge {
			return nil, tooLarge(op, r)
		}
		return r, nil
	}
}

// checkCompanyID rejects ids that could change the request path.
func checkCompanyID(op, id string) error {
	if id == "" {
		return errors.New("gusto: " + op + ": empty company uuid")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return errors.New("gusto: " + op + ": company uuid has invalid characters")
		}
	}
	return nil
}
