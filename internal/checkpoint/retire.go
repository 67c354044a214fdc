package checkpoint

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Retire fences a company that is being removed (package offboard): its
// fence's epoch moves and the fence becomes a tombstone (removed_at), in
// one statement that takes the fence row's lock, so
//   - an attempt running now commits nothing more (its next commit,
//     heartbeat or finish returns *FencedError), and
//   - a task still queued for the company ends at its claim (Claim records
//     the run stopped and returns *FinishedError) as long as the company
//     has no token row, even on a worker that still holds its access token
//     in memory.
//
// Its unfinished runs are recorded as stopped. Call it in the transaction
// that deletes the company's token row, before the delete: Claim locks the
// fence and then reads the token row, and Retire's transaction takes them
// in the same order. A company onboarded again clears the tombstone at its
// next claim.
func (s *Store) Retire(ctx context.Context, company string) error {
	company, err := canonical("company uuid", company)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec(`
INSERT INTO sync_fences (company_uuid, epoch, run_id, removed_at) VALUES (?, 0, ?, now())
ON CONFLICT (company_uuid) DO UPDATE SET epoch = sync_fences.epoch + 1, heartbeat_at = NULL, removed_at = now()`,
			company, uuid.Nil.String()).Error; err != nil {
			return fmt.Errorf("checkpoint: retire company %s: %w", company, err)
		}
		if err := tx.Exec(`UPDATE sync_runs SET status = 'stopped', error = 'company removed', finished_at = now()
WHERE company_uuid = ? AND status IN ('pending', 'running')`, company).Error; err != nil {
			return fmt.Errorf("checkpoint: stop the runs of retired company %s: %w", company, err)
		}
		return nil
	})
}

// NotRetiredError refuses to purge a company whose fence is not a
// tombstone: it was not removed, or was onboarded and synced again since.
type NotRetiredError struct {
	// Company is the company uuid.
	Company string
}

func (e *NotRetiredError) Error() string {
	return "checkpoint: company " + e.Company + " is not removed (or was onboarded again): its data is not purged"
}

// Purged counts the rows Purge deleted.
type Purged struct {
	Companies, Employees, Payrolls int64
	// Progress counts checkpoints, full-walk records and the last full
	// sync's row.
	Progress int64
}

// Total is every row Purge deleted.
func (p Purged) Total() int64 { return p.Companies + p.Employees + p.Payrolls + p.Progress }

// purgeTables are the statements Purge runs, each deleting at most batch
// rows of one table per transaction. The last column picks the counter.
var purgeTables = []struct {
	table, key string
	counter    func(*Purged) *int64
}{
	{"gusto_payrolls", "company_uuid", func(p *Purged) *int64 { return &p.Payrolls }},
	{"gusto_employees", "company_uuid", func(p *Purged) *int64 { return &p.Employees }},
	{"gusto_companies", "uuid", func(p *Purged) *int64 { return &p.Companies }},
	{"sync_full_seen", "company_uuid", func(p *Purged) *int64 { return &p.Progress }},
	{"sync_full_windows", "company_uuid", func(p *Purged) *int64 { return &p.Progress }},
	{"sync_parent_reads", "company_uuid", func(p *Purged) *int64 { return &p.Progress }},
	{"sync_checkpoints", "company_uuid", func(p *Purged) *int64 { return &p.Progress }},
	{"company_full_syncs", "company_uuid", func(p *Purged) *int64 { return &p.Progress }},
}

// Purge deletes a retired company's synced rows (gusto_companies,
// gusto_employees, gusto_payrolls), its checkpoints and its full-walk
// records, at most batch rows per transaction, so a company of millions of
// rows never holds one long transaction. Each batch holds the company's
// fence row (FOR SHARE) and checks the tombstone first: a company that was
// onboarded again and claimed meanwhile is not purged (*NotRetiredError).
// The fence tombstone and the run history are kept. Safe to run again after
// a failure: it deletes what is left.
func (s *Store) Purge(ctx context.Context, company string, batch int) (Purged, error) {
	var p Purged
	company, err := canonical("company uuid", company)
	if err != nil {
		return p, err
	}
	if batch <= 0 {
		return p, fmt.Errorf("checkpoint: purge batch must be positive, not %d", batch)
	}
	for _, t := range purgeTables {
		for {
			var n int64
			err := s.inTx(ctx, func(tx *gorm.DB) error {
				var retired []bool
				if err := tx.Raw(`SELECT removed_at IS NOT NULL FROM sync_fences WHERE company_uuid = ? FOR SHARE`, company).Scan(&retired).Error; err != nil {
					return err
				}
				if len(retired) == 0 || !retired[0] {
					return &NotRetiredError{Company: company}
				}
				res := tx.Exec(`DELETE FROM `+t.table+` WHERE ctid = ANY(ARRAY(SELECT ctid FROM `+t.table+` WHERE `+t.key+` = ? LIMIT ?))`, company, batch)
				n = res.RowsAffected
				return res.Error
			})
			if err != nil {
				var nr *NotRetiredError
				if errors.As(err, &nr) {
					return p, err
				}
				return p, fmt.Errorf("checkpoint: purge %s of company %s: %w", t.table, company, err)
			}
			*t.counter(&p) += n
			if n < int64(batch) {
				break
			}
		}
	}
	return p, nil
}
