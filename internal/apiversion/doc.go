// Package apiversion owns the table gusto_api_version_rejections: the record
// that Gusto refuses the X-Gusto-API-Version this fleet sends (406 Not
// Acceptable on every request, GUSTO.md "API versions").
//
// A refused version is a fleet-wide configuration error, never a company's
// fault: workers record it here (Store.Rejected) instead of marking any
// company; the database turns the first refusal of a version into one alert
// (a trigger writes alert_outbox); operators see it in `gustosync companies
// list` and on the dashboard (Store.Current, Rejection.Advice). Once a
// request with that version succeeds again, Store.Accepted clears it.
//
// The package never marks, pauses or schedules a company, and never stores
// anything but the version, Gusto's sanitized message and the worker id.
package apiversion
