// Package offboard removes a company from gustosync (`gustosync companies
// remove`): its token row is deleted, its syncs stop, and one audit row in
// company_removals (which this package owns) records who removed it, when,
// its status at the time, what became of the grant at Gusto and, with
// PurgeData, how many synced rows were deleted. The audit row never holds a
// token.
//
// What stops the company's syncs, in one transaction: the company's sync
// fence becomes a tombstone and moves its epoch (checkpoint.Store.Retire),
// so an attempt running now commits nothing more and a task still queued
// ends at its claim; then its token row is deleted (tokens.Store.Delete),
// which drops its schedule (company_schedules, by foreign key), so the
// scheduler never enqueues it again. Synced rows are deleted only on
// request (checkpoint.Store.Purge, in bounded batches), after that
// transaction has committed.
//
// Gusto's grant: Gusto documents no endpoint that revokes a company's
// OAuth grant or token (GUSTO.md, Gusto's OpenAPI description, the
// embedded-payroll authentication guides), so the grant is not revoked
// here: the audit row says "unavailable" and the command tells the operator
// that the company's admin disconnects the app in Gusto. The tokens are
// deleted whatever happens at Gusto.
//
// It writes only company_removals itself; token rows change through package
// tokens and sync state through package checkpoint.
package offboard
