package tokens

import (
	"context"
	"fmt"
)

// Deleted is what Store.Delete removed: the row's state, never a token.
type Deleted struct {
	// Status and Reason are the company's status and status reason.
	Status Status
	Reason string
	// Version is the token row's version.
	Version int64
}

// Delete deletes company's token row (offboarding, package offboard): the
// encrypted pair, its status and its schedule (company_schedules follows
// by its foreign key) are gone, so no refresh, sync or status change can
// use them again. A refresh in flight for the company commits nothing: its
// version compare-and-swap finds no row. It returns *NotFoundError when no
// row exists. It reads no token and needs no keyring.
func (s *Store) Delete(ctx context.Context, company string) (Deleted, error) {
	var rows []struct {
		Status       Status
		StatusReason string
		Version      int64
	}
	err := s.db.WithContext(ctx).Raw(`DELETE FROM gusto_auth_tokens WHERE company_uuid = ?
		RETURNING status, status_reason, version`, company).Scan(&rows).Error
	if err != nil {
		return Deleted{}, fmt.Errorf("tokens: delete company %s: %w", company, err)
	}
	if len(rows) == 0 {
		return Deleted{}, &NotFoundError{Company: company}
	}
	return Deleted{Status: rows[0].Status, Reason: rows[0].StatusReason, Version: rows[0].Version}, nil
}
