package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/postgres"
)

// DefaultLease is Options.Lease's default (SYNC_LEASE's, in package config):
// three heartbeats of SYNC_HEARTBEAT's default (2 s), so one late heartbeat
// is not taken for a death.
const DefaultLease = 6 * time.Second

// Status is a run's status in sync_runs.
type Status string

// The statuses of a run.
const (
	// StatusPending: created, or waiting for a retry after a transient error.
	StatusPending Status = "pending"
	// StatusRunning: an attempt holds the company.
	StatusRunning Status = "running"
	// StatusSucceeded: every resource was synced.
	StatusSucceeded Status = "succeeded"
	// StatusFailed: ended without retry (e.g. the company needs re-authorization).
	StatusFailed Status = "failed"
	// StatusStopped: superseded by a newer run of the company (which
	// carried its progress over), or coalesced into a live run.
	StatusStopped Status = "stopped"
)

func (s Status) final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusStopped
}

// Options configures a Store. The zero value is usable.
type Options struct {
	// Lease is how long after its last heartbeat a running attempt is
	// presumed alive: other runs of its company coalesce into it (Claim),
	// and past it any replica may take it over (TakeOver). It is
	// measured on PostgreSQL's clock, so workers' clocks need not agree.
	// Attempts should heartbeat several times per lease. Zero means
	// DefaultLease.
	Lease time.Duration
	// TxIdleTimeout is PostgreSQL's idle_in_transaction_session_timeout for
	// the claim and commit transactions: a holder frozen inside one (SIGSTOP,
	// a long GC pause, a partitioned VM) has its session ended and its fence
	// lock released, so the attempt that replaces it is not blocked. Zero
	// means postgres.DefaultIdleTimeout (15 s).
	TxIdleTimeout time.Duration
	// LockTimeout bounds the wait for the fence row's lock in those
	// transactions; past it the claim or commit fails (transient). Zero
	// means postgres.DefaultLockTimeout (30 s).
	LockTimeout time.Duration
	// Tables are synced tables beyond the built-in ones (Tables), e.g. a
	// test's. Each must exist in the database.
	Tables []*Table
}

// Store claims runs and commits their batches. It is safe for concurrent
// use; it holds no state beyond the pool.
type Store struct {
	db     *gorm.DB
	lease  time.Duration
	tx     postgres.TxOptions
	tables []*Table
}

// NewStore returns a Store over db (see postgres.Open; its pool size should
// match the number of concurrent syncs). It panics on a malformed table in
// o.Tables (a programming error).
func NewStore(db *gorm.DB, o Options) *Store {
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	tables := slices.Clone(Tables)
	for _, t := range o.Tables {
		if err := t.register(); err != nil {
			panic(err)
		}
		if tableOf(tables, t.Resource) != nil {
			panic(fmt.Sprintf("checkpoint: two tables for resource %q", t.Resource))
		}
		tables = append(tables, t)
	}
	return &Store{db: db, lease: o.Lease, tx: postgres.TxOptions{LockTimeout: o.LockTimeout, IdleTimeout: o.TxIdleTimeout}, tables: tables}
}

// table returns the store's table of r, or nil.
func (s *Store) table(r Resource) *Table { return tableOf(s.tables, r) }

// inTx runs fn in one transaction bounded by the store's idle and lock
// timeouts.
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return postgres.InTx(ctx, s.db, s.tx, fn)
}

// Lease returns the heartbeat lease (Options.Lease after defaults).
func (s *Store) Lease() time.Duration { return s.lease }

// Position is where a run stands in one resource.
type Position struct {
	// Cursor is the opaque position to resume from ("" = the beginning).
	Cursor string
	// Records is how many records of the resource this run has committed.
	Records int64
	// Done is true once the resource was synced to its end.
	Done bool
	// Walk is the page walk's state as the last commit left it (Batch.Walk).
	Walk string
}

// Claim makes a new attempt of run runID (a sync of company) the holder of
// the company, under a new epoch, and returns it with the positions the
// company's sync has committed so far.
//
// It creates the sync_runs row when the scheduler did not. It returns
//   - *BusyError when another attempt of the same run is running with a
//     fresh heartbeat (nothing changed): asynq re-running a task whose run
//     was re-driven meanwhile (TakeOver), or a duplicate task of the run;
//   - *FinishedError when the run already ended (nothing changed), or when
//     another run of the company is running with a fresh heartbeat: this
//     run is then recorded as stopped (coalesced into the live one, see the
//     package comment) and has nothing to do;
//   - *MismatchError when runID belongs to another company.
//
// Otherwise the claim always succeeds: a previous attempt of the same run is
// fenced (its next write returns *FencedError), and an older run of the
// company that is pending, failed, or running with a stale heartbeat is
// fenced too, marked stopped, and its checkpoints (and its records_synced
// and rows_changed) are carried over to this run (invariant 18 in
// docs/invariants.md): the company's sync continues
// where it stood. Only after a run that succeeded does a new run start from
// the beginning. owner names the worker, for operators.
func (s *Store) Claim(ctx context.Context, runID, company, owner string, kind Kind) (*Attempt, error) {
	run, err := canonical("run id", runID)
	if err != nil {
		return nil, err
	}
	if company, err = canonical("company uuid", company); err != nil {
		return nil, err
	}
	if !kind.Valid() {
		return nil, fmt.Errorf("checkpoint: claim run %s: kind %q is neither full nor incremental", run, kind)
	}
	a, err := s.claim(ctx, run, company, owner, kind)
	if err != nil {
		var busy *BusyError
		var fin *FinishedError
		var mis *MismatchError
		if errors.As(err, &busy) || errors.As(err, &fin) || errors.As(err, &mis) {
			return nil, err
		}
		return nil, fmt.Errorf("checkpoint: claim run %s of company %s: %w", run, company, err)
	}
	return a, nil
}

func (s *Store) claim(ctx context.Context, run, company, owner string, kind Kind) (*Attempt, error) {
	var a *Attempt
	var coalesced *FinishedError
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var err error
		a, coalesced, err = s.claimTx(tx, run, company, owner, kind)
		return err
	})
	if err != nil {
		return nil, err
	}
	if coalesced != nil {
		return nil, coalesced
	}
	return a, nil
}

// claimTx is Claim's transaction. It returns a *FinishedError (and no
// error, so that the transaction commits) when it recorded the run as
// coalesced into a live run of the company.
func (s *Store) claimTx(tx *gorm.DB, run, company, owner string, kind Kind) (*Attempt, *FinishedError, error) {
	// The company's fence row first, locked: every writer takes it first,
	// so claims, takeovers and batch commits of one company serialize on it.
	if err := tx.Exec(`INSERT INTO sync_fences (company_uuid, epoch, run_id) VALUES (?, 0, ?) ON CONFLICT (company_uuid) DO NOTHING`, company, run).Error; err != nil {
		return nil, nil, err
	}
	// Freshness is judged on the clock at the read (clock_timestamp), not
	// at the transaction's start: the lock wait above may have let the
	// holder commit, and heartbeat, meanwhile.
	lease := s.lease.Seconds()
	var fence struct {
		Holder  string
		Fresh   bool
		RetryIn float64
		Removed bool
	}
	if err := one(tx.Raw(`
SELECT run_id::text AS holder, removed_at IS NOT NULL AS removed,
       COALESCE(heartbeat_at > clock_timestamp() - make_interval(secs => ?), false) AS fresh,
       COALESCE(EXTRACT(EPOCH FROM heartbeat_at + make_interval(secs => ?) - clock_timestamp())::float8, 0) AS retry_in
FROM sync_fences WHERE company_uuid = ? FOR UPDATE`, lease, lease, company).Scan(&fence), "fence"); err != nil {
		return nil, nil, err
	}

	// Then the run's row.
	if err := tx.Exec(`INSERT INTO sync_runs (id, company_uuid) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, run, company).Error; err != nil {
		return nil, nil, err
	}
	var own struct {
		Company string
		Status  Status
		Error   string
		Kind    *Kind
	}
	if err := one(tx.Raw(`SELECT company_uuid::text AS company, status, error, kind FROM sync_runs WHERE id = ? FOR UPDATE`, run).Scan(&own), "run"); err != nil {
		return nil, nil, err
	}
	if own.Company != company {
		return nil, nil, &MismatchError{RunID: run, Company: company, RunCompany: own.Company}
	}
	if own.Status.final() {
		return nil, nil, &FinishedError{RunID: run, Status: own.Status, Reason: own.Error}
	}
	if fence.Removed {
		// The company was removed (Retire): a task still queued for it
		// ends here, unless the company was onboarded again since.
		var onboarded bool
		if err := tx.Raw(`SELECT EXISTS (SELECT 1 FROM gusto_auth_tokens WHERE company_uuid = ?)`, company).Scan(&onboarded).Error; err != nil {
			return nil, nil, err
		}
		if !onboarded {
			if err := tx.Exec(`UPDATE sync_runs SET status = 'stopped', error = ?, finished_at = now() WHERE id = ?`, removedReason, run).Error; err != nil {
				return nil, nil, err
			}
			return nil, &FinishedError{RunID: run, Status: StatusStopped, Reason: removedReason}, nil
		}
		if err := tx.Exec(`UPDATE sync_fences SET removed_at = NULL WHERE company_uuid = ?`, company).Error; err != nil {
			return nil, nil, err
		}
	}
	retryIn := time.Duration(fence.RetryIn * float64(time.Second))

	// The kind this run walks if nothing carried decides otherwise: the
	// one an earlier attempt fixed, else the one asked for.
	wants := kind
	if own.Kind != nil {
		wants = *own.Kind
	}
	var continues string
	carry := false // the previous run's checkpoints become this run's
	if fence.Holder == run {
		if own.Status == StatusRunning && fence.Fresh {
			// Another attempt of this very run is alive (asynq re-ran a
			// task whose run was re-driven, or a duplicate): it does the
			// work; fencing it would only refetch its batch.
			return nil, nil, &BusyError{Company: company, Holder: run, RetryIn: retryIn}
		}
	} else {
		var hs []struct {
			Status Status
			Kind   *Kind
		} // empty: the holder's row is gone (deleted by an operator)
		if err := tx.Raw(`SELECT status, kind FROM sync_runs WHERE id = ? FOR UPDATE`, fence.Holder).Scan(&hs).Error; err != nil {
			return nil, nil, err
		}
		// A full walk asked for while the holder walks incrementally is
		// not absorbed by it: it waits for a live holder to end, and
		// starts from the beginning over an unfinished one (an
		// incremental walk's checkpoints mean nothing to a full one).
		upgrade := len(hs) > 0 && wants == KindFull && (hs[0].Kind == nil || *hs[0].Kind != KindFull)
		switch {
		case len(hs) > 0 && hs[0].Status == StatusRunning && fence.Fresh && upgrade:
			return nil, nil, &BusyError{Company: company, Holder: fence.Holder, RetryIn: retryIn}
		case len(hs) > 0 && hs[0].Status == StatusRunning && fence.Fresh:
			// A live run syncs the company: this run is that one.
			reason := "coalesced: company is being synced by run " + fence.Holder + " (heartbeat fresh); that run is this sync"
			if err := tx.Exec(`UPDATE sync_runs SET status = 'stopped', error = ?, finished_at = now(), kind = COALESCE(kind, ?) WHERE id = ?`, reason, string(kind), run).Error; err != nil {
				return nil, nil, err
			}
			return nil, &FinishedError{RunID: run, Status: StatusStopped, Reason: reason}, nil
		case len(hs) > 0 && hs[0].Status == StatusSucceeded:
			// The company's last sync is complete: a new one starts from
			// the beginning.
			if err := tx.Exec(`DELETE FROM sync_checkpoints WHERE company_uuid = ? AND run_id <> ?`, company, run).Error; err != nil {
				return nil, nil, err
			}
		case upgrade:
			if !hs[0].Status.final() {
				if err := tx.Exec(`UPDATE sync_runs SET status = 'stopped', error = ?, finished_at = now() WHERE id = ?`,
					"superseded by full run "+run+", which walks everything from the beginning", fence.Holder).Error; err != nil {
					return nil, nil, err
				}
			}
			if err := tx.Exec(`DELETE FROM sync_checkpoints WHERE company_uuid = ? AND run_id <> ?`, company, run).Error; err != nil {
				return nil, nil, err
			}
		default:
			// Unfinished (pending, or running with a stale heartbeat), failed,
			// or gone: its progress is the company's, carried over.
			if len(hs) > 0 && !hs[0].Status.final() {
				if err := tx.Exec(`UPDATE sync_runs SET status = 'stopped', error = ?, finished_at = now() WHERE id = ?`,
					"superseded by run "+run+", which carried its progress over", fence.Holder).Error; err != nil {
					return nil, nil, err
				}
			}
			carry = true
		}
	}

	a := &Attempt{RunID: run, Company: company, Owner: owner, store: s, positions: map[Resource]Position{}}
	if err := one(tx.Raw(`
UPDATE sync_fences SET epoch = epoch + 1, run_id = ?, owner = ?, claimed_at = now(), heartbeat_at = now()
WHERE company_uuid = ? RETURNING epoch`, run, owner, company).Scan(&a.Epoch), "fence"); err != nil {
		return nil, nil, err
	}
	if carry {
		// Rewritten under the new epoch: the checkpoints are this
		// attempt's now, and the old run's attempts are fenced off them.
		// So is the rest of the company's progress: the uuids and windows
		// a full walk has committed so far (its reconciliation is this
		// run's to complete).
		carried := tx.Exec(`UPDATE sync_checkpoints SET run_id = ?, epoch = ? WHERE company_uuid = ?`, run, a.Epoch, company)
		if carried.Error != nil {
			return nil, nil, carried.Error
		}
		for _, progress := range []string{"sync_full_seen", "sync_full_windows"} {
			if err := tx.Exec(`UPDATE `+progress+` SET run_id = ? WHERE company_uuid = ? AND run_id <> ?`, run, company, run).Error; err != nil {
				return nil, nil, err
			}
		}
		if carried.RowsAffected > 0 {
			continues = fence.Holder
			// The counters follow the progress, so that the run that
			// completes the company's sync reports all of it; so does the
			// kind, so that the checkpoints keep their meaning (a full
			// walk's cursor is not an incremental one's: this run walks
			// the carried kind whatever its task asked for).
			if err := tx.Exec(`UPDATE sync_runs n SET records_synced = n.records_synced + o.records_synced, rows_changed = n.rows_changed + o.rows_changed,
       kind = COALESCE(n.kind, o.kind)
FROM sync_runs o WHERE n.id = ? AND o.id = ?`, run, fence.Holder).Error; err != nil {
				return nil, nil, err
			}
		}
	}
	// The kind is fixed here, in the claim's transaction, so that no
	// attempt can die before its run's kind is recorded (a re-drive then
	// keeps the kind asked for; see FixKind for the rules).
	var claimed struct {
		Attempts  int
		Continues string
		Kind      Kind
	}
	if err := one(tx.Raw(`
UPDATE sync_runs SET status = 'running', epoch = ?, attempt_owner = ?, attempts = attempts + 1,
       started_at = COALESCE(started_at, now()), heartbeat_at = now(), finished_at = NULL, error = '',
       continues = COALESCE(NULLIF(?, '')::uuid, continues),
       kind = COALESCE(kind, CASE WHEN ? = 'incremental' AND NOT EXISTS (SELECT 1 FROM company_full_syncs WHERE company_uuid = ?)
                                  THEN 'full' ELSE ? END)
WHERE id = ? RETURNING attempts, COALESCE(continues::text, '') AS continues, kind`,
		a.Epoch, owner, continues, string(kind), company, string(kind), run).Scan(&claimed), "run"); err != nil {
		return nil, nil, err
	}
	a.Number, a.Continues, a.kind = claimed.Attempts, claimed.Continues, claimed.Kind
	var checkpoints []struct {
		Resource Resource
		Position
	}
	if err := tx.Raw(`SELECT resource, cursor, records, done, walk FROM sync_checkpoints WHERE company_uuid = ? AND run_id = ?`, company, run).
		Scan(&checkpoints).Error; err != nil {
		return nil, nil, err
	}
	for _, c := range checkpoints {
		a.positions[c.Resource] = c.Position
	}
	return a, nil, nil
}

// removedReason is the error recorded on a run claimed after its company
// was removed.
const removedReason = "company removed (gustosync companies remove); nothing to sync"

// one checks that a statement expected to touch exactly one row did: the
// rows it reads are created or locked earlier in the same transaction, so a
// miss is a bug or a concurrent delete, never an answer.
func one(res *gorm.DB, what string) error {
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("%s row: %d rows, want 1", what, res.RowsAffected)
	}
	return nil
}

func canonical(what, s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %s %q is not a uuid", what, truncate(s))
	}
	return id.String(), nil
}
