package gustosim

import (
	"net/http"
	"time"
)

// Gusto's date-based API versions, as its versioning guide describes them
// (https://docs.gusto.com/embedded-payroll/docs/getting-setup, "Setting your
// API version" and "Default API version"):
//
//   - the request names a version in X-Gusto-API-Version; without the header
//     the application's minimum (default) API version applies;
//   - a version older than the minimum, or in the future, is answered
//     406 Not Acceptable with {"name": "Invalid X-Gusto-API-Version Header",
//     "message": "Invalid API Version `…`. Version must be >= your
//     application's minimum API version `…` and not in the future."};
//   - the version served is passed back in the response's
//     X-Gusto-API-Version header.
//
// The check runs on every endpoint, POST /oauth/token and GET
// /oauth/authorize included (the retirement notices say "your API request
// will return a 406", with no exception:
// https://docs.gusto.com/app-integrations/changelog/v2024-04-01-sunset).
// A header that is not a date gets the same 406; its message says so (the
// docs show no example of that case).

const versionHeader = "X-Gusto-API-Version"

// version20260615 is the version from which GET payrolls paginates by
// default and payroll_status_meta.initial_check_date and .payroll_late are
// null for off-cycle payrolls
// (https://docs.gusto.com/embedded-payroll/changelog/v2026-06-15).
const version20260615 = "2026-06-15"

// versionErrorName is the "name" of Gusto's 406 body.
const versionErrorName = "Invalid X-Gusto-API-Version Header"

// versionError is Gusto's 406 body.
type versionError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// maxEchoedVersion bounds how much of a bad header the 406 message repeats.
const maxEchoedVersion = 40

// apiVersion returns the version the request is served at (YYYY-MM-DD: such
// strings compare as their dates do), or answers 406 and returns false. It
// counts requests without the header and the 406s, and sets the response's
// X-Gusto-API-Version.
func (s *Sim) apiVersion(w http.ResponseWriter, r *http.Request, cfg *Config) (string, bool) {
	v := r.Header.Get(versionHeader)
	if v == "" {
		s.n.withoutVerHdr.Add(1)
		w.Header().Set(versionHeader, cfg.MinAPIVersion)
		return cfg.MinAPIVersion, true
	}
	echo := v
	if len(echo) > maxEchoedVersion {
		echo = echo[:maxEchoedVersion] + "…"
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		s.versionRefused(w, r, cfg, "Invalid API Version `"+echo+"`. It is not a date: the version must be YYYY-MM-DD, >= your application's minimum API version `"+cfg.MinAPIVersion+"` and not in the future.")
		return "", false
	}
	today := time.Unix(dayOf(s.gustoNow(cfg))*86400, 0).UTC()
	if v < cfg.MinAPIVersion || d.After(today) {
		s.versionRefused(w, r, cfg, "Invalid API Version `"+echo+"`. Version must be >= your application's minimum API version `"+cfg.MinAPIVersion+"` and not in the future.")
		return "", false
	}
	w.Header().Set(versionHeader, v)
	return v, true
}

func (s *Sim) versionRefused(w http.ResponseWriter, r *http.Request, cfg *Config, message string) {
	s.n.versionRejected.Add(1)
	s.sendJSON(w, r, cfg, http.StatusNotAcceptable, versionError{Name: versionErrorName, Message: message})
}
