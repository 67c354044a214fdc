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
// default is 25; 100 keeps requests per sync low under the 200
// requests/minute limit.
const DefaultPer = 100

// MaxPer is the largest page size the client asks for; a larger Per is
// clamped to it. Gusto documents 100 as the largest per for payrolls.
const MaxPer = 100

// PageOptions selects where a page walk starts and how big pages are.
type PageOptions struct {
	// Page is the 1-based page to start from (resume from a checkpoint).
	// Zero means 1.
	Page int
	// Per is the page size. Zero means DefaultPer; above MaxPer means MaxPer.
	Per int
	// Walk, when set, is the state of the walk this page walk continues:
	// the iterator checks its pages against the headers of the walk's first
	// page and the records counted so far, and updates it after each page
	// it yields. A caller that starts the iterator again (a retry after a
	// 503, a wait for page memory, a resumed attempt from a checkpoint)
	// passes the same state, so a walk whose pages shifted between two
	// iterators is still found out. Nil: a walk of its own from o.Page.
	Walk *WalkState
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
	// Number is the 1-based page number asked for, Per the page size asked
	// for (after clamping to MaxPer). The server may serve fewer than Per.
	Number, Per int
	// Items are the page's records, each with its raw JSON. They are never
	// dropped, whatever Mismatch says.
	Items []T
	// PageHeaders are the page's pagination headers as served.
	PageHeaders
	// Last reports that the walk ends after this page: it is page
	// X-Total-Pages (or later) and not past the end with items, or it is
	// empty. Without X-Total-Pages only an empty page is last: a short page
	// never is, since a server may serve fewer than Per.
	Last bool
	// Mismatch, when not empty, says how this page disagrees with the
	// pagination headers: X-Page is not the page asked for; the headers
	// changed since the walk's first page; a page before X-Total-Pages is
	// empty or does not hold X-Per-Page items; page X-Total-Pages does not
	// hold the rest of X-Total-Count; a page past X-Total-Pages has items;
	// or a walk from page 1 listed other than X-Total-Count items (the rules
	// are on WalkState.next). A consumer should then treat the whole walk
	// as unreliable (not every record may have been listed) and walk the
	// resource again. Empty when the page is consistent.
	Mismatch string
}

// PageHeaders are Gusto's pagination headers of one response: X-Page,
// X-Per-Page, X-Total-Count and X-Total-Pages
// (https://docs.gusto.com/embedded-payroll/docs/pagination). Each is -1 when
// the header was absent or not a non-negative integer.
type PageHeaders struct {
	// ServedPage is X-Page: the page the server says it returned.
	ServedPage int `json:"page"`
	// PerPage is X-Per-Page: the page size the server used, which may be
	// less than the Per asked for.
	PerPage int `json:"per_page"`
	// TotalCount is X-Total-Count: the records in the whole collection.
	TotalCount int `json:"total_count"`
	// TotalPages is X-Total-Pages: the pages of the whole collection.
	TotalPages int `json:"total_pages"`
}

// HasTotals reports whether X-Total-Pages was served, so that it, rather
// than an empty page, ends the walk.
func (h PageHeaders) HasTotals() bool { return h.TotalPages >= 0 }

// readPageHeaders reads the pagination headers of h.
func readPageHeaders(h http.Header) PageHeaders {
	num := func(name string) int {
		v := strings.TrimSpace(h.Get(name))
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return -1
		}
		return n
	}
	return PageHeaders{ServedPage: num("X-Page"), PerPage: num("X-Per-Page"), TotalCount: num("X-Total-Count"), TotalPages: num("X-Total-Pages")}
}

// TokenInfo returns what accessToken grants and which company it is for
// (GET /v1/token_info). It does not consult the Limiter (the token is not
// yet tied to a stored company).
func (c *Client) TokenInfo(ctx context.Context, accessToken string) (TokenInfo, error) {
	r, err := c.getWith(ctx, StaticToken(accessToken), "", opTokenInfo, "/v1/token_info", nil, false, 0)
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
	r, err := c.getWith(ctx, StaticToken(accessToken), "", opMe, "/v1/me", nil, false, 0)
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
// The sequence yields each page and stops after the last one (see
// Page.Last), yields an error at most once and then stops, and stops when
// the caller breaks out of the loop. A walk that fetches Options.MaxPages
// pages without reaching the last one ends with a *PageLimitError.
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

// pages is the page iterator shared by the typed list endpoints.
func pages[T any, P interface {
	*T
	record
}](c *Client, ctx context.Context, src TokenSource, companyUUID, op, suffix string, o PageOptions, filters url.Values) iter.Seq2[Page[T], error] {
	return walkPages(c, ctx, src, companyUUID, op, suffix, o, filters, decodeList[T, P])
}

// walkPages is the page iterator of every list endpoint. It follows
// Gusto's pagination: with X-Total-Pages the walk ends after that page;
// without it, only an empty page ends it. Either way an empty page ends it
// (so it cannot loop on nothing), and Options.MaxPages bounds it.
func walkPages[T any](c *Client, ctx context.Context, src TokenSource, companyUUID, op, suffix string, o PageOptions, filters url.Values,
	decode func([]byte, string) ([]T, error)) iter.Seq2[Page[T], error] {
	return func(yield func(Page[T], error) bool) {
		number, per := max(o.Page, 1), o.Per
		if per <= 0 {
			per = DefaultPer
		}
		per = min(per, MaxPer)
		if err := checkCompanyID(op, companyUUID); err != nil {
			yield(Page[T]{Number: number, Per: per, PageHeaders: noHeaders}, err)
			return
		}
		w := o.Walk
		if w == nil {
			w = &WalkState{}
		}
		if w.Start == 0 {
			w.Start = number
		}
		for fetched := 0; ; fetched++ {
			if fetched == c.maxPages {
				yield(Page[T]{Number: number, Per: per, PageHeaders: noHeaders}, &PageLimitError{Op: op, Limit: c.maxPages, NextPage: number})
				return
			}
			q := url.Values{}
			for k, v := range filters {
				q[k] = v
			}
			q.Set("page", strconv.Itoa(number))
			q.Set("per", strconv.Itoa(per))
			items, h, err := budgetedPage(c, ctx, func(readLimit int64) ([]T, PageHeaders, int64, error) {
				return listPage(c, ctx, src, companyUUID, op, "/v1/companies/"+companyUUID+suffix, q, decode, readLimit)
			})
			if err != nil {
				yield(Page[T]{Number: number, Per: per, PageHeaders: noHeaders}, err)
				return
			}
			last, mismatch := w.next(number, len(items), h)
			if !yield(Page[T]{Number: number, Per: per, Items: items, PageHeaders: h, Last: last, Mismatch: mismatch}, nil) || last {
				return
			}
			number++
		}
	}
}

// noHeaders is the PageHeaders of a page that got no answer.
var noHeaders = PageHeaders{ServedPage: -1, PerPage: -1, TotalCount: -1, TotalPages: -1}

// WalkState follows one walk's pages to decide where it ends and whether
// the pages agree with their headers (PageOptions.Walk). Its zero value is
// a walk not begun; it marshals to JSON, for a checkpoint to keep.
type WalkState struct {
	// Start is the page the walk began at (1: the whole collection).
	Start int `json:"start"`
	// First are the headers of the walk's first page; nil before it.
	First *PageHeaders `json:"first,omitempty"`
	// Seen counts the items of the pages the walk has yielded.
	Seen int `json:"seen"`
}

// next records page number with n items and headers h, and returns whether
// the walk ends after it and how the page disagrees with the headers ("" when
// it agrees). The rules:
//   - X-Page, when served, must be the page asked for.
//   - X-Per-Page, X-Total-Count and X-Total-Pages (served or not) must not
//     change between the pages of one walk: a change means records were
//     added or removed mid-walk and pages shifted.
//   - With X-Total-Pages T: page n < T must hold X-Per-Page items (when
//     served) and must not be empty (an empty page ends the walk anyway);
//     page T must hold X-Total-Count - (T-1) * X-Per-Page items (when both
//     are served); a page past T with items contradicts the headers, and
//     the walk then goes on until an empty page, so that nothing is left
//     unlisted.
//   - When the walk started at page 1 and ends with X-Total-Count served,
//     the items of the walk must add up to it.
func (w *WalkState) next(number, n int, h PageHeaders) (last bool, mismatch string) {
	var problems []string
	note := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if h.ServedPage >= 0 && h.ServedPage != number {
		note("X-Page is %d for page %d", h.ServedPage, number)
	}
	if w.First == nil {
		w.First = &h
	} else if f := *w.First; f.PerPage != h.PerPage || f.TotalCount != h.TotalCount || f.TotalPages != h.TotalPages {
		note("pagination headers changed during the walk (per page %s→%s, total count %s→%s, total pages %s→%s)",
			header(f.PerPage), header(h.PerPage), header(f.TotalCount), header(h.TotalCount), header(f.TotalPages), header(h.TotalPages))
	}
	w.Seen += n
	switch {
	case n == 0:
		last = true
		if h.HasTotals() && number < h.TotalPages {
			note("page %d is empty before X-Total-Pages %d", number, h.TotalPages)
		}
	case !h.HasTotals():
	case number < h.TotalPages:
		if h.PerPage >= 0 && n != h.PerPage {
			note("page %d of %d has %d items, X-Per-Page is %d", number, h.TotalPages, n, h.PerPage)
		}
	case number == h.TotalPages:
		last = true
		if h.PerPage >= 0 && h.TotalCount >= 0 {
			if want := h.TotalCount - (h.TotalPages-1)*h.PerPage; n != want {
				note("last page %d has %d items, X-Total-Count %d and X-Per-Page %d make %d", number, n, h.TotalCount, h.PerPage, want)
			}
		}
	default: // past the last page, with items: the headers are wrong
		note("page %d has %d items past X-Total-Pages %d", number, n, h.TotalPages)
	}
	if last && w.Start == 1 && h.TotalCount >= 0 && w.Seen != h.TotalCount {
		note("the walk listed %d items, X-Total-Count is %d", w.Seen, h.TotalCount)
	}
	return last, strings.Join(problems, "; ")
}

// header formats a header value for a mismatch ("-" when absent).
func header(v int) string {
	if v < 0 {
		return "-"
	}
	return strconv.Itoa(v)
}

// listPage fetches and decodes one page, and reads its pagination headers.
func listPage[T any](c *Client, ctx context.Context, src TokenSource, companyUUID, op, path string, q url.Values, decode func([]byte, string) ([]T, error), readLimit int64) ([]T, PageHeaders, int64, error) {
	r, err := c.getWith(ctx, src, companyUUID, op, path, q, true, readLimit)
	if err != nil {
		return nil, noHeaders, 0, err
	}
	items, err := decode(r.body, companyUUID)
	if err != nil {
		return nil, noHeaders, 0, malformed(op, r.status, err)
	}
	return items, readPageHeaders(r.header), int64(len(r.body)), nil
}

// get is an API GET for a company: Limiter, token, request, one
// invalidate-and-retry on a 401.
func (c *Client) get(ctx context.Context, src TokenSource, companyUUID, op, path string, q url.Values) (*response, error) {
	return c.getWith(ctx, src, companyUUID, op, path, q, true, 0)
}

// getWith is get with the Limiter optional and the body bounded by
// readLimit (0: Options.MaxBodyBytes). It returns a 2xx response whose body
// is within bounds, or a typed error: errOverReserve when the body exceeded
// a readLimit below MaxBodyBytes.
func (c *Client) getWith(ctx context.Context, src TokenSource, companyUUID, op, path string, q url.Values, limit bool, readLimit int64) (*response, error) {
	if src == nil {
		return nil, errors.New("gusto: " + op + ": nil TokenSource")
	}
	for attempt := 0; ; attempt++ {
		var permit Permit
		if limit && c.opts.Limiter != nil {
			p, err := c.opts.Limiter.Wait(ctx, companyUUID)
			if err != nil {
				return nil, fmt.Errorf("gusto: %s: rate limiter: %w", op, err)
			}
			permit = p
		}
		token, err := src.AccessToken(ctx, companyUUID)
		if err == nil && token == "" {
			err = errors.New("empty access token")
		}
		if err != nil {
			if permit != nil {
				permit.Done(ctx, NoResponse)
			}
			return nil, fmt.Errorf("gusto: %s: access token: %w", op, err)
		}
		r, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path, query: q, bearer: token, maxBody: readLimit})
		if permit != nil {
			if err != nil {
				permit.Done(ctx, NoResponse)
			} else {
				permit.Done(ctx, readRateHeaders(r.status, r.header, r.serverDate, r.receivedAt, c.Skew()))
			}
		}
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
				c.opts.Metrics.retried(op, "unauthorized")
				continue
			}
			return nil, serr
		}
		if r.tooLarge {
			if readLimit > 0 && readLimit < c.maxBody {
				return nil, errOverReserve
			}
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
