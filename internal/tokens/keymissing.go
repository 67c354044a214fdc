package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// This file: the key_missing status. A row that the keyring cannot open
// (its key id is not in TOKEN_ENCRYPTION_KEYS, or the key of that id does
// not open it) can never be synced by this fleet: Manager.load marks the
// company key_missing once (version-guarded, from active; the database
// trigger writes one company.key_missing alert) and every caller gets a
// terminal *KeyMissingError. The way back is Store.reopen, run by Rekey
// (every key_missing row that opens again) and by Resume: it moves the
// company to active only if its row now opens. Storing new tokens (Put)
// also makes it active.

// keyMissing is the transition Manager.load makes; reopen is the way back.
var (
	keyMissing = transition{from: []Status{StatusActive}, to: StatusKeyMissing, op: "mark key_missing"}
	reopen     = transition{from: []Status{StatusKeyMissing}, to: StatusActive, op: "reopen"}
)

// unopenedError is Store.load's answer for a row the keyring cannot open:
// the row's status and version (for Manager.load's guarded change) and
// the *KeyError (Unwrap).
type unopenedError struct {
	Company      string
	KeyID        string
	Status       Status
	StatusReason string
	Version      int64
	Err          error
}

func (e *unopenedError) Error() string {
	return fmt.Sprintf("tokens: company %s: cannot open stored tokens: %v", e.Company, e.Err)
}

func (e *unopenedError) Unwrap() error { return e.Err }

// keyMissingReason is the status reason of a row that does not open.
func keyMissingReason(keyID string, err error) string {
	var ke *KeyError
	detail := "cannot be opened"
	if errors.As(err, &ke) {
		detail = ke.Reason
	}
	return fmt.Sprintf("tokens sealed under key %q: %s; put the key back in TOKEN_ENCRYPTION_KEYS and run `gustosync tokens rekey`", keyID, detail)
}

// load reads and opens a company's row (Store.load). A row that does not
// open is a terminal error: a *KeyMissingError for an active company (marked
// key_missing here, once: the change is guarded by the version read, so one
// audit event and one alert however many workers see it) or one already
// key_missing; the status's own terminal error for a company in another
// status (paused, needs_reauth, missing_scope: its row is not used anyway).
func (m *Manager) load(ctx context.Context, company string) (*record, error) {
	rec, err := m.store.load(ctx, company)
	var ue *unopenedError
	if !errors.As(err, &ue) {
		return rec, err
	}
	m.forget(company, "")
	switch ue.Status {
	case StatusKeyMissing:
		return nil, &KeyMissingError{Company: company, KeyID: ue.KeyID, Reason: ue.StatusReason, Err: ue.Err}
	case StatusActive:
	default:
		return nil, usable(&record{Company: company, Status: ue.Status, StatusReason: ue.StatusReason})
	}
	reason := keyMissingReason(ue.KeyID, ue.Err)
	now := m.now()
	changed, serr := m.store.changeStatus(ctx, company, ue.Version, keyMissing, reason, Event{
		Worker: m.cfg.WorkerID, Trigger: TriggerKeyMissing, Outcome: OutcomeFailed,
		Detail: "active -> key_missing: " + reason, StartedAt: now})
	if serr != nil {
		return nil, serr
	}
	if changed {
		m.log.LogAttrs(ctx, slog.LevelError, "company's tokens cannot be opened; marked key_missing, it will not be synced until the key is restored",
			slog.String("company", company), slog.String("key_id", ue.KeyID), slog.String("error", ue.Err.Error()))
		return nil, &KeyMissingError{Company: company, KeyID: ue.KeyID, Reason: reason, Err: ue.Err}
	}
	// The row moved meanwhile (a refresh elsewhere resealed it, an
	// operator changed it): read it again, once.
	rec, err = m.store.load(ctx, company)
	if errors.As(err, &ue) {
		if ue.Status == StatusKeyMissing || ue.Status == StatusActive {
			return nil, &KeyMissingError{Company: company, KeyID: ue.KeyID, Reason: keyMissingReason(ue.KeyID, ue.Err), Err: ue.Err}
		}
		return nil, usable(&record{Company: company, Status: ue.Status, StatusReason: ue.StatusReason})
	}
	return rec, err
}

// reopenRow makes a key_missing company active again if its row now opens
// with the keyring (the key was put back), guarded by the version it read.
// It reports whether it changed the row; a row that still does not open is
// a *KeyError (wrapped), and a row in another status is left alone (false).
func (s *Store) reopenRow(ctx context.Context, company string, ev Event) (bool, error) {
	for range statusTries {
		var row tokenRow
		res := s.db.WithContext(ctx).Raw(selectToken, company).Scan(&row)
		if res.Error != nil {
			return false, &StoreError{Op: "reopen", Company: company, Err: res.Error}
		}
		if res.RowsAffected == 0 {
			return false, &NotFoundError{Company: company}
		}
		if Status(row.Status) != StatusKeyMissing {
			return false, nil
		}
		if s.keys == nil {
			return false, &KeyError{KeyID: row.KeyID, Company: company, Reason: "no keyring to check the row with (set TOKEN_ENCRYPTION_KEYS)"}
		}
		if _, _, err := s.keys.openRow(company, row); err != nil {
			return false, fmt.Errorf("tokens: company %s stays key_missing: %w", company, err)
		}
		e := ev
		e.Detail = "key_missing -> active: the tokens open again (key " + row.KeyID + ")"
		e.StartedAt = s.now()
		changed, err := s.changeStatus(ctx, company, row.Version, reopen, "", e)
		if err != nil || changed {
			return changed, err
		}
	}
	return false, &StoreError{Op: reopen.op, Company: company, Err: errors.New("the row kept changing; try again")}
}

// reopenAll runs reopenRow on every key_missing company (after a rekey):
// it returns how many became active, and the rows that still do not open.
func (s *Store) reopenAll(ctx context.Context, worker string) (int, []error, error) {
	var companies []string
	if err := s.db.WithContext(ctx).Raw(`SELECT company_uuid::text FROM gusto_auth_tokens WHERE status = ? ORDER BY company_uuid`,
		string(StatusKeyMissing)).Scan(&companies).Error; err != nil {
		return 0, nil, &StoreError{Op: "list key_missing companies", Err: err}
	}
	n := 0
	var failures []error
	for _, c := range companies {
		ok, err := s.reopenRow(ctx, c, Event{Worker: worker, Trigger: TriggerRekey, Outcome: OutcomeStatusChange})
		var ke *KeyError
		switch {
		case errors.As(err, &ke):
			failures = append(failures, err)
		case err != nil:
			return n, failures, err
		case ok:
			n++
		}
	}
	return n, failures, nil
}
