// Package companies is the read model of onboarded companies: what
// operators see (the CLI's `companies list`, the dashboard's companies page)
// and what the scheduler needs (which companies are active, which are due,
// each one's own sync interval, and which recorded windows are still open
// with their run unfinished). One query each, joining the tables
// their owners write:
//
//   - gusto_auth_tokens: written only by package tokens, which owns the
//     credentials, their refresh, and every status transition (active,
//     paused, needs_reauth, with its reason), each a compare-and-swap on
//     the row's version (tokens/status.go);
//   - company_schedules: written only by package scheduler;
//   - sync_runs and gusto_companies: written only by package checkpoint.
//
// It must never write a table, never select a token column (access_token,
// refresh_token, key_id) and never decide a status: a company's status
// changes through tokens.Store (Pause, Resume) or tokens.Manager
// (VerifyGrant, MarkMissingScope) only.
package companies
