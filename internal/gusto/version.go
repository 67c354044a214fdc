package gusto

import (
	"errors"
	"fmt"
	"time"
)

// DefaultAPIVersion is the X-Gusto-API-Version sent when Options.APIVersion
// is empty: Gusto's current stable version. Gusto retires a version a year
// after its successor ships and then answers every request that names it
// with 406 Not Acceptable (an *APIVersionError), so the version is
// configuration, changed without a release.
const DefaultAPIVersion = "2026-06-15"

// maxVersionEcho bounds how much of a rejected version string an error
// quotes (the value comes from configuration; a pasted secret must not be
// echoed whole).
const maxVersionEcho = 24

// ParseAPIVersion checks that s is a Gusto API version: a real calendar date
// written YYYY-MM-DD, nothing around it (Gusto's versions are dates, e.g.
// 2026-06-15). It returns s unchanged, or an error saying what is wrong with
// it: empty, not in the form YYYY-MM-DD, or not a date that exists.
func ParseAPIVersion(s string) (string, error) {
	if s == "" {
		return "", errors.New("API version is empty; want a date YYYY-MM-DD such as " + DefaultAPIVersion)
	}
	if !dateShaped(s) {
		return "", fmt.Errorf("API version %s is not in the form YYYY-MM-DD (e.g. %s)", quoteVersion(s), DefaultAPIVersion)
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return "", fmt.Errorf("API version %s is not a calendar date (month or day out of range)", quoteVersion(s))
	}
	return s, nil
}

// dateShaped reports whether s is four digits, '-', two digits, '-', two
// digits.
func dateShaped(s string) bool {
	if len(s) != len("2006-01-02") {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 4, 7:
			if s[i] != '-' {
				return false
			}
		default:
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
	}
	return true
}

// quoteVersion quotes s for an error, cut to maxVersionEcho bytes.
func quoteVersion(s string) string {
	if len(s) > maxVersionEcho {
		return fmt.Sprintf("%q… (%d bytes)", s[:maxVersionEcho], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// APIVersion returns the X-Gusto-API-Version this client sends on every
// request, the token endpoint included.
func (c *Client) APIVersion() string { return c.version }
