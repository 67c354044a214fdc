package checkpoint

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// TakenOver is a run whose dead attempt TakeOver fenced: the run is pending
// again, its checkpoints untouched, and must be re-driven (a new attempt
// claims it and resumes from them).
type TakenOver struct {
	// RunID and Company identify the run.
	RunID, Company string
	// Epoch is the company's epoch after the takeover (the dead attempt's
	// plus one); the dead attempt's writes are refused from now on.
	Epoch int64
	// DeadOwner is the worker whose attempt stopped heartbeating.
	DeadOwner string
	// Silent is how long its heartbeat had been silent, on PostgreSQL's clock.
	Silent time.Duration
}

// TakeOver finds up to limit runs whose attempt is running but has not
// heartbeat for longer than the lease (its worker was killed, frozen or cut
// off), and, for each, in one transaction: bumps the company's epoch (the
// dead attempt, should it wake, is fenced at its next write), clears the
// fence's heartbeat, and sets the run back to pending with a reason naming
// the dead worker and by, counting the takeover. It returns the runs taken
// over, for the caller to re-drive (invariant 19 in docs/invariants.md).
//
// It is safe to call from any number of replicas at once: the stale fences
// are read FOR UPDATE SKIP LOCKED and leave the running state in the same
// transaction, so each dead attempt is taken over by exactly one caller, and
// a fence a claim or a commit is holding is skipped, not waited for. A run
// taken over and then not re-driven (the caller died before enqueuing) is
// still pending under its company: its own task's retry or recovery, or the
// company's next run (which carries its progress over), continues it.
func (s *Store) TakeOver(ctx context.Context, by string, limit int) ([]TakenOver, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []TakenOver
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		out = out[:0]
		var stale []struct {
			Company string
			RunID   string
			Owner   string
			Silent  float64
		}
		if err := tx.Raw(`
SELECT f.company_uuid::text AS company, f.run_id::text AS run_id, f.owner,
       EXTRACT(EPOCH FROM now() - f.heartbeat_at)::float8 AS silent
FROM sync_fences f JOIN sync_runs r ON r.id = f.run_id
WHERE f.heartbeat_at < now() - make_interval(secs => ?) AND r.status = 'running'
ORDER BY f.heartbeat_at
LIMIT ?
FOR UPDATE OF f SKIP LOCKED`, s.lease.Seconds(), limit).Scan(&stale).Error; err != nil {
			return err
		}
		for _, st := range stale {
			t := TakenOver{RunID: st.RunID, Company: st.Company, DeadOwner: st.Owner,
				Silent: time.Duration(st.Silent * float64(time.Second)).Round(time.Millisecond)}
			if err := one(tx.Raw(`
UPDATE sync_fences SET epoch = epoch + 1, owner = ?, heartbeat_at = NULL
WHERE company_uuid = ? RETURNING epoch`, "takeover:"+by, st.Company).Scan(&t.Epoch), "fence"); err != nil {
				return err
			}
			reason := fmt.Sprintf("attempt of worker %s went silent (no heartbeat for %s); taken over by %s at epoch %d and re-driven from its checkpoint",
				st.Owner, t.Silent, by, t.Epoch)
			if err := one(tx.Exec(`
UPDATE sync_runs SET status = 'pending', error = ?, takeovers = takeovers + 1
WHERE id = ? AND status = 'running'`, clip(reason), st.RunID), "run"); err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: take over stale attempts: %w", err)
	}
	return out, nil
}
