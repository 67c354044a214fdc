package tokens

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// RekeyResult reports what Rekey did.
type RekeyResult struct {
	// Rekeyed counts the rows rewritten under the primary key (a row
	// resealed under an old key behind one pass and caught by the next
	// counts twice).
	Rekeyed int
	// Current rows were already sealed under the primary key when Rekey
	// started.
	Current int
	// Failed rows could not be opened with any key of the keyring; Failures
	// holds one *KeyError (or *StoreError) per failed row.
	Failed   int
	Failures []error
	// Passes is how many walks of the table Rekey made (the last one
	// rekeyed nothing).
	Passes int
	// Reopened counts the key_missing companies made active again because
	// their rows open now (the key was put back).
	Reopened int
	// StillKeyMissing counts the key_missing companies whose rows still do
	// not open; they stay key_missing.
	StillKeyMissing int
}

// maxRekeyPasses bounds Rekey's passes over the table.
const maxRekeyPasses = 10

// Rekey re-encrypts every row not sealed under the primary key, in batches
// of batchSize rows (one transaction per batch). It is idempotent and safe to
// run while workers refresh: each row is rewritten only if its ciphertext is
// still the one read (a row refreshed meanwhile is read again). A pass walks
// the table once in company order, so a row that a worker still configured
// with the old primary key reseals behind the pass is missed by it: Rekey
// makes passes until one rekeys nothing (at most maxRekeyPasses; more means
// some process keeps sealing under another key, an error naming the
// figure). Rows that no key opens are reported in the result (from the
// last pass) and left as they are; the error is non-nil when any row
// failed. Last, every key_missing company whose row opens now is made
// active again (Store.reopenRow): restoring a dropped key and running
// Rekey is the way back from key_missing.
func (s *Store) Rekey(ctx context.Context, batchSize int, worker string) (RekeyResult, error) {
	if batchSize <= 0 {
		batchSize = 100
	}
	var result RekeyResult
	var current int64
	if err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM gusto_auth_tokens WHERE key_id = ?`, s.keys.PrimaryID()).Scan(&current).Error; err != nil {
		return result, &StoreError{Op: "rekey", Err: err}
	}
	result.Current = int(current)
	for {
		pass, err := s.rekeyPass(ctx, batchSize, worker)
		result.Passes++
		result.Rekeyed += pass.Rekeyed
		result.Failed, result.Failures = pass.Failed, pass.Failures
		if err != nil {
			return result, err
		}
		if pass.Rekeyed == 0 {
			break
		}
		if result.Passes == maxRekeyPasses {
			return result, fmt.Errorf("tokens: rekey: pass %d still rekeyed %d rows: a process keeps sealing tokens under another key (is every worker running with the new TOKEN_ENCRYPTION_KEYS?)",
				result.Passes, pass.Rekeyed)
		}
	}
	reopened, still, err := s.reopenAll(ctx, worker)
	result.Reopened, result.StillKeyMissing = reopened, len(still)
	if err != nil {
		return result, err
	}
	if result.Failed > 0 {
		return result, fmt.Errorf("tokens: rekey: %d rows could not be opened with any key; first: %w", result.Failed, result.Failures[0])
	}
	return result, nil
}

// rekeyPass is one walk of the table in company order.
func (s *Store) rekeyPass(ctx context.Context, batchSize int, worker string) (RekeyResult, error) {
	var result RekeyResult
	primary := s.keys.PrimaryID()
	after := "00000000-0000-0000-0000-000000000000"
	first := true
	for {
		var rows []tokenRow
		q := `SELECT company_uuid, access_token, refresh_token, key_id FROM gusto_auth_tokens
			WHERE key_id <> ? AND company_uuid > ? ORDER BY company_uuid LIMIT ?`
		if first {
			q = `SELECT company_uuid, access_token, refresh_token, key_id FROM gusto_auth_tokens
			WHERE key_id <> ? AND company_uuid >= ? ORDER BY company_uuid LIMIT ?`
		}
		first = false
		if err := s.db.WithContext(ctx).Raw(q, primary, after, batchSize).Scan(&rows).Error; err != nil {
			return result, &StoreError{Op: "rekey", Err: err}
		}
		if len(rows) == 0 {
			return result, nil
		}
		after = rows[len(rows)-1].CompanyUUID
		err := s.inTx(ctx, func(tx *gorm.DB) error {
			for _, r := range rows {
				ok, err := s.rekeyRow(tx, r, worker)
				switch {
				case err != nil:
					var ke *KeyError
					if !errors.As(err, &ke) {
						return err
					}
					result.Failed++
					result.Failures = append(result.Failures, err)
				case ok:
					result.Rekeyed++
				}
			}
			return nil
		})
		if err != nil {
			return result, &StoreError{Op: "rekey", Err: err}
		}
		if s.afterRekeyBatch != nil {
			s.afterRekeyBatch()
		}
	}
}

// rekeyRow re-seals one row under the primary key, guarded by the ciphertext
// it read; if a refresh replaced the row meanwhile it reads it again (a few
// times) and reports whether it rewrote it.
func (s *Store) rekeyRow(tx *gorm.DB, r tokenRow, worker string) (bool, error) {
	for range 3 {
		if r.KeyID == s.keys.PrimaryID() {
			return false, nil // a refresh already sealed it under the primary key
		}
		access, err := s.keys.open(r.CompanyUUID, colAccess, r.KeyID, r.AccessToken)
		if err != nil {
			return false, err
		}
		refresh, err := s.keys.open(r.CompanyUUID, colRefresh, r.KeyID, r.RefreshToken)
		if err != nil {
			return false, err
		}
		accessCT, err := s.keys.seal(r.CompanyUUID, colAccess, access)
		if err != nil {
			return false, err
		}
		refreshCT, err := s.keys.seal(r.CompanyUUID, colRefresh, refresh)
		if err != nil {
			return false, err
		}
		res := tx.Exec(`UPDATE gusto_auth_tokens SET access_token = ?, refresh_token = ?, key_id = ?, updated_at = now()
			WHERE company_uuid = ? AND key_id = ? AND access_token = ? AND refresh_token = ?`,
			accessCT, refreshCT, s.keys.PrimaryID(), r.CompanyUUID, r.KeyID, r.AccessToken, r.RefreshToken)
		if res.Error != nil {
			return false, res.Error
		}
		if res.RowsAffected == 1 {
			now := s.now()
			return true, insertEvent(tx, Event{Company: r.CompanyUUID, Worker: worker, Trigger: TriggerRekey,
				Outcome: OutcomeStatusChange, Detail: "re-encrypted from key " + r.KeyID + " to key " + s.keys.PrimaryID(),
				StartedAt: now, FinishedAt: now})
		}
		var fresh tokenRow
		if err := tx.Raw(`SELECT company_uuid, access_token, refresh_token, key_id FROM gusto_auth_tokens WHERE company_uuid = ?`,
			r.CompanyUUID).Scan(&fresh).Error; err != nil {
			return false, err
		}
		if fresh.CompanyUUID == "" {
			return false, nil // deleted meanwhile
		}
		r = fresh
	}
	return false, &StoreError{Op: "rekey (row kept changing)", Company: r.CompanyUUID, Err: errors.New("giving up after 3 tries")}
}
