package tokens

import (
	"slices"
	"strings"
)

// Requirement is one Gusto endpoint gustosync calls and the OAuth scope it
// needs. Gusto answers 401 or 403 on an endpoint whose scope was not granted,
// even with a valid token, so tokens are checked against this manifest when
// they are stored.
type Requirement struct {
	// Op is the request: method and path template, as in internal/gusto's errors.
	Op string
	// Scope is the OAuth scope the request needs.
	Scope string
	// Optional scopes enrich the data but a sync works without them.
	Optional bool
}

// Manifest lists the scopes each endpoint gustosync calls needs. Keep it in
// step with internal/gusto and internal/jobs.
var Manifest = []Requirement{
	{Op: "GET /v1/companies/{company_id}", Scope: "companies:read"},
	{Op: "GET /v1/companies/{company_id}/employees", Scope: "employees:read"},
	{Op: "GET /v1/companies/{company_id}/employees (jobs[].compensations)", Scope: "compensations:read", Optional: true},
	{Op: "GET /v1/companies/{company_id}/payrolls", Scope: "payrolls:read"},
}

// RequiredScopes returns the scopes a company's token must grant, sorted and
// without duplicates.
func RequiredScopes() []string {
	var out []string
	for _, r := range Manifest {
		if !r.Optional && !slices.Contains(out, r.Scope) {
			out = append(out, r.Scope)
		}
	}
	slices.Sort(out)
	return out
}

// MissingScopes returns the required scopes absent from granted (a
// space-separated OAuth scope string), sorted; nil when none is missing.
func MissingScopes(granted string) []string {
	have := strings.Fields(granted)
	var missing []string
	for _, s := range RequiredScopes() {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// checkScopes refuses a granted scope string that lacks a required scope.
func checkScopes(company, granted string) error {
	if missing := MissingScopes(granted); len(missing) > 0 {
		return &MissingScopesError{Company: company, Missing: missing}
	}
	return nil
}
