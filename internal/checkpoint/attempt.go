package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/postgres"
)

// maxReason bounds the error text stored on a run.
const maxReason = 1000

// Attempt is one claimed attempt of a run: the holder of its company at
// Epoch. Its writes are fenced: once a newer attempt claims the company they
// change nothing and return *FencedError.
//
// Commit and Finish are meant for the goroutine that runs the sync;
// Heartbeat may run concurrently with them from another goroutine.
type Attempt struct {
	// RunID and Company identify the run (canonical uuids).
	RunID, Company string
	// Owner is the worker that claimed.
	Owner string
	// Epoch is this attempt's fencing token.
	Epoch int64
	// Number counts the run's claims, this one included (1 for a first attempt).
	Number int
	// Continues is the run whose progress this run carried over (its
	// unfinished predecessor), or "".
	Continues string

	store     *Store
	mu        sync.Mutex
	positions map[Resource]Position
	kind      Kind // see FixKind (full.go)
}

// Position returns where the run stands in r (the zero Position: from the
// beginning). It reflects this attempt's commits.
func (a *Attempt) Position(r Resource) Position {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.positions[r]
}

// Resumed reports whether the company's sync had committed anything before
// this attempt claimed it: an earlier attempt of the run, or the unfinished
// run it continues.
func (a *Attempt) Resumed() bool { return (a.Number > 1 || a.Continues != "") && a.hasProgress() }

func (a *Attempt) hasProgress() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.positions {
		if p.Records > 0 || p.Done || p.Cursor != "" {
			return true
		}
	}
	return false
}

// Batch is one transaction's worth of a resource: the rows to upsert and
// where the run stands once they are stored.
type Batch struct {
	// Resource is what the rows are; every row must be of it.
	Resource Resource
	// Rows may be empty (a checkpoint-only commit, e.g. an empty last page).
	Rows []Row
	// Next is the cursor to resume from after this batch.
	Next string
	// Done marks the resource as synced to its end.
	Done bool
}

// Result says what a committed batch did.
type Result struct {
	// Records is how many distinct records the batch held.
	Records int
	// Changed is how many rows were inserted or had their payload changed;
	// zero when the company did not change since the last sync.
	Changed int64
	// Position is where the run now stands in the batch's resource.
	Position Position
	// Foreign lists the batch's records (uuids) that another company owns:
	// they were left as they are and noted on the run (invariant 14: rows
	// never change company); the rest of the batch was stored.
	Foreign []string
}

// Commit stores a batch and advances the resource's checkpoint in one
// transaction, fenced by the attempt's epoch (invariants 6 and 7 in
// docs/invariants.md). It
// is the only function that writes synced rows.
//
// The transaction first updates the company's fence row where the epoch and
// run still match: that takes the row lock a concurrent Claim needs, so a
// claim either happens before (and the commit finds no match: nothing is
// written, *FencedError) or after this batch is committed. Then the rows are
// upserted (rewritten only when their payload changed), the checkpoint is
// written and the run's counters advance. Any error rolls everything back;
// the checkpoint never moves without its rows, nor rows without it.
//
// Errors: *FencedError (stop the attempt), *BatchError (the batch is
// malformed), or a wrapped database error (transient: retry the run, which
// resumes from the last committed checkpoint).
func (a *Attempt) Commit(ctx context.Context, b Batch) (Result, error) {
	if !b.Resource.valid() {
		return Result{}, &BatchError{Resource: b.Resource, Reason: "unknown resource"}
	}
	p, err := prepare(b.Resource, b.Rows)
	if err != nil {
		return Result{}, err
	}
	res := Result{}
	if p != nil {
		res.Records = p.n
	}
	prev := a.Position(b.Resource)
	pos := prev
	pos.Cursor, pos.Done = b.Next, b.Done
	pos.Records += int64(res.Records)
	res.Position = pos

	if err := a.commit(ctx, b, p, prev, pos, &res); err != nil {
		var fenced *FencedError
		if errors.As(err, &fenced) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("checkpoint: commit %s batch of run %s (epoch %d): %w", b.Resource, a.RunID, a.Epoch, err)
	}
	a.mu.Lock()
	a.positions[b.Resource] = pos
	a.mu.Unlock()
	return res, nil
}

func (a *Attempt) commit(ctx context.Context, b Batch, p *prepared, prev, pos Position, res *Result) error {
	r := b.Resource
	return a.store.inTx(ctx, func(tx *gorm.DB) error {
		fence := tx.Exec(`UPDATE sync_fences SET heartbeat_at = now() WHERE company_uuid = ? AND epoch = ? AND run_id = ?`, a.Company, a.Epoch, a.RunID)
		if fence.Error != nil {
			return fence.Error
		}
		if fence.RowsAffected != 1 {
			return a.fenced("commit")
		}
		if p != nil {
			if err := a.upsert(tx, p, res); err != nil {
				return err
			}
		}
		// Undelete returning rows; record a full walk's uuids (full.go).
		if err := a.track(tx, r, b.Rows, prev); err != nil {
			return err
		}
		if err := tx.Exec(`
INSERT INTO sync_checkpoints (company_uuid, resource, run_id, epoch, cursor, records, done, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, now())
ON CONFLICT (company_uuid, resource) DO UPDATE SET
    run_id = excluded.run_id, epoch = excluded.epoch, cursor = excluded.cursor,
    records = excluded.records, done = excluded.done, updated_at = excluded.updated_at`,
			a.Company, string(r), a.RunID, a.Epoch, pos.Cursor, pos.Records, pos.Done).Error; err != nil {
			return err
		}
		if b.Done {
			// The walk's end: it may be the company's last employees read (reads.go).
			if err := a.recordRead(tx, r); err != nil {
				return err
			}
		}
		return tx.Exec(`
UPDATE sync_runs SET records_synced = records_synced + ?, rows_changed = rows_changed + ?, heartbeat_at = now()
WHERE id = ?`, res.Records, res.Changed, a.RunID).Error
	})
}

// upsert stores a prepared batch inside the commit's transaction
// (invariant 14 in docs/invariants.md for the ownership rule):
//
//  1. one query finds which of the batch's records already have a row, and
//     whose;
//  2. the new ones are copied into the table with COPY (pgx CopyFrom on the
//     transaction's connection): a first sync writes at COPY's speed;
//  3. the company's existing ones go through the update statement, which
//     rewrites a row only when its payload changed;
//  4. another company's are left untouched, listed in res.Foreign and
//     noted on the run.
//
// The commit holds the company's fence row, so no other attempt of the
// company writes between 1 and 2. A row another company inserts meanwhile
// under the same uuid (which only malformed data can do) makes the COPY
// fail with a unique violation: the batch rolls back, and its retry reports
// that row as another company's.
func (a *Attempt) upsert(tx *gorm.DB, p *prepared, res *Result) error {
	var found []struct{ UUID, Company string }
	if err := tx.Raw(p.sql.existing, postgres.Array(p.ids)).Scan(&found).Error; err != nil {
		return err
	}
	owner := make(map[string]string, len(found))
	for _, f := range found {
		owner[f.UUID] = f.Company
	}
	var fresh, mine []int
	for i, id := range p.ids {
		c, ok := owner[id]
		switch {
		case !ok:
			fresh = append(fresh, i)
		case !p.sql.table.owned || c == a.Company:
			mine = append(mine, i)
		default:
			res.Foreign = append(res.Foreign, id)
		}
	}
	if len(fresh) > 0 {
		n, err := postgres.CopyFrom(tx, p.sql.table.name, p.sql.copyColumns, pgx.CopyFromRows(p.copyRows([16]byte(uuid.MustParse(a.Company)), fresh)))
		if err != nil {
			return err
		}
		res.Changed += n
	}
	if len(mine) > 0 {
		up := tx.Exec(p.sql.update, p.arrays(a.Company, mine)...)
		if up.Error != nil {
			return up.Error
		}
		res.Changed += up.RowsAffected
	}
	if len(res.Foreign) == 0 {
		return nil
	}
	slices.Sort(res.Foreign)
	note := clip(foreignNote(p.sql.table.name, res.Foreign))
	return tx.Exec(`UPDATE sync_runs SET notes = left(CASE WHEN notes = '' THEN ? ELSE notes || E'\n' || ? END, ?) WHERE id = ?`,
		note, note, maxNotes, a.RunID).Error
}

// foreignNote says which records of a batch belong to another company.
func foreignNote(table string, ids []string) string {
	const show = 5
	list := strings.Join(ids[:min(len(ids), show)], ", ")
	if len(ids) > show {
		list += fmt.Sprintf(" and %d more", len(ids)-show)
	}
	return fmt.Sprintf("%s: %d record(s) belong to another company and were left untouched: %s", table, len(ids), list)
}

// Heartbeat tells other runs of the company that this attempt is alive. It
// returns *FencedError once a newer attempt holds the company: the caller
// should then stop the attempt at once.
func (a *Attempt) Heartbeat(ctx context.Context) error {
	ok, err := a.fencedUpdate(ctx, `
WITH f AS (
    UPDATE sync_fences SET heartbeat_at = now()
    WHERE company_uuid = ? AND epoch = ? AND run_id = ? RETURNING run_id)
UPDATE sync_runs SET heartbeat_at = now() WHERE id = (SELECT run_id FROM f)`)
	if err != nil {
		return fmt.Errorf("checkpoint: heartbeat of run %s: %w", a.RunID, err)
	}
	if !ok {
		return a.fenced("heartbeat")
	}
	return nil
}

// Finish records how the attempt ended: StatusSucceeded or StatusFailed end
// the run; StatusPending leaves it to be retried (its checkpoints kept), and
// lets another run of the company claim meanwhile. reason is stored as the
// run's error; it must hold no secret. Finish is fenced like Commit.
func (a *Attempt) Finish(ctx context.Context, status Status, reason string) error {
	switch status {
	case StatusSucceeded, StatusFailed, StatusPending:
	default:
		return fmt.Errorf("checkpoint: finish run %s: status %q is not an outcome", a.RunID, status)
	}
	ok, err := a.fencedUpdate(ctx, `
WITH f AS (
    UPDATE sync_fences SET heartbeat_at = NULL
    WHERE company_uuid = ? AND epoch = ? AND run_id = ? RETURNING run_id)
UPDATE sync_runs SET status = ?, error = ?, heartbeat_at = now(),
       finished_at = CASE WHEN ? THEN now() END
WHERE id = (SELECT run_id FROM f)`, string(status), clip(reason), status.final())
	if err != nil {
		return fmt.Errorf("checkpoint: finish run %s as %s: %w", a.RunID, status, err)
	}
	if !ok {
		return a.fenced("finish")
	}
	return nil
}

// Note appends note to the run's notes (sync_runs.notes): what went wrong
// without failing the run, e.g. a page walk that disagreed with Gusto's
// pagination headers. Fenced like every write of the attempt; notes are
// bounded in size. note must hold no secret.
func (a *Attempt) Note(ctx context.Context, note string) error {
	ok, err := a.fencedUpdate(ctx, `
WITH f AS (SELECT run_id FROM sync_fences WHERE company_uuid = ? AND epoch = ? AND run_id = ?)
UPDATE sync_runs SET notes = left(CASE WHEN notes = '' THEN ? ELSE notes || E'\n' || ? END, ?)
WHERE id = (SELECT run_id FROM f)`, clip(note), clip(note), maxNotes)
	if err != nil {
		return fmt.Errorf("checkpoint: note on run %s: %w", a.RunID, err)
	}
	if !ok {
		return a.fenced("note")
	}
	return nil
}

// maxNotes bounds a run's notes, in characters.
const maxNotes = 4000

// fencedUpdate runs an autocommit statement whose first three parameters
// are the company, epoch and run, and reports whether it touched a row.
func (a *Attempt) fencedUpdate(ctx context.Context, query string, more ...any) (bool, error) {
	args := append([]any{a.Company, a.Epoch, a.RunID}, more...)
	res := a.store.db.WithContext(ctx).Exec(query, args...)
	return res.RowsAffected == 1, res.Error
}

func (a *Attempt) fenced(op string) error {
	return &FencedError{Op: op, RunID: a.RunID, Company: a.Company, Epoch: a.Epoch}
}

// clip bounds a reason to maxReason bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
