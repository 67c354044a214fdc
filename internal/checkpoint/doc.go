// Package checkpoint owns a sync run's claim on a company and the one
// function that commits a batch of synced rows together with the checkpoint
// that says they are done (invariants 6 and 7 in docs/invariants.md).
//
// A run is one sync of one company (one asynq task); each attempt of it
// (a retry, a crash recovery, a lease-expiry re-run) calls Store.Claim, which
// bumps the company's epoch in sync_fences and returns an *Attempt holding
// it. Attempt.Commit upserts a batch (Gusto uuid as key, key columns plus the
// JSON payload; new rows are copied in with COPY, existing ones rewritten only
// when their payload changed, and a row another company owns is never
// touched: it is reported on the run instead) and advances
// the resource's checkpoint in ONE transaction, fenced by the epoch: when a
// newer attempt of the run, or any newer run of the company, has claimed
// since, the commit changes nothing and returns a *FencedError, and the
// stale attempt must stop. A re-claimed run resumes from the positions its
// checkpoints hold; a new run of the company starts from the beginning.
//
// Two runs of one company never write at the same time: while a run's
// heartbeat is fresh (Options.Lease, on PostgreSQL's clock so that workers'
// clocks do not matter), a claim by another run returns a *BusyError.
//
// Claims and commits serialize on the company's fence row. Their
// transactions (postgres.InTx) carry lock_timeout and
// idle_in_transaction_session_timeout, so a holder frozen inside one
// (SIGSTOP, a long pause) has its session ended by PostgreSQL instead of
// blocking the attempt that replaces it.
//
// A run is full or incremental (Kind, fixed by its first attempt:
// Attempt.FixKind). Only Attempt.CompleteFull, at the end of a full walk
// that completed, marks rows deleted (deleted_at); a batch holding a
// deleted row undeletes it (full.go).
//
// It is the one writer of sync_fences, sync_runs, sync_checkpoints,
// sync_full_seen, company_full_syncs and the synced rows (gusto_companies,
// gusto_employees, gusto_payrolls); package
// companies reads them for operators. The package knows PostgreSQL and
// nothing of asynq, Redis or Gusto's wire format. It never holds more than one batch: memory is independent of the
// size of a company.
package checkpoint
