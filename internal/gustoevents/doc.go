// Package gustoevents acts on Gusto's events, whichever way they arrive:
// signed webhook deliveries to the dashboard's intake (Intake) or the
// events feed, GET /v1/events polled by the scheduler (Feed). Both hand
// each event to one Handler, which acts on it once (invariant 22 in
// docs/invariants.md): the event's uuid is claimed in gusto_events before
// anything is done, so a duplicated delivery, a replayed body or the same
// event seen by the other path changes nothing.
//
// What an event does:
//
//   - company.deprovisioned: the app's access to the company was removed;
//     the company is needs_reauth at once, through tokens.Store's one
//     guarded writer (version-guarded, one audit row, one alert).
//   - company.provisioned for a company we sync: noted (log, metric).
//   - employee.*, payroll.*, external_payroll.*: a sync of that company,
//     at most one per company per Config.SyncDebounce.
//   - anything else: acknowledged and counted.
//
// The feed also vouches for quiet: a poll that reads the feed to its end
// records its start (gusto_events_cursor.polled_at), and EmployeeWatch
// tells package jobs whether an employee event about a company was
// recorded since a time while the feed stayed healthy, so that an
// incremental sync may skip reading the employees (invariant 27).
//
// It owns gusto_events, gusto_events_cursor, gusto_event_syncs and
// gusto_webhook_keys. It never reads or writes a token or a status
// directly: status changes go through package tokens, syncs through the
// function the binary wires (the scheduler's EnqueueCompany). It never
// logs a verification token or a signature, and never stores one in
// plaintext: signing keys are sealed with tokens.Keyring (webhookkeys.go).
package gustoevents
