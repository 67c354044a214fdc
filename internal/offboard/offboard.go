package offboard

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/tokens"
)

// RevocationUnavailable is the audit row's revocation when the grant could
// not be revoked at Gusto because Gusto offers no way to (see the package
// comment).
const RevocationUnavailable = "unavailable"

// DefaultBatch is Options.Batch's default: rows deleted per transaction by
// a purge.
const DefaultBatch = 1000

// Options says how to remove a company.
type Options struct {
	// By names who removes it, for the audit row (never a secret).
	// Required.
	By string
	// PurgeData also deletes the company's synced rows and checkpoints.
	PurgeData bool
	// Batch bounds the rows one purge transaction deletes. Default
	// DefaultBatch.
	Batch int
}

// Result is what Remove did.
type Result struct {
	// AuditID is the company_removals row written.
	AuditID int64
	// TokensDeleted is false when the company had been removed before
	// (its token row was already gone; a second run only purges).
	TokensDeleted bool
	// Prior is the token row's state when it was deleted.
	Prior tokens.Deleted
	// Revocation is what became of the grant at Gusto.
	Revocation string
	// Purged counts the rows deleted (PurgeData only).
	Purged checkpoint.Purged
}

// UnknownCompanyError means the company is not onboarded and was never
// removed: there is nothing to remove.
type UnknownCompanyError struct {
	// Company is the company uuid.
	Company string
}

func (e *UnknownCompanyError) Error() string {
	return "offboard: no company " + e.Company + " is onboarded or was removed"
}

// Remove removes company (see the package comment): in one transaction it
// fences the company's syncs, deletes its token row and writes the audit
// row; then, with PurgeData, it deletes the synced rows in batches and
// records how many in the audit row. A company removed before (no token
// row, an earlier audit row) is removed again without tokens to delete,
// which is how an interrupted purge is finished. It returns
// *UnknownCompanyError for a company never onboarded, and changes nothing
// then.
func Remove(ctx context.Context, db *gorm.DB, company string, o Options) (Result, error) {
	if o.By == "" {
		return Result{}, errors.New("offboard: Options.By is required")
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	res := Result{Revocation: RevocationUnavailable}
	err := postgres.InTx(ctx, db, postgres.TxOptions{}, func(tx *gorm.DB) error {
		if err := checkpoint.NewStore(tx, checkpoint.Options{}).Retire(ctx, company); err != nil {
			return err
		}
		prior, err := tokens.NewStore(tx, nil).Delete(ctx, company)
		var nf *tokens.NotFoundError
		switch {
		case errors.As(err, &nf):
			var removedBefore bool
			if err := tx.Raw(`SELECT EXISTS (SELECT 1 FROM company_removals WHERE company_uuid = ?)`, company).Scan(&removedBefore).Error; err != nil {
				return fmt.Errorf("offboard: read the removals of company %s: %w", company, err)
			}
			if !removedBefore {
				return &UnknownCompanyError{Company: company}
			}
		case err != nil:
			return err
		default:
			res.TokensDeleted, res.Prior = true, prior
		}
		return tx.Raw(`INSERT INTO company_removals (company_uuid, removed_by, prior_status, prior_reason, tokens_deleted, revocation, purge_data)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, company, o.By, string(res.Prior.Status), res.Prior.Reason, res.TokensDeleted,
			res.Revocation, o.PurgeData).Scan(&res.AuditID).Error
	})
	if err != nil {
		var uc *UnknownCompanyError
		if errors.As(err, &uc) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("offboard: remove company %s: %w", company, err)
	}
	if !o.PurgeData {
		return res, nil
	}
	res.Purged, err = checkpoint.NewStore(db, checkpoint.Options{}).Purge(ctx, company, o.Batch)
	if err != nil {
		return res, fmt.Errorf("offboard: company %s removed, tokens deleted, but its data is not all purged (run the command again): %w", company, err)
	}
	if err := db.WithContext(ctx).Exec(`UPDATE company_removals SET rows_purged = ?, purged_at = now() WHERE id = ?`,
		res.Purged.Total(), res.AuditID).Error; err != nil {
		return res, fmt.Errorf("offboard: record the purge of company %s: %w", company, err)
	}
	return res, nil
}
