package tokens

import (
	"context"
	"database/sql"
	"time"

	"gorm.io/gorm"
)

// recordFailure counts a failed refresh attempt on the row and writes its
// audit event, in one transaction.
func (s *Store) recordFailure(ctx context.Context, ev Event) error {
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE gusto_auth_tokens SET consecutive_failures = consecutive_failures + 1,
				total_failures = total_failures + 1, last_failure_at = now(), updated_at = now()
			WHERE company_uuid = ?`, ev.Company)
		if res.Error != nil {
			return res.Error
		}
		return insertEvent(tx, ev)
	})
	if err != nil {
		return &StoreError{Op: "record failure of", Company: ev.Company, Err: err}
	}
	return nil
}

// recordEvent writes one audit row.
func (s *Store) recordEvent(ctx context.Context, ev Event) error {
	if err := insertEvent(s.db.WithContext(ctx), ev); err != nil {
		return &StoreError{Op: "record event of", Company: ev.Company, Err: err}
	}
	return nil
}

func insertEvent(tx *gorm.DB, ev Event) error {
	if ev.FinishedAt.IsZero() {
		ev.FinishedAt = time.Now()
	}
	return tx.Exec(`INSERT INTO token_refresh_events (company_uuid, worker, trigger, outcome, detail,
			old_version, new_version, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Company, ev.Worker, string(ev.Trigger), string(ev.Outcome), truncate(ev.Detail, 500),
		nullVersion(ev.OldVersion), nullVersion(ev.NewVersion), ev.StartedAt, ev.FinishedAt).Error
}

func nullVersion(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: v > 0} }

// Events returns a company's audit trail, oldest first.
func (s *Store) Events(ctx context.Context, company string) ([]Event, error) {
	company, err := canonicalCompany(company)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID          int64
		CompanyUUID string
		Worker      string
		Trigger     string
		Outcome     string
		Detail      string
		OldVersion  sql.NullInt64
		NewVersion  sql.NullInt64
		StartedAt   time.Time
		FinishedAt  time.Time
	}
	res := s.db.WithContext(ctx).Raw(`SELECT id, company_uuid, worker, trigger, outcome, detail, old_version,
		new_version, started_at, finished_at FROM token_refresh_events WHERE company_uuid = ? ORDER BY id`, company).Scan(&rows)
	if res.Error != nil {
		return nil, &StoreError{Op: "read events of", Company: company, Err: res.Error}
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = Event{ID: r.ID, Company: r.CompanyUUID, Worker: r.Worker, Trigger: Trigger(r.Trigger),
			Outcome: Outcome(r.Outcome), Detail: r.Detail, OldVersion: r.OldVersion.Int64,
			NewVersion: r.NewVersion.Int64, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
	}
	return out, nil
}
