package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/postgres"
)

// Kind is what a run walks: the whole of the company's data, or only what
// may have changed lately.
type Kind string

// The kinds of run.
const (
	// KindFull walks every employee and the whole payroll history; only a
	// completed full walk may mark rows deleted (Attempt.CompleteFull).
	KindFull Kind = "full"
	// KindIncremental walks every employee and the recent payroll windows,
	// and never marks anything deleted.
	KindIncremental Kind = "incremental"
)

// Valid reports whether k is KindFull or KindIncremental.
func (k Kind) Valid() bool { return k == KindFull || k == KindIncremental }

// FixKind records the run's kind at its first attempt and returns the kind
// every attempt of the run must walk: the kind recorded by the first
// attempt, whatever later payloads say, so a retried or re-driven run keeps
// its kind and its checkpoints stay meaningful. An incremental first
// attempt of a company that has no complete full walk yet
// (company_full_syncs) becomes full: a company's first complete sync is
// always full. Fenced like every write of the attempt (*FencedError).
func (a *Attempt) FixKind(ctx context.Context, requested Kind) (Kind, error) {
	if !requested.Valid() {
		return "", fmt.Errorf("checkpoint: run %s: kind %q is neither full nor incremental", a.RunID, requested)
	}
	var kinds []Kind
	err := a.store.db.WithContext(ctx).Raw(`
WITH f AS (SELECT run_id FROM sync_fences WHERE company_uuid = ? AND epoch = ? AND run_id = ?)
UPDATE sync_runs SET kind = COALESCE(kind,
    CASE WHEN ? = 'incremental' AND NOT EXISTS (SELECT 1 FROM company_full_syncs WHERE company_uuid = ?)
         THEN 'full' ELSE ? END)
WHERE id = (SELECT run_id FROM f) RETURNING kind`,
		a.Company, a.Epoch, a.RunID, string(requested), a.Company, string(requested)).Scan(&kinds).Error
	if err != nil {
		return "", fmt.Errorf("checkpoint: fix the kind of run %s: %w", a.RunID, err)
	}
	if len(kinds) != 1 {
		return "", a.fenced("kind")
	}
	a.mu.Lock()
	a.kind = kinds[0]
	a.mu.Unlock()
	return kinds[0], nil
}

// Kind returns the kind FixKind fixed ("" before it was called).
func (a *Attempt) Kind() Kind {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.kind
}

// deletable maps the resources whose rows a full walk reconciles to their
// tables. The company record is not among them: it is read by its uuid, and
// a company that goes away is a revoked grant, not a deleted row.
var deletable = map[Resource]string{ResourceEmployees: "gusto_employees", ResourcePayrolls: "gusto_payrolls"}

// track runs inside a batch's commit transaction (Attempt.commit), after
// the upsert. It undeletes the batch's rows that a full walk had marked
// deleted (the record is back), and, in a full run, records the batch's
// uuids in sync_full_seen: the batch that begins the resource's walk (prev,
// the position before the batch, is the zero Position) first clears what
// earlier walks of the company recorded for the resource.
func (a *Attempt) track(tx *gorm.DB, r Resource, rows []Row, prev Position) error {
	table, ok := deletable[r]
	if !ok {
		return nil
	}
	ids := make([]string, 0, len(rows))
	for _, row := range rows {
		id, err := uuid.Parse(row.key()) // prepare has refused any that does not parse
		if err != nil {
			return err
		}
		ids = append(ids, id.String())
	}
	if len(ids) > 0 {
		if err := tx.Exec(`UPDATE `+table+` SET deleted_at = NULL WHERE uuid = ANY(?::uuid[]) AND company_uuid = ? AND deleted_at IS NOT NULL`,
			postgres.Array(ids), a.Company).Error; err != nil {
			return err
		}
	}
	if a.Kind() != KindFull {
		return nil
	}
	first := prev == Position{}
	if first {
		if err := tx.Exec(`DELETE FROM sync_full_seen WHERE company_uuid = ? AND resource = ?`, a.Company, string(r)).Error; err != nil {
			return err
		}
	}
	if !first && len(ids) == 0 {
		return nil
	}
	return tx.Exec(`INSERT INTO sync_full_seen (company_uuid, resource, run_id, first, uuids) VALUES (?, ?, ?, ?, ?::uuid[])`,
		a.Company, string(r), a.RunID, first, postgres.Array(ids)).Error
}

// FullScope bounds what a completed full walk may mark deleted among the
// payrolls: only those whose pay period and check date lie wholly inside
// [PayrollsFrom, PayrollsTo], which every window reading of Gusto's date
// filters returns when Gusto still has them. A payroll outside it (older
// than the history walked, or too near the horizon) is left as it is.
type FullScope struct {
	PayrollsFrom, PayrollsTo time.Time
}

// Reconciled says what a completed full walk did.
type Reconciled struct {
	// Verified is false when the walk could not be shown to be one
	// uninterrupted walk of this run from each resource's first page (see
	// CompleteFull): nothing was marked and no full sync was recorded.
	Verified bool
	// EmployeesDeleted and PayrollsDeleted count the rows marked deleted.
	EmployeesDeleted, PayrollsDeleted int64
}

// CompleteFull holds the deletion invariant (docs/invariants.md, "Deletions
// only after a completed full walk"): in one transaction, fenced by the
// attempt's epoch, it checks that the run is a full run whose every resource
// is done, and that each reconciled resource was walked by this run from its
// first page (sync_full_seen holds this run's first batch and nothing of any
// other run); then it marks deleted (deleted_at) the company's rows that the
// walk did not return (payrolls only inside scope), forgets the walk's
// uuids, and records the full sync in company_full_syncs. A partial or
// failed walk never gets here, and a call for one returns an error having
// changed nothing. Calling it again for a run it already completed changes
// nothing and returns Verified.
func (a *Attempt) CompleteFull(ctx context.Context, scope FullScope) (Reconciled, error) {
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
		var st struct {
			Kind  *string
			Done  int
			Again bool
		}
		if err := tx.Raw(`
SELECT (SELECT kind FROM sync_runs WHERE id = ?) AS kind,
       (SELECT count(*) FROM sync_checkpoints WHERE company_uuid = ? AND run_id = ? AND done) AS done,
       EXISTS (SELECT 1 FROM company_full_syncs WHERE company_uuid = ? AND run_id = ?) AS again`,
			a.RunID, a.Company, a.RunID, a.Company, a.RunID).Scan(&st).Error; err != nil {
			return err
		}
		switch {
		case st.Kind == nil || Kind(*st.Kind) != KindFull:
			return &IncompleteError{RunID: a.RunID, Reason: "not a full run"}
		case st.Again:
			out.Verified = true
			return nil
		case st.Done != len(Resources):
			return &IncompleteError{RunID: a.RunID, Reason: fmt.Sprintf("%d of %d resources done", st.Done, len(Resources))}
		}
		for _, r := range []Resource{ResourceEmployees, ResourcePayrolls} {
			var w struct{ Mine, Others int }
			if err := tx.Raw(`
SELECT count(*) FILTER (WHERE first AND run_id = ?) AS mine, count(*) FILTER (WHERE run_id <> ?) AS others
FROM sync_full_seen WHERE company_uuid = ? AND resource = ?`, a.RunID, a.RunID, a.Company, string(r)).Scan(&w).Error; err != nil {
				return err
			}
			if w.Mine != 1 || w.Others != 0 {
				return nil // not this run's uninterrupted walk: mark nothing, record nothing
			}
		}
		marked := map[Resource]int64{}
		for _, r := range []Resource{ResourceEmployees, ResourcePayrolls} {
			q, args := markGone(r, a.Company, scope)
			res := tx.Exec(q, args...)
			if res.Error != nil {
				return res.Error
			}
			marked[r] = res.RowsAffected
		}
		if err := tx.Exec(`DELETE FROM sync_full_seen WHERE company_uuid = ?`, a.Company).Error; err != nil {
			return err
		}
		if err := tx.Exec(`
INSERT INTO company_full_syncs (company_uuid, run_id, completed_at, employees_deleted, payrolls_deleted)
VALUES (?, ?, now(), ?, ?)
ON CONFLICT (company_uuid) DO UPDATE SET run_id = excluded.run_id, completed_at = excluded.completed_at,
    employees_deleted = excluded.employees_deleted, payrolls_deleted = excluded.payrolls_deleted`,
			a.Company, a.RunID, marked[ResourceEmployees], marked[ResourcePayrolls]).Error; err != nil {
			return err
		}
		out = Reconciled{Verified: true, EmployeesDeleted: marked[ResourceEmployees], PayrollsDeleted: marked[ResourcePayrolls]}
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

// markGone is CompleteFull's marking statement for resource r: the
// company's live rows (payrolls only inside scope) that the walk did not
// return get deleted_at. The rows to mark are computed as a set difference
// (EXCEPT: hashed, or sorted when large; never quadratic), then joined to
// the table by primary key. An anti-join against the unnested uuids
// (NOT EXISTS) was planned, on tables without fresh statistics, as a nested
// loop that unnested every seen array again for each row: 12 s for 16,000
// employees, long enough for the transaction holding the company's fence to
// silence the attempt's heartbeat and have it taken over.
func markGone(r Resource, company string, scope FullScope) (string, []any) {
	table := deletable[r]
	q := `
UPDATE ` + table + ` t SET deleted_at = now()
FROM (
    SELECT uuid FROM ` + table + ` WHERE company_uuid = ? AND deleted_at IS NULL`
	args := []any{company}
	if r == ResourcePayrolls {
		from, to := scope.PayrollsFrom.Format(time.DateOnly), scope.PayrollsTo.Format(time.DateOnly)
		q += `
      AND pay_period_start >= ?::date AND pay_period_end <= ?::date
      AND check_date >= ?::date AND check_date <= ?::date`
		args = append(args, from, to, from, to)
	}
	q += `
    EXCEPT
    SELECT u FROM sync_full_seen s, unnest(s.uuids) AS u WHERE s.company_uuid = ? AND s.resource = ?
) gone
WHERE t.uuid = gone.uuid`
	return q, append(args, company, string(r))
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
