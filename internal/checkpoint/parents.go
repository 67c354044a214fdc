package checkpoint

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// This file: what a walk reads from the rows already stored to decide what
// to request: the parent records a substream is walked for, with what it
// last read of each (sync_parent_reads), and the periods a windowed
// resource's records cover.

// Parent is one record of a substream's parent table.
type Parent struct {
	// UUID is the parent record's uuid (canonical).
	UUID string
	// Version identifies the parent record's content (a digest of its
	// payload): a parent whose version changed since its children were
	// read has changed in Gusto.
	Version string
	// Final reports the parent table's FinalWhen for it: its children will
	// not change unless Gusto says so.
	Final bool
	// ReadVersion is the Version at which the substream last read every
	// page of this parent's children ("" when never).
	ReadVersion string
}

// ParentRead records that a substream read every page of one parent's
// children, at the parent's Version (Batch.ParentsRead).
type ParentRead struct {
	UUID, Version string
}

// Parents returns up to limit live records of the company in the parent
// resource's table whose uuid sorts after after (or is after, when
// inclusive; "" from the first), by uuid, each with what the child
// resource last read of it.
func (s *Store) Parents(ctx context.Context, company string, parent, child Resource, after string, inclusive bool, limit int) ([]Parent, error) {
	t := s.table(parent)
	if t == nil || !t.Owned {
		return nil, fmt.Errorf("checkpoint: parents of %s: %q is not an owned table's resource", child, parent)
	}
	if after == "" {
		after = "00000000-0000-0000-0000-000000000000"
	}
	cmp := ">"
	if inclusive {
		cmp = ">="
	}
	final := "false"
	if t.FinalWhen != "" {
		final = t.FinalWhen
	}
	var out []Parent
	err := s.db.WithContext(ctx).Raw(`
SELECT t.uuid::text AS uuid, md5(t.payload::text) AS version, (`+final+`) AS final, COALESCE(r.version, '') AS read_version
FROM `+t.Name+` t
LEFT JOIN sync_parent_reads r ON r.company_uuid = t.company_uuid AND r.resource = ? AND r.parent_uuid = t.uuid
WHERE t.company_uuid = ? AND t.deleted_at IS NULL AND t.uuid `+cmp+` ?::uuid
ORDER BY t.uuid
LIMIT ?`, string(child), company, after, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("checkpoint: parents of %s for company %s: %w", child, company, err)
	}
	return out, nil
}

// recordParents runs inside a batch's commit transaction: the parents
// whose children the batch completed are read at their version.
func (a *Attempt) recordParents(tx *gorm.DB, r Resource, read []ParentRead) error {
	for _, p := range read {
		if err := tx.Exec(`
INSERT INTO sync_parent_reads (company_uuid, resource, parent_uuid, version, read_at) VALUES (?, ?, ?, ?, now())
ON CONFLICT (company_uuid, resource, parent_uuid) DO UPDATE SET version = excluded.version, read_at = excluded.read_at`,
			a.Company, string(r), p.UUID, p.Version).Error; err != nil {
			return err
		}
	}
	return nil
}

// Period is one period a stored record covers (Table.PeriodStart/End).
type Period struct {
	// Group is the series the period belongs to (Table.PeriodGroup: a pay
	// schedule), "" when unknown.
	Group      string
	Start, End time.Time
}

// Periods returns the distinct periods of at least minDays days that the
// company's live records of r cover, by start.
func (s *Store) Periods(ctx context.Context, company string, r Resource, minDays int) ([]Period, error) {
	t := s.table(r)
	if t == nil || t.PeriodStart == "" || t.PeriodEnd == "" {
		return nil, fmt.Errorf("checkpoint: periods of %s: the table declares none", r)
	}
	group := "''"
	if t.PeriodGroup != "" {
		group = "COALESCE(" + t.PeriodGroup + ", '')"
	}
	var out []Period
	err := s.db.WithContext(ctx).Raw(`
SELECT DISTINCT `+group+` AS "group", t.`+t.PeriodStart+` AS start, t.`+t.PeriodEnd+` AS "end"
FROM `+t.Name+` t
WHERE t.company_uuid = ? AND t.deleted_at IS NULL AND t.`+t.PeriodStart+` IS NOT NULL AND t.`+t.PeriodEnd+` IS NOT NULL
  AND t.`+t.PeriodEnd+` - t.`+t.PeriodStart+` + 1 >= ?
ORDER BY start, "end", "group"`, company, minDays).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("checkpoint: periods of %s for company %s: %w", r, company, err)
	}
	return out, nil
}
