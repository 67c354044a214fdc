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
// stale attempt must stop.
//
// # Progress belongs to the company's sync
//
// A company has one set of checkpoints (sync_checkpoints is keyed by company
// and resource), and nothing that starts later throws an unfinished sync's
// progress away (invariant 18 in docs/invariants.md). A re-claimed run
// resumes from its checkpoints. A new run that claims the company while the
// previous run is unfinished (pending after a transient failure or a drain,
// running with a stale heartbeat, failed) continues from that run's
// checkpoints: Claim rewrites them to the new run in its transaction, marks
// the old run stopped ("superseded by run X, which carried its progress
// over"), records sync_runs.continues, and fences the old run's attempts
// under the new epoch. Only after a run that succeeded does a new run start
// from the beginning. So a sync interrupted N times (5xx, kill -9, drains,
// a newer scheduler window getting in first) still finishes, fetching at
// most one batch again per interruption.
//
// # A new run while a live one holds the company: coalesced
//
// While the holder's heartbeat is fresh (Options.Lease, on PostgreSQL's
// clock so that workers' clocks do not matter), a claim by another run does
// not wait: the new run is recorded as stopped ("coalesced: company is
// being synced by run X") and Claim returns *FinishedError, so its task
// ends. The alternative, *BusyError and a retry until the holder ends,
// queues a task behind every live sync for each window that passes: with a
// sync longer than the interval (a large company, hourly windows) the queue
// grows without bound, and each waiting run, once in, re-reads the whole
// company right after the previous sync read it. Coalescing keeps at most
// one sync per company in flight and nothing waiting behind it; the live
// sync is the newer window's sync, and what changes after it read a resource
// is read by the next window's run. The cost is a run row marked stopped
// per window that found the company busy.
//
// A second attempt of the same run, by contrast, gets *BusyError while the
// first attempt's heartbeat is fresh: that is asynq recovering a task whose
// run was already re-driven (TakeOver), or a duplicate; it looks again
// later and finds the run finished, or dead and re-driven.
//
// # Dead attempts
//
// An attempt whose heartbeat has been silent for longer than the lease
// (kill -9, a frozen or partitioned worker) is taken over by TakeOver, called
// by every replica (package redrive): one transaction per pass, FOR UPDATE
// SKIP LOCKED over the stale running fences, so exactly one replica wins
// each; the epoch is bumped at once (the dead attempt, should it wake, is
// fenced) and the run goes back to pending, for a new attempt to claim and
// resume from its checkpoints (invariant 19).
//
// Claims and commits serialize on the company's fence row. Their
// transactions (postgres.InTx) carry lock_timeout and
// idle_in_transaction_session_timeout, so a holder frozen inside one
// (SIGSTOP, a long pause) has its session ended by PostgreSQL instead of
// blocking the attempt that replaces it.
//
// A run is full or incremental (Kind, fixed in the transaction of its
// first claim: Attempt.Kind). A full run asked for while a live incremental
// run holds the company is not coalesced: Claim returns *BusyError until
// that run ends, and over an unfinished incremental run the full one starts
// from the beginning. Only Attempt.CompleteFull, at the end of a full walk
// that completed, consistently (begun by BeginWalk from the first page,
// never voided by VoidWalk), marks rows deleted (deleted_at), windowed
// tables only inside the windows the walk recorded; a batch holding a
// deleted row undeletes it (full.go).
//
// # Tables as data
//
// What a synced table is (its name, key columns, derived child tables,
// how a full walk reconciles it, the periods and finality a walk may plan
// with) is a Table (table.go): the built-in ones are listed in Tables, and
// package jobs's descriptors (internal/jobs/resources.go) name them. The
// statements of a table are built from it once. Every write of a synced
// row goes through this package: the insert (COPY) and update (RETURNING
// the uuids it rewrote) of Attempt.upsert, the undelete of Attempt.track,
// the delete mark of Attempt.markGone; each hands the uuids it changed to
// Attempt.logChanges, in the same transaction (the seam of the change log).
// A row's derived child rows are written in its transaction and replaced
// whenever it is rewritten. Store.Parents and Store.Periods read stored
// rows for a walk to plan with (a substream's parents and what was read of
// each, sync_parent_reads; a windowed resource's long periods).
//
// # Removed companies
//
// Store.Retire (called by package offboard in the transaction that deletes
// the company's token row) moves the company's fence epoch and marks it a
// tombstone: the attempt running then is fenced, and a later claim for the
// company records its run stopped and returns *FinishedError while the
// company has no token row (the one read of gusto_auth_tokens here: whether
// a row exists, never a token), so a task still queued ends instead of
// syncing (invariant 24). Store.Purge deletes a retired company's rows in
// bounded batches.
// The commit that ends an employees walk begun from its first page
// (Attempt.BeginWalk) records it as the company's last employees read
// (company_employee_reads, with the walk's start), in the same fenced
// transaction; an incremental run of package jobs may skip the employees
// on that read and Gusto's events (reads.go, invariant 27).
//
// It is the one writer of sync_fences, sync_runs, sync_checkpoints,
// sync_full_seen, sync_full_windows, sync_parent_reads, company_full_syncs,
// company_employee_reads and the synced rows (every Table: gusto_companies,
// gusto_employees, gusto_payrolls, and their child tables); package
// companies reads them for operators. The package knows PostgreSQL and
// nothing of asynq, Redis or Gusto's wire format. It never holds more than one batch: memory is independent of the
// size of a company.
package checkpoint
