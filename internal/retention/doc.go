// Package retention deletes history older than RETENTION_DAYS, so that
// sync_runs, token_refresh_events, gusto_events and alert_outbox stop
// growing forever. The scheduler runs it (Pruner.Run).
//
// What it may delete, and what it must never delete:
//   - sync_runs: finished runs (succeeded, failed, stopped) finished before
//     the cutoff; never a run that is pending or running, holds a
//     checkpoint, is named by a sync fence, is a company's last complete
//     full walk, is the company's latest run or its latest succeeded one
//     (what `companies list` and the dashboard show);
//   - token_refresh_events: rows finished before the cutoff;
//   - gusto_events: handled events (handled_at set) handled before the
//     cutoff and never younger than gustoevents.DedupWindow, whatever
//     RETENTION_DAYS says, so an event Gusto can still send again stays
//     deduplicated (invariant 22); never an event being acted on;
//   - alert_outbox: delivered and dead (failed, expired) alerts that
//     occurred before the cutoff; never a pending one.
//
// Every statement deletes at most Config.Batch rows (the oldest first,
// through the indexes of migration 00013) in its own short transaction, so
// pruning a large backlog never holds many locks or one long transaction.
// One replica prunes at a time: each batch's transaction first takes a
// transaction-scoped PostgreSQL advisory lock with pg_try_advisory_xact_lock
// (the events feed's mechanism); a replica that finds it taken ends its pass,
// the holder prunes. company_removals (offboarding's audit) is never pruned.
//
// It owns no table: it deletes, under these rules, the expired rows of
// tables that packages checkpoint, tokens, gustoevents and alerts write.
package retention
