package checkpoint

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// This file: when a company's employees were last read in full
// (company_employee_reads), the fact an incremental run needs to skip the
// employees walk on Gusto's word (package jobs, package gustoevents).
//
// A walk counts as a read only when it went from the first page to the
// last, every page agreeing with Gusto's pagination headers, across as
// many attempts and continued runs as it took. Its time is its start, on
// PostgreSQL's clock, taken before the first page was requested
// (BeginWalk): a change made while the walk ran, which the walk may have
// missed, is newer than the read, so its event forces the next walk.

// BeginWalk records that the run walks resource r from its first page from
// now on (sync_checkpoints.started_at, PostgreSQL's clock). Call it before
// requesting the first page. Fenced like every write of the attempt
// (*FencedError), and like every write it stamps the row with the
// attempt's epoch (a row is only ever this run's: Claim deleted or carried
// over every other run's); the checkpoint's position is left as it is.
func (a *Attempt) BeginWalk(ctx context.Context, r Resource) error {
	if a.store.table(r) == nil {
		return fmt.Errorf("checkpoint: begin walk: unknown resource %q", r)
	}
	ok, err := a.fencedUpdate(ctx, `
WITH f AS (
    UPDATE sync_fences SET heartbeat_at = now()
    WHERE company_uuid = ? AND epoch = ? AND run_id = ? RETURNING company_uuid, run_id, epoch)
INSERT INTO sync_checkpoints (company_uuid, resource, run_id, epoch, started_at, updated_at)
SELECT company_uuid, ?, run_id, epoch, now(), now() FROM f
ON CONFLICT (company_uuid, resource) DO UPDATE SET started_at = excluded.started_at, epoch = excluded.epoch, updated_at = excluded.updated_at`, string(r))
	if err != nil {
		return fmt.Errorf("checkpoint: begin the %s walk of run %s: %w", r, a.RunID, err)
	}
	if !ok {
		return a.fenced("begin walk")
	}
	return nil
}

// VoidWalk records that the run's current walk of r does not count as a
// read when it ends (a page disagreed with Gusto's pagination headers, so
// a record may have been missed): the next run walks it again. Fenced.
func (a *Attempt) VoidWalk(ctx context.Context, r Resource) error {
	// No row touched is fine: no checkpoint row means nothing was begun,
	// and a fence lost is found by the attempt's next commit.
	_, err := a.fencedUpdate(ctx, `
WITH f AS (SELECT company_uuid, epoch FROM sync_fences WHERE company_uuid = ? AND epoch = ? AND run_id = ?)
UPDATE sync_checkpoints SET started_at = NULL, epoch = (SELECT epoch FROM f), updated_at = now()
WHERE company_uuid = (SELECT company_uuid FROM f) AND resource = ?`, string(r))
	if err != nil {
		return fmt.Errorf("checkpoint: void the %s walk of run %s: %w", r, a.RunID, err)
	}
	return nil
}

// recordRead runs inside the commit transaction of the batch that ends the
// employees walk: the walk, if it began from its first page and was not
// voided, becomes the company's last employees read.
func (a *Attempt) recordRead(tx *gorm.DB, r Resource) error {
	if r != ResourceEmployees {
		return nil
	}
	return tx.Exec(`
INSERT INTO company_employee_reads (company_uuid, run_id, started_at, completed_at)
SELECT company_uuid, run_id, started_at, now() FROM sync_checkpoints
WHERE company_uuid = ? AND resource = ? AND started_at IS NOT NULL
ON CONFLICT (company_uuid) DO UPDATE SET run_id = excluded.run_id, started_at = excluded.started_at, completed_at = excluded.completed_at
WHERE excluded.started_at >= company_employee_reads.started_at`, a.Company, string(r)).Error
}

// EmployeesRead is a company's last complete employees walk.
type EmployeesRead struct {
	// RunID is the run that completed it.
	RunID string
	// StartedAt is when it began (PostgreSQL's clock).
	StartedAt time.Time
	// Age is how long ago it began, on PostgreSQL's clock.
	Age time.Duration
}

// LastEmployeesRead returns company's last complete employees walk, and
// false when there is none.
func (s *Store) LastEmployeesRead(ctx context.Context, company string) (EmployeesRead, bool, error) {
	company, err := canonical("company uuid", company)
	if err != nil {
		return EmployeesRead{}, false, err
	}
	var rows []struct {
		RunID     string
		StartedAt time.Time
		Age       float64
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT run_id::text AS run_id, started_at, EXTRACT(EPOCH FROM now() - started_at)::float8 AS age
FROM company_employee_reads WHERE company_uuid = ?`, company).Scan(&rows).Error; err != nil {
		return EmployeesRead{}, false, fmt.Errorf("checkpoint: read the last employees read of %s: %w", company, err)
	}
	if len(rows) == 0 {
		return EmployeesRead{}, false, nil
	}
	r := rows[0]
	return EmployeesRead{RunID: r.RunID, StartedAt: r.StartedAt, Age: time.Duration(r.Age * float64(time.Second))}, true, nil
}
