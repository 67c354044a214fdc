package gusto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/url"
	"strconv"
	"strings"
)

// ListRequest is a read of one of a company's collections that the client
// does not decode into a type of its own: the caller (a resource
// descriptor of package jobs) decodes each item from its raw JSON.
type ListRequest struct {
	// Op names the operation in errors and metrics, Gusto's method and
	// path template: "GET /v1/companies/{company_id}/payrolls/{payroll_id}".
	Op string
	// Path is the path after /v1/companies/{company_id}, e.g.
	// "/payrolls/<uuid>": segments of letters, digits, '-' and '_'.
	Path string
	// Query are the request's filters; page and per are set by the walk.
	Query url.Values
	// Field is "" when the body is a JSON array of the items, else the
	// name of the array inside the JSON object the body is (a payroll's
	// employee_compensations).
	Field string
	PageOptions
}

// List walks r page by page as Employees does (Gusto's pagination headers,
// PageOptions.Walk, the page-memory budget, the Limiter), yielding each
// item as the JSON object Gusto sent. A body that is not what r.Field
// says, or an item that is not a JSON object, is a
// *MalformedResponseError.
func (c *Client) List(ctx context.Context, src TokenSource, companyUUID string, r ListRequest) iter.Seq2[Page[json.RawMessage], error] {
	if err := checkPath(r.Op, r.Path); err != nil {
		return func(yield func(Page[json.RawMessage], error) bool) {
			yield(Page[json.RawMessage]{Number: max(r.Page, 1), PageHeaders: noHeaders}, err)
		}
	}
	decode := func(b []byte, _ string) ([]json.RawMessage, error) { return decodeItems(b, r.Field) }
	return walkPages(c, ctx, src, companyUUID, r.Op, r.Path, r.PageOptions, r.Query, decode)
}

// decodeItems returns the items of a list body: a JSON array, or the array
// named field inside a JSON object; each must be a JSON object.
func decodeItems(b []byte, field string) ([]json.RawMessage, error) {
	var raws []json.RawMessage
	if field == "" {
		t := bytes.TrimLeft(b, " \t\r\n")
		if len(t) == 0 || t[0] != '[' {
			return nil, decodeError("not a JSON array")
		}
		if err := json.Unmarshal(t, &raws); err != nil {
			return nil, decodeError(jsonReason(err))
		}
	} else {
		var obj map[string]json.RawMessage
		if err := unmarshalObject(b, &obj); err != nil {
			return nil, err
		}
		list, ok := obj[field]
		if !ok || bytes.Equal(bytes.TrimSpace(list), []byte("null")) {
			return nil, nil
		}
		if err := json.Unmarshal(list, &raws); err != nil {
			return nil, decodeError("field " + field + ": " + jsonReason(err))
		}
	}
	for i, raw := range raws {
		if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
			return nil, decodeError("item " + strconv.Itoa(i) + ": not a JSON object")
		}
	}
	return raws, nil
}

// checkPath rejects a path that could leave the company's collections.
func checkPath(op, path string) error {
	if !strings.HasPrefix(path, "/") {
		return errors.New("gusto: " + op + ": path must start with /")
	}
	for _, seg := range strings.Split(path[1:], "/") {
		if err := checkCompanyID(op, seg); err != nil {
			return errors.New("gusto: " + op + ": path segment is empty or has invalid characters")
		}
	}
	return nil
}
