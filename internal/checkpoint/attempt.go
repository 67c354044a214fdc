package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
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
	// Resource is what the rows are: the Resource of one of the store's
	// tables.
	Resource Resource
	// Rows may be empty (a checkpoint-only commit, e.g. an empty last page).
	Rows []Row
	// Next is the cursor to resume from after this batch.
	Next string
	// Walk is the state of the page walk under way after this batch's last
	// page (opaque: package jobs keeps Gusto's pagination headers in it, so
	// that a resumed attempt goes on checking the walk rather than starting
	// again; Position.Walk). "" when no page walk is under way.
	Walk string
	// Windows are the windows (of a ReconcileWindows table) whose walk
	// ended inside this batch: a full run's CompleteFull may mark the
	// table's rows lying wholly inside them.
	Windows []Window
	// ParentsRead are the parent records (of a substream) whose every page
	// this batch completes: Store.Parents reports them read at their
	// version from this commit on.
	ParentsRead []ParentRead
	// Done marks the resource as synced to its end.
	Done bool
}

// Window is one date window of a windowed walk, both bounds inclusive; its
// Kind names the table's WindowRule that says what it returns.
type Window struct {
	Kind       string
	Start, End time.Time
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
	t := a.store.table(b.Resource)
	if t == nil {
		return Result{}, &BatchError{Resource: b.Resource, Reason: "unknown resource"}
	}
	p, err := prepare(t, b.Rows)
	if err != nil {
		return Result{}, err
	}
	res := Result{}
	if p != nil {
		res.Records = p.n
	}
	prev := a.Position(b.Resource)
	pos := prev
	pos.Cursor, pos.Done, pos.Walk = b.Next, b.Done, b.Walk
	pos.Records += int64(res.Records)
	res.Position = pos

	if err := a.commit(ctx, t, b, p, prev, pos, &res); err != nil {
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

func (a *Attempt) commit(ctx context.Context, t *Table, b Batch, p *prepared, prev, pos Position, res *Result) error {
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
		// Undelete returning rows; record a full walk's uuids and windows (full.go).
		if err := a.track(tx, t, p, prev, b.Windows); err != nil {
			return err
		}
		if err := a.recordParents(tx, r, b.ParentsRead); err != nil {
			return err
		}
		if err := tx.Exec(`
INSERT INTO sync_checkpoints (company_uuid, resource, run_id, epoch, cursor, records, done, walk, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())
ON CONFLICT (company_uuid, resource) DO UPDATE SET
    run_id = excluded.run_id, epoch = excluded.epoch, cursor = excluded.cursor,
    records = excluded.records, done = excluded.done, walk = excluded.walk, updated_at = excluded.updated_at`,
			a.Company, string(r), a.RunID, a.Epoch, pos.Cursor, pos.Records, pos.Done, pos.Walk).Error; err != nil {
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
//     rewrites a row only when its payload changed and returns the uuids
//     it rewrote;
//  4. the derived child rows of the rows inserted or rewritten replace
//     what those rows had (COPY);
//  5. another company's are left untouched, listed in res.Foreign and
//     noted on the run;
//  6. what was inserted and updated goes to logChanges, in the same
//     transaction.
//
// The commit holds the company's fence row, so no other attempt of the
// company writes between 1 and 2. A row another company inserts meanwhile
// under the same uuid (which only malformed data can do) makes the COPY
// fail with a unique violation: the batch rolls back, and its retry reports
// that row as another company's.
func (a *Attempt) upsert(tx *gorm.DB, p *prepared, res *Result) error {
	t := p.t
	var found []struct{ UUID, Company string }
	if err := tx.Raw(t.sql.existing, postgres.Array(p.ids)).Scan(&found).Error; err != nil {
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
		case !t.Owned || c == a.Company:
			mine = append(mine, i)
		default:
			res.Foreign = append(res.Foreign, id)
		}
	}
	company := [16]byte(uuid.MustParse(a.Company))
	var ch Changes
	if len(fresh) > 0 {
		n, err := postgres.CopyFrom(tx, t.Name, t.sql.copyColumns, pgx.CopyFromRows(p.copyRows(company, fresh)))
		if err != nil {
			return err
		}
		res.Changed += n
		for _, i := range fresh {
			ch.Inserted = append(ch.Inserted, p.ids[i])
		}
	}
	rewritten := fresh
	if len(mine) > 0 {
		if err := tx.Raw(t.sql.update, p.arrays(a.Company, mine)...).Scan(&ch.Updated).Error; err != nil {
			return err
		}
		res.Changed += int64(len(ch.Updated))
		at := make(map[string]int, len(mine))
		for _, i := range mine {
			at[p.ids[i]] = i
		}
		for _, id := range ch.Updated {
			rewritten = append(rewritten, at[id])
		}
	}
	if err := a.replaceChildren(tx, p, company, ch.Updated, rewritten); err != nil {
		return err
	}
	if err := a.logChanges(tx, t, ch); err != nil {
		return err
	}
	if len(res.Foreign) == 0 {
		return nil
	}
	slices.Sort(res.Foreign)
	note := clip(foreignNote(t.Name, res.Foreign))
	return tx.Exec(`UPDATE sync_runs SET notes = left(CASE WHEN notes = '' THEN ? ELSE notes || E'\n' || ? END, ?) WHERE id = ?`,
		note, note, maxNotes, a.RunID).Error
}

// replaceChildren writes the child rows of the rows at idx (inserted or
// rewritten), after deleting what the rewritten ones (updated, uuids) had.
func (a *Attempt) replaceChildren(tx *gorm.DB, p *prepared, company [16]byte, updated []string, idx []int) error {
	for k, c := range p.t.Children {
		if len(updated) > 0 {
			if err := tx.Exec(`DELETE FROM `+c.Name+` WHERE `+c.Parent+` = ANY(?::uuid[])`, postgres.Array(updated)).Error; err != nil {
				return err
			}
		}
		rows := p.childRows(k, company, idx)
		if len(rows) == 0 {
			continue
		}
		if _, err := postgres.CopyFrom(tx, c.Name, c.copyColumns(), pgx.CopyFromRows(rows)); err != nil {
			return err
		}
	}
	return nil
}

// Changes are the uuids of one table's rows that one statement of a commit
// (or of CompleteFull) inserted, rewrote, undeleted or marked deleted.
type Changes struct {
	Inserted, Updated, Undeleted, Deleted []string
}

// logChanges is called, inside the transaction that made them, with every
// change to a synced row: from upsert (inserted and updated rows), track
// (undeleted rows) and CompleteFull's markGone (rows marked deleted). It is
// the one place a change log of synced rows is appended to; it writes
// nothing yet.
func (a *Attempt) logChanges(tx *gorm.DB, t *Table, c Changes) error {
	_, _, _ = tx, t, c
	return nil
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
