package gusto

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// decodeError says why a body was rejected without echoing any of it.
type decodeError string

func (e decodeError) Error() string { return string(e) }

func errMissing(field string) error { return decodeError("missing " + field) }

// malformed wraps a decoding failure for op.
func malformed(op string, status int, err error) *MalformedResponseError {
	var de decodeError
	if !errors.As(err, &de) {
		err = decodeError(jsonReason(err))
	}
	return &MalformedResponseError{Op: op, StatusCode: status, Reason: err.Error(), Err: err}
}

// tooLarge is the error for a 2xx body over the limit.
func tooLarge(op string, r *response) *MalformedResponseError {
	return &MalformedResponseError{Op: op, StatusCode: r.status, Reason: "body exceeds " + strconv.Itoa(len(r.body)) + " bytes", Err: ErrBodyTooLarge}
}

// jsonReason describes a JSON error by kind and position only: a
// json.UnmarshalTypeError's text can quote a number from the body.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var de decodeError
	switch {
	case errors.As(err, &de): // from a field's own UnmarshalJSON (Money)
		return de.Error()
	case errors.As(err, &se):
		return "invalid JSON at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		kind, _, _ := strings.Cut(te.Value, " ")
		field := te.Field
		if field == "" {
			field = "value"
		}
		return "field " + field + ": JSON " + kind + " where " + te.Type.String() + " expected"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	default:
		return "invalid JSON"
	}
}

// unmarshalObject decodes b, which must be one JSON object, into v.
func unmarshalObject(b []byte, v any) error {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 {
		return decodeError("empty body")
	}
	if t[0] != '{' {
		return decodeError("not a JSON object")
	}
	if err := json.Unmarshal(t, v); err != nil {
		return decodeError(jsonReason(err))
	}
	return nil
}

// record is a list item that keeps its raw JSON and checks its own required
// fields.
type record interface {
	setRaw(raw json.RawMessage)
	validate(companyUUID string) error
}

// decodeList decodes a JSON array of records. Any bad item fails the whole
// list: a page is never partially returned.
func decodeList[T any, P interface {
	*T
	record
}](b []byte, companyUUID string) ([]T, error) {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 {
		return nil, decodeError("empty body")
	}
	if t[0] != '[' {
		return nil, decodeError("not a JSON array")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(t, &raws); err != nil {
		return nil, decodeError(jsonReason(err))
	}
	out := make([]T, len(raws))
	for i, raw := range raws {
		p := P(&out[i])
		if err := decodeRecord(raw, p, companyUUID); err != nil {
			return nil, decodeError("item " + strconv.Itoa(i) + ": " + err.Error())
		}
	}
	return out, nil
}

// decodeRecord decodes one JSON object into p, keeps raw and validates.
func decodeRecord(raw json.RawMessage, p record, companyUUID string) error {
	if err := unmarshalObject(raw, p); err != nil {
		return err
	}
	p.setRaw(raw)
	return p.validate(companyUUID)
}

// ownRecord is the check every record of a company shares: it has its own
// uuid, and field (the record's company uuid as sent in that field, or ""
// when absent) names the requested company.
func ownRecord(uuid, field, company, companyUUID string) error {
	if uuid == "" {
		return errMissing("uuid")
	}
	if !sameCompany(company, companyUUID) {
		return decodeError(field + " is not the requested company")
	}
	return nil
}

// sameCompany reports whether got names the company want (case-insensitive,
// as UUIDs are). An empty got is accepted: the field is optional.
func sameCompany(got, want string) bool {
	return got == "" || want == "" || strings.EqualFold(got, want)
}
