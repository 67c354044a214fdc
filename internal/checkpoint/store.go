package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Defaults of Options.
const (
	DefaultLease         = 60 * time.Second
	DefaultTxIdleTimeout = 15 * time.Second
	DefaultLockTimeout   = 30 * time.Second
)

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
	// StatusStopped: superseded by a newer run of the company.
	StatusStopped Status = "stopped"
)

func (s Status) final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusStopped
}

// Options configures a Store. The zero value is usable.
type Options struct {
	// Lease is how long after its last heartbeat a running run keeps other
	// runs of its company out (Claim returns *BusyError meanwhile). It is
	// measured on PostgreSQL's clock, so workers' clocks need not agree.
	// Attempts should heartbeat several times per lease. Zero means
	// DefaultLease.
	Lease time.Duration
	// TxIdleTimeout is PostgreSQL's idle_in_transaction_session_timeout for
	// the claim and commit transactions: a holder frozen inside one (SIGSTOP,
	// a long GC pause, a partitioned VM) has its session ended and its fence
	// lock released, so the attempt that replaces it is not blocked. Zero
	// means DefaultTxIdleTimeout.
	TxIdleTimeout time.Duration
	// LockTimeout bounds the wait for the fence row's lock in those
	// transactions; past it the claim or commit fails (transient). Zero
	// means DefaultLockTimeout.
	LockTimeout time.Duration
}

// Store claims runs and commits their batches. It is safe for concurrent
// use; it holds no state beyond the pool.
type Store struct {
	db                 *sql.DB
	lease              time.Duration
	idleTimeout, lockT string // PostgreSQL interval text, e.g. "15000ms"
}

// NewStore returns a Store over db (a pgx database/sql pool whose size
// should match the number of concurrent syncs).
func NewStore(db *sql.DB, o Options) *Store {
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.TxIdleTimeout <= 0 {
		o.TxIdleTimeout = DefaultTxIdleTimeout
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	return &Store{db: db, lease: o.Lease, idleTimeout: pgMillis(o.TxIdleTimeout), lockT: pgMillis(o.LockTimeout)}
}

func pgMillis(d time.Duration) string { return fmt.Sprintf("%dms", max(d.Milliseconds(), 1)) }

// begin starts a transaction bounded by the store's idle and lock timeouts.
func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config('idle_in_transaction_session_timeout', $1, true), set_config('lock_timeout', $2, true)`,
		s.idleTimeout, s.lockT); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx, nil
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
}

// Claim makes a new attempt of run runID (a sync of company) the holder of
// the company, under a new epoch, and returns it with the positions the run
// has committed so far (empty for a run's first attempt).
//
// It creates the sync_runs row when the scheduler did not. It returns
//   - *BusyError when another run of the company is running with a fresh
//     heartbeat (nothing changed);
//   - *FinishedError when the run already ended (nothing changed);
//   - *MismatchError when runID belongs to another company.
//
// Otherwise the claim always succeeds: a previous attempt of the same run is
// fenced (its next write returns *FencedError), and an older run of the
// company whose heartbeat went stale is marked stopped and fenced too; a new
// run's checkpoints start from the beginning. owner names the worker, for
// operators.
func (s *Store) Claim(ctx context.Context, runID, company, owner string) (*Attempt, error) {
	run, err := canonical("run id", runID)
	if err != nil {
		return nil, err
	}
	if company, err = canonical("company uuid", company); err != nil {
		return nil, err
	}
	a, err := s.claim(ctx, run, company, owner)
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

func (s *Store) claim(ctx context.Context, run, company, owner string) (*Attempt, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()

	// The company's fence row first, locked: every writer takes it first,
	// so claims and batch commits of one company serialize on it.
	if _, err := tx.ExecContext(ctx, `INSERT INTO sync_fences (company_uuid, epoch, run_id) VALUES ($1, 0, $2) ON CONFLICT (company_uuid) DO NOTHING`, company, run); err != nil {
		return nil, err
	}
	var (
		holder  string
		fresh   bool
		retryIn float64
	)
	err = tx.QueryRowContext(ctx, `
SELECT run_id::text,
       COALESCE(heartbeat_at > now() - make_interval(secs => $2), false),
       COALESCE(EXTRACT(EPOCH FROM heartbeat_at + make_interval(secs => $2) - now())::float8, 0)
FROM sync_fences WHERE company_uuid = $1 FOR UPDATE`, company, s.lease.Seconds()).Scan(&holder, &fresh, &retryIn)
	if err != nil {
		return nil, err
	}

	// Then the run's row.
	if _, err := tx.ExecContext(ctx, `INSERT INTO sync_runs (id, company_uuid) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, run, company); err != nil {
		return nil, err
	}
	var (
		runCompany string
		status     Status
		reason     string
	)
	if err := tx.QueryRowContext(ctx, `SELECT company_uuid::text, status, error FROM sync_runs WHERE id = $1 FOR UPDATE`, run).Scan(&runCompany, &status, &reason); err != nil {
		return nil, err
	}
	if runCompany != company {
		return nil, &MismatchError{RunID: run, Company: company, RunCompany: runCompany}
	}
	if status.final() {
		return nil, &FinishedError{RunID: run, Status: status, Reason: reason}
	}

	if holder != run {
		var hs Status
		err := tx.QueryRowContext(ctx, `SELECT status FROM sync_runs WHERE id = $1 FOR UPDATE`, holder).Scan(&hs)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// The holder's row is gone (deleted by an operator): take over.
		case err != nil:
			return nil, err
		case hs == StatusRunning && fresh:
			return nil, &BusyError{Company: company, Holder: holder, RetryIn: time.Duration(retryIn * float64(time.Second))}
		case !hs.final():
			if _, err := tx.ExecContext(ctx, `UPDATE sync_runs SET status = 'stopped', error = $2, finished_at = now() WHERE id = $1`,
				holder, "superseded by run "+run); err != nil {
				return nil, err
			}
		}
		// A new run starts from the beginning.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sync_checkpoints WHERE company_uuid = $1 AND run_id <> $2`, company, run); err != nil {
			return nil, err
		}
	}

	a := &Attempt{RunID: run, Company: company, Owner: owner, store: s, positions: map[Resource]Position{}}
	if err := tx.QueryRowContext(ctx, `
UPDATE sync_fences SET epoch = epoch + 1, run_id = $2, owner = $3, claimed_at = now(), heartbeat_at = now()
WHERE company_uuid = $1 RETURNING epoch`, company, run, owner).Scan(&a.Epoch); err != nil {
		return nil, err
	}
	if err := tx.QueryRowContext(ctx, `
UPDATE sync_runs SET status = 'running', epoch = $2, attempt_owner = $3, attempts = attempts + 1,
       started_at = COALESCE(started_at, now()), heartbeat_at = now(), finished_at = NULL, error = ''
WHERE id = $1 RETURNING attempts`, run, a.Epoch, owner).Scan(&a.Number); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT resource, cursor, records, done FROM sync_checkpoints WHERE company_uuid = $1 AND run_id = $2`, company, run)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			r Resource
			p Position
		)
		if err := rows.Scan(&r, &p.Cursor, &p.Records, &p.Done); err != nil {
			rows.Close()
			return nil, err
		}
		a.positions[r] = p
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return a, nil
}

func canonical(what, s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %s %q is not a uuid", what, truncate(s))
	}
	return id.String(), nil
}
