package gusto

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Missing scopes: how a refusal is told apart from a revoked token.
//
// Gusto documents that a call outside the granted scopes "will be rejected
// and you will receive a 403 Forbidden error"
// (https://docs.gusto.com/embedded-payroll/docs/scopes), and lists the
// error category missing_permissions, shown on a 404 for an endpoint the
// application may not use (https://docs.gusto.com/app-integrations/docs/error-categories,
// body {"errors":[{"error_key":"request","category":"missing_permissions",
// "message":...}]}). It documents neither a body for the scope 403 nor a
// metadata field naming the scope; its errors page says metadata carries
// "relevant data to identify the resource"
// (https://docs.gusto.com/embedded-payroll/docs/errors).
//
// So an answer with status 401, 403 or 404 is a *MissingScopeError when
//   - an entry of its errors array has a category or error_key in
//     scopeMarkers (missing_permissions, Gusto's; the others are the
//     spellings OAuth servers use), or
//   - its OAuth "error" field is one of scopeMarkers, or
//   - it carries a Bearer WWW-Authenticate challenge with error
//     insufficient_scope (RFC 6750 section 3.1) or another marker.
//
// A 403 without a marker (a bare 403, an HTML page, a category such as
// "forbidden") stays a *ForbiddenError; a 404 without one stays an
// *HTTPError. A 401 with a marker is not retried with a fresh token: a new
// token of the same grant carries the same scopes.
//
// The scopes named are read from the errors' metadata (keys in scopeKeys, a
// string of space- or comma-separated scopes or an array of strings), from a
// top-level "scope" field, from the challenge's scope parameter, and from
// resource:read or resource:write words in the messages (Gusto names its
// scopes resource:action, e.g. employees:read). Only well-formed scope names
// are kept (see scopeName), at most maxScopes.

// scopeMarkers are the category, error_key or OAuth error values that say the
// token lacks a permission.
var scopeMarkers = []string{
	"missing_permissions", "missing_permission", "insufficient_permissions",
	"missing_scope", "missing_scopes", "insufficient_scope", "invalid_scope",
}

// scopeKeys are the metadata keys read for the names of the missing scopes.
var scopeKeys = []string{
	"scope", "scopes", "missing_scope", "missing_scopes", "required_scope", "required_scopes", "missing_permissions",
}

// maxScopes bounds the scopes a MissingScopeError carries.
const maxScopes = 16

// classifyScope applies the rule above to one answer.
func classifyScope(h http.Header, top map[string]json.RawMessage, entries []errorEntry, secrets []string) (bool, []string) {
	challenge := bearerChallenge(h)
	missing := isScopeMarker(looseString(top["error"])) || isScopeMarker(challenge["error"])
	for _, e := range entries {
		missing = missing || isScopeMarker(e.category) || isScopeMarker(e.key)
	}
	if !missing {
		return false, nil
	}
	var found []string
	add := func(list ...string) {
		for _, s := range list {
			if scopeName(s, secrets) && !slices.Contains(found, s) && len(found) < maxScopes {
				found = append(found, s)
			}
		}
	}
	for _, e := range entries {
		for _, k := range scopeKeys {
			add(scopeList(e.metadata[k])...)
		}
	}
	add(scopeList(top["scope"])...)
	add(splitScopes(challenge["scope"])...)
	for _, e := range entries {
		add(messageScopes(e.message)...)
	}
	add(messageScopes(looseString(top["error_description"]))...)
	add(messageScopes(looseString(top["message"]))...)
	slices.Sort(found)
	return true, found
}

func isScopeMarker(s string) bool {
	return s != "" && slices.ContainsFunc(scopeMarkers, func(m string) bool { return strings.EqualFold(s, m) })
}

// scopeList reads a JSON string of scopes, or an array of such strings.
func scopeList(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	if s := looseString(raw); s != "" {
		return splitScopes(s)
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var out []string
	for _, item := range list {
		out = append(out, splitScopes(looseString(item))...)
	}
	return out
}

// splitScopes splits on spaces and commas (OAuth separates scopes by spaces).
func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
}

// messageScopes picks the resource:read and resource:write words of a
// message, stripped of surrounding punctuation and quotes.
func messageScopes(msg string) []string {
	var out []string
	for _, w := range splitScopes(msg) {
		w = strings.Trim(w, ".;:!?()[]{}<>\"'`")
		if res, action, ok := strings.Cut(w, ":"); ok && res != "" && (action == "read" || action == "write") {
			out = append(out, w)
		}
	}
	return out
}

// scopeName reports whether s is shaped like a scope (resource:action in
// lowercase letters, digits, '_', '.', '-', at most 64 bytes) and carries
// nothing secret-like: no credential the client holds, no run that
// redactOpaque would hide.
func scopeName(s string, secrets []string) bool {
	res, action, ok := strings.Cut(s, ":")
	if !ok || res == "" || action == "" || len(s) > 64 || strings.Contains(action, ":") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == ':') {
			return false
		}
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			return false
		}
	}
	return redactOpaque(s) == s
}

// bearerChallenge returns the auth-params of the first Bearer challenge in
// WWW-Authenticate (RFC 6750 section 3: Bearer error="insufficient_scope",
// scope="..."), keys lowercased; nil when there is none. Parsing is
// forgiving: it stops at the first thing it does not understand.
func bearerChallenge(h http.Header) map[string]string {
	for _, v := range h.Values("WWW-Authenticate") {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		params := map[string]string{}
		for {
			rest = strings.TrimLeft(rest, " \t,")
			key, after, ok := strings.Cut(rest, "=")
			if !ok || key == "" || strings.ContainsAny(key, " \t,\"") {
				return params
			}
			after = strings.TrimLeft(after, " \t")
			var val string
			if strings.HasPrefix(after, `"`) {
				var b strings.Builder
				i := 1
				for ; i < len(after) && after[i] != '"'; i++ {
					if after[i] == '\\' && i+1 < len(after) {
						i++
					}
					b.WriteByte(after[i])
				}
				if i >= len(after) {
					return params // unterminated quoted string
				}
				val, rest = b.String(), after[i+1:]
			} else {
				end := strings.IndexAny(after, ", \t")
				if end < 0 {
					end = len(after)
				}
				val, rest = after[:end], after[end:]
			}
			params[strings.ToLower(key)] = val
		}
	}
	return nil
}
