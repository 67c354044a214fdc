package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/postgres"
)

// Kind is what a run walks: the whole of the company's data, or only what
// may have changed lately.
type Kind string

// The kinds of run.
const (
	// KindFull walks every resource whole (every employee, the whole
	// payroll history); only a completed full walk may mark rows deleted
	// (Attempt.CompleteFull).
	KindFull Kind = "full"
	// KindIncremental walks what may have changed lately (the recent
	// payroll windows; the employees when Gusto's events say so), and
	// never marks anything deleted.
	KindIncremental Kind = "incremental"
)

// Valid reports whether k is KindFull or KindIncremental.
func (k Kind) Valid() bool { return k == KindFull || k == KindIncremental }

// Kind returns the run's kind, fixed in the transaction of the run's first
// claim (Store.Claim) and kept by every later attempt, whatever its payload
// says, so a retried or re-driven run keeps its kind (even one whose first
// attempt died at once) and its checkpoints stay meaningful. An
// incremental first attempt of a company that has no complete full walk
// yet (company_full_syncs) is full: a company's first complete sync is
// always full. A run that carries an unfinished run's progress walks that
// run's kind, unless it asks for a full walk over an incremental one (it
// then starts from the beginning).
func (a *Attempt) Kind() Kind {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.kind
}

// track runs inside a batch's commit transaction (Attempt.commit), after
// the upsert. For a reconciled table it undeletes the batch's rows that a
// full walk had marked deleted (the record is back), and, in a full run,
// records the batch's uuids in sync_full_seen and the windows it completed
// in sync_full_windows: the batch that begins the resource's walk (prev,
// the position before the batch, is the zero Position) first clears what
// earlier walks of the company recorded for the resource.
func (a *Attempt) track(tx *gorm.DB, t *Table, p *prepared, prev Position, windows []Window) error {
	if t.Reconcile == ReconcileNone {
		return nil
	}
	var ids []string
	if p != nil {
		ids = p.ids
	}
	if len(ids) > 0 {
		var back []string
		if err := tx.Raw(`UPDATE `+t.Name+` SET deleted_at = NULL WHERE uuid = ANY(?::uuid[]) AND company_uuid = ? AND deleted_at IS NOT NULL RETURNING uuid::text`,
			postgres.Array(ids), a.Company).Scan(&back).Error; err != nil {
			return err
		}
		if len(back) > 0 {
			if err := a.logChanges(tx, t, Changes{Undeleted: back}); err != nil {
				return err
			}
		}
	}
	if a.Kind() != KindFull {
		return nil
	}
	r := string(t.Resource)
	first := prev.Cursor == "" && prev.Records == 0 && !prev.Done
	if first {
		for _, progress := range []string{"sync_full_seen", "sync_full_windows"} {
			if err := tx.Exec(`DELETE FROM `+progress+` WHERE company_uuid = ? AND resource = ?`, a.Company, r).Error; err != nil {
				return err
			}
		}
	}
	for _, w := range windows {
		if err := tx.Exec(`INSERT INTO sync_full_windows (company_uuid, resource, run_id, kind, start_date, end_date) VALUES (?, ?, ?, ?, ?::date, ?::date)`,
			a.Company, r, a.RunID, w.Kind, w.Start.Format(time.DateOnly), w.End.Format(time.DateOnly)).Error; err != nil {
			return err
		}
	}
	if !first && len(ids) == 0 {
		return nil
	}
	if ids == nil {
		ids = []string{}
	}
	return tx.Exec(`INSERT INTO sync_full_seen (company_uuid, resource, run_id, first, uuids) VALUES (?, ?, ?, ?, ?::uuid[])`,
		a.Company, r, a.RunID, first, postgres.Array(ids)).Error
}

// Reconciled says what a completed full walk did.
type Reconciled struct {
	// Verified is false when a reconciled resource's walk could not be
	// shown to be one consistent walk of this run from its first page (see
	// CompleteFull): nothing was marked and no full sync was recorded.
	Verified bool
	// Deleted counts the rows marked deleted, by resource.
	Deleted map[Resource]int64
}

// CompleteFull holds the deletion invariant (docs/invariants.md, "Deletions
// only after a completed full walk"): in one transaction, fenced by the
// attempt's epoch, it checks that the run is a full run that has walked
// every resource of walked to its end, and that each reconciled one
// (Table.Reconcile) was walked by this run from its first page consistently:
// its checkpoint's walk was begun (BeginWalk) and never voided (VoidWalk:
// a page disagreed with Gusto's pagination headers, checked across every
// retry, attempt and carried run), and sync_full_seen holds this run's first
// batch and nothing of any other run. Then it marks deleted (deleted_at) the
// company's rows that the walk did not return (for a ReconcileWindows table
// only those lying wholly inside a window the walk recorded, so a row the
// walk could not have seen is never marked), forgets the walk's uuids and
// windows, and records the full sync in company_full_syncs. A partial or
// failed walk never gets here, and a call for one returns an error having
// changed nothing. Calling it again for a run it already completed changes
// nothing and returns Verified.
func (a *Attempt) CompleteFull(ctx context.Context, walked []Resource) (Reconciled, error) {
	var out Reconciled
	err := a.store.inTx(ctx, func(tx *gorm.DB) error {
		out = Reconciled{}
		fence := tx.Exec(`UPDATE sync_fences SET heartbeat_at = now() WHERE company_uuid = ? AND epoch = ? AND run_id = ?`, a.Company, a.Epoch, a.RunID)
		if fence.Error != nil {
			return fence.Error
		}
		if fence.RowsAffected != 1 {
			return a.fenced("complete")
		}
		names := make([]string, len(walked))
		for i, r := range walked {
			names[i] = string(r)
		}
		var st struct {
			Kind  *string
			Done  int
			Again bool
		}
		if err := tx.Raw(`
SELECT (SELECT kind FROM sync_runs WHERE id = ?) AS kind,
       (SELECT count(*) FROM sync_checkpoints WHERE company_uuid = ? AND run_id = ? AND done AND resource = ANY(?::text[])) AS done,
       EXISTS (SELECT 1 FROM company_full_syncs WHERE company_uuid = ? AND run_id = ?) AS again`,
			a.RunID, a.Company, a.RunID, postgres.Array(names), a.Company, a.RunID).Scan(&st).Error; err != nil {
			return err
		}
		switch {
		case st.Kind == nil || Kind(*st.Kind) != KindFull:
			return &IncompleteError{RunID: a.RunID, Reason: "not a full run"}
		case st.Again:
			out.Verified = true
			return nil
		case st.Done != len(walked):
			return &IncompleteError{RunID: a.RunID, Reason: fmt.Sprintf("%d of %d resources done", st.Done, len(walked))}
		}
		var reconciled []*Table
		for _, r := range walked {
			if t := a.store.table(r); t != nil && t.Reconcile != ReconcileNone {
				reconciled = append(reconciled, t)
			}
		}
		for _, t := range reconciled {
			var w struct {
				Mine, Others int
				Begun        bool
			}
			if err := tx.Raw(`
SELECT count(*) FILTER (WHERE first AND run_id = ?) AS mine, count(*) FILTER (WHERE run_id <> ?) AS others,
       EXISTS (SELECT 1 FROM sync_checkpoints WHERE company_uuid = ? AND resource = ? AND started_at IS NOT NULL) AS begun
FROM sync_full_seen WHERE company_uuid = ? AND resource = ?`, a.RunID, a.RunID, a.Company, string(t.Resource), a.Company, string(t.Resource)).Scan(&w).Error; err != nil {
				return err
			}
			if w.Mine != 1 || w.Others != 0 || !w.Begun {
				return nil // not this run's consistent walk: mark nothing, record nothing
			}
		}
		out.Deleted = map[Resource]int64{}
		for _, t := range reconciled {
			gone, err := a.markGone(tx, t)
			if err != nil {
				return err
			}
			out.Deleted[t.Resource] = int64(len(gone))
		}
		for _, progress := range []string{"sync_full_seen", "sync_full_windows"} {
			if err := tx.Exec(`DELETE FROM `+progress+` WHERE company_uuid = ?`, a.Company).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec(`
INSERT INTO company_full_syncs (company_uuid, run_id, completed_at, employees_deleted, payrolls_deleted)
VALUES (?, ?, now(), ?, ?)
ON CONFLICT (company_uuid) DO UPDATE SET run_id = excluded.run_id, completed_at = excluded.completed_at,
    employees_deleted = excluded.employees_deleted, payrolls_deleted = excluded.payrolls_deleted`,
			a.Company, a.RunID, out.Deleted[ResourceEmployees], out.Deleted[ResourcePayrolls]).Error; err != nil {
			return err
		}
		out.Verified = true
		return nil
	})
	if err != nil {
		var fenced *FencedError
		var inc *IncompleteError
		if errors.As(err, &fenced) || errors.As(err, &inc) {
			return Reconciled{}, err
		}
		return Reconciled{}, fmt.Errorf("checkpoint: complete full run %s of company %s: %w", a.RunID, a.Company, err)
	}
	return out, nil
}

// markGone is CompleteFull's marking statement for table t: the company's
// live rows (for a ReconcileWindows table, only those lying wholly inside a
// walked window: windowRows) that the walk did not return get deleted_at;
// their uuids go to logChanges. The rows to mark are computed as a set
// difference (EXCEPT: hashed, or sorted when large; never quadratic), then
// joined to the table by primary key. An anti-join against the unnested
// uuids (NOT EXISTS) was planned, on tables without fresh statistics, as a
// nested loop that unnested every seen array again for each row: 12 s for
// 16,000 employees, long enough for the transaction holding the company's
// fence to silence the attempt's heartbeat and have it taken over.
func (a *Attempt) markGone(tx *gorm.DB, t *Table) ([]string, error) {
	q, args := markGoneSQL(t, a.Company)
	var gone []string
	if err := tx.Raw(q, args...).Scan(&gone).Error; err != nil {
		return nil, err
	}
	if len(gone) == 0 {
		return nil, nil
	}
	return gone, a.logChanges(tx, t, Changes{Deleted: gone})
}

// markGoneSQL is markGone's statement and its arguments.
func markGoneSQL(t *Table, company string) (string, []any) {
	q := `
UPDATE ` + t.Name + ` d SET deleted_at = now()
FROM (
    SELECT t.uuid FROM ` + t.Name + ` t WHERE t.company_uuid = ? AND t.deleted_at IS NULL`
	args := []any{company}
	if t.Reconcile == ReconcileWindows {
		q += `
      AND EXISTS (SELECT 1 FROM sync_full_windows w WHERE w.company_uuid = ? AND w.resource = ? AND (` + windowRows(t) + `))`
		args = append(args, company, string(t.Resource))
	}
	q += `
    EXCEPT
    SELECT u FROM sync_full_seen s, unnest(s.uuids) AS u WHERE s.company_uuid = ? AND s.resource = ?
) gone
WHERE d.uuid = gone.uuid
RETURNING d.uuid::text`
	return q, append(args, company, string(t.Resource))
}

// windowRows is the SQL condition (row t, window w) that w, of one of t's
// window kinds, returns row t: its every non-NULL Within column inside the
// window, at least one of them non-NULL, and the rule's Where.
func windowRows(t *Table) string {
	kinds := make([]string, 0, len(t.Windows))
	for k := range t.Windows {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var anyOf []string
	for _, k := range kinds {
		rule := t.Windows[k]
		var some, inside []string
		for _, c := range rule.Within {
			some = append(some, "t."+c+" IS NOT NULL")
			inside = append(inside, "(t."+c+" IS NULL OR t."+c+" BETWEEN w.start_date AND w.end_date)")
		}
		cond := "w.kind = '" + k + "' AND (" + strings.Join(some, " OR ") + ") AND " + strings.Join(inside, " AND ")
		if rule.Where != "" {
			cond += " AND (" + rule.Where + ")"
		}
		anyOf = append(anyOf, "("+cond+")")
	}
	return strings.Join(anyOf, " OR ")
}

// IncompleteError is CompleteFull called for a run that is not a full run or
// has not walked every resource to its end: nothing was marked.
type IncompleteError struct {
	RunID, Reason string
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("checkpoint: run %s is not a completed full walk (%s); nothing marked deleted", e.RunID, e.Reason)
}

// LastFullSyncs returns when each of companies last completed a full walk;
// a company that never did is absent. Canonical uuids in, canonical out.
func LastFullSyncs(ctx context.Context, db *gorm.DB, companies []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(companies))
	if len(companies) == 0 {
		return out, nil
	}
	var rows []struct {
		Company     string
		CompletedAt time.Time
	}
	if err := db.WithContext(ctx).Raw(`SELECT company_uuid::text AS company, completed_at FROM company_full_syncs WHERE company_uuid = ANY(?::uuid[])`,
		postgres.Array(companies)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("checkpoint: read the last full syncs of %d companies: %w", len(companies), err)
	}
	for _, r := range rows {
		out[r.Company] = r.CompletedAt
	}
	return out, nil
}
