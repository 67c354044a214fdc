package tokens

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/postgres"
)

// Store keeps each company's tokens in gusto_auth_tokens, sealed by a
// Keyring, and the audit trail in token_refresh_events. It is safe for
// concurrent use; every write that decides something is a single guarded
// statement (or one transaction with its audit row), so several processes can
// share the table.
type Store struct {
	db   *gorm.DB
	keys *Keyring
	now  func() time.Time

	// afterRekeyBatch, for this package's tests, runs after each committed
	// batch of a Rekey pass.
	afterRekeyBatch func()
}

// NewStore returns a Store over db (see internal/postgres.Open) sealing with keys.
func NewStore(db *gorm.DB, keys *Keyring) *Store {
	return &Store{db: db, keys: keys, now: time.Now}
}

// inTx runs fn in one transaction with postgres.InTx's default lock and
// idle timeouts.
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return postgres.InTx(ctx, s.db, postgres.TxOptions{}, fn)
}

// tokenRow is gusto_auth_tokens as scanned.
type tokenRow struct {
	CompanyUUID           string
	AccessToken           []byte
	RefreshToken          []byte
	KeyID                 string
	AccessTokenExpiration time.Time
	IssuedAt              time.Time
	ExpiresIn             int64
	Scopes                string
	Version               int64
	Status                string
	StatusReason          string
	InvalidatedAt         sql.NullTime
	ClockSkewMs           int64
}

const selectToken = `SELECT company_uuid, access_token, refresh_token, key_id, access_token_expiration,
	issued_at, expires_in, scopes, version, status, status_reason, invalidated_at, clock_skew_ms
	FROM gusto_auth_tokens WHERE company_uuid = ?`

// canonicalCompany validates a company uuid and returns its canonical
// lower-case form, which is also the associated data of its ciphertexts.
func canonicalCompany(company string) (string, error) {
	u, err := uuid.Parse(company)
	if err != nil {
		return "", fmt.Errorf("tokens: company %q: %w", truncate(company, 64), ErrInvalidCompany)
	}
	return u.String(), nil
}

// load reads and decrypts a company's row. A missing row is a *NotFoundError.
func (s *Store) load(ctx context.Context, company string) (*record, error) {
	var row tokenRow
	res := s.db.WithContext(ctx).Raw(selectToken, company).Scan(&row)
	if res.Error != nil {
		return nil, &StoreError{Op: "load", Company: company, Err: res.Error}
	}
	if res.RowsAffected == 0 {
		return nil, &NotFoundError{Company: company}
	}
	access, refresh, err := s.keys.openRow(company, row)
	if err != nil {
		return nil, &unopenedError{Company: company, KeyID: row.KeyID, Status: Status(row.Status),
			StatusReason: row.StatusReason, Version: row.Version, Err: err}
	}
	return &record{
		Company:      company,
		AccessToken:  access,
		RefreshToken: refresh,
		KeyID:        row.KeyID,
		Expiration:   row.AccessTokenExpiration,
		IssuedAt:     row.IssuedAt,
		Lifetime:     time.Duration(row.ExpiresIn) * time.Second,
		Scopes:       row.Scopes,
		Version:      row.Version,
		Status:       Status(row.Status),
		StatusReason: row.StatusReason,
		Invalidated:  row.InvalidatedAt.Valid,
		Skew:         time.Duration(row.ClockSkewMs) * time.Millisecond,
	}, nil
}

// MaxCreatedAtLead is how far in the future a grant's created_at may be (a
// clock difference with Gusto) before it is refused.
const MaxCreatedAtLead = 2 * time.Minute

// CheckCreatedAt refuses a grant's created_at (unix seconds, 0 = unknown)
// that lies more than MaxCreatedAtLead after now with a *GrantError naming
// the field: a future issue time would make the token look fresh past its
// expiry. Put checks it; onboarding tools call it before storing anything.
func CheckCreatedAt(createdAt int64, now time.Time) error {
	if createdAt <= 0 {
		return nil
	}
	if lead := time.Unix(createdAt, 0).Sub(now); lead > MaxCreatedAtLead {
		return &GrantError{Field: "created_at", Reason: fmt.Sprintf("is %s in the future (more than %s ahead of this machine's clock): "+
			"the value is wrong, or a clock is; a future issue time would make the token look fresh past its expiry",
			lead.Round(time.Second), MaxCreatedAtLead)}
	}
	return nil
}

// Put stores a company's tokens given by an operator, replacing any stored
// pair (the version moves, so a refresh in flight elsewhere loses its
// compare-and-swap and adopts these). A needs_reauth, missing_scope or
// key_missing company becomes active;
// a paused one stays paused. It refuses a grant with a missing field, a
// non-positive lifetime, or granted scopes that lack a required scope
// (*GrantError, *MissingScopesError). It returns the row's new version.
func (s *Store) Put(ctx context.Context, g Grant, worker string) (int64, error) {
	company, err := canonicalCompany(strings.TrimSpace(g.CompanyUUID))
	if err != nil {
		return 0, &GrantError{Field: "company_uuid", Reason: "not a uuid"}
	}
	switch {
	case g.AccessToken == "":
		return 0, &GrantError{Field: "access_token", Reason: "required"}
	case g.RefreshToken == "":
		return 0, &GrantError{Field: "refresh_token", Reason: "required"}
	case g.ExpiresIn <= 0:
		return 0, &GrantError{Field: "expires_in", Reason: "must be a positive number of seconds"}
	case g.CreatedAt < 0:
		return 0, &GrantError{Field: "created_at", Reason: "must be unix seconds"}
	}
	scope := strings.Join(strings.Fields(g.Scope), " ")
	if scope != "" {
		if err := checkScopes(company, scope); err != nil {
			return 0, err
		}
	}
	now := s.now()
	issued := now
	if g.CreatedAt > 0 {
		issued = time.Unix(g.CreatedAt, 0)
		if err := CheckCreatedAt(g.CreatedAt, now); err != nil {
			return 0, err
		}
	}
	lifetime := time.Duration(g.ExpiresIn) * time.Second
	accessCT, err := s.keys.seal(company, colAccess, g.AccessToken)
	if err != nil {
		return 0, err
	}
	refreshCT, err := s.keys.seal(company, colRefresh, g.RefreshToken)
	if err != nil {
		return 0, err
	}
	var version int64
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		var out struct{ Version int64 }
		res := tx.Raw(`INSERT INTO gusto_auth_tokens AS t (company_uuid, access_token, refresh_token, key_id,
				access_token_expiration, issued_at, expires_in, scopes, clock_skew_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
			ON CONFLICT (company_uuid) DO UPDATE SET
				access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token,
				key_id = EXCLUDED.key_id, access_token_expiration = EXCLUDED.access_token_expiration,
				issued_at = EXCLUDED.issued_at, expires_in = EXCLUDED.expires_in, scopes = EXCLUDED.scopes,
				clock_skew_ms = 0, version = t.version + 1, invalidated_at = NULL,
				status = CASE WHEN t.status = 'paused' THEN 'paused' ELSE 'active' END,
				status_reason = CASE WHEN t.status = 'paused' THEN t.status_reason ELSE '' END,
				status_changed_at = CASE WHEN t.status IN ('needs_reauth', 'missing_scope', 'key_missing') THEN now() ELSE t.status_changed_at END,
				consecutive_failures = 0, updated_at = now()
			RETURNING t.version`,
			company, accessCT, refreshCT, s.keys.PrimaryID(), expiration(issued, lifetime), issued,
			g.ExpiresIn, scope).Scan(&out)
		if res.Error != nil {
			return res.Error
		}
		version = out.Version
		return insertEvent(tx, Event{
			Company: company, Worker: worker, Trigger: TriggerOnboard, Outcome: OutcomeStatusChange,
			Detail: "tokens stored by an operator", OldVersion: version - 1, NewVersion: version,
			StartedAt: now, FinishedAt: s.now(),
		})
	})
	if err != nil {
		return 0, &StoreError{Op: "store tokens for", Company: company, Err: err}
	}
	return version, nil
}

// commitRefresh holds invariant 1 (the fence): it stores the pair Gusto just
// issued only if the row is still at the version the refresh started from,
// in one statement (`UPDATE … WHERE company_uuid = ? AND version = ?`), and
// writes the audit row in the same transaction. It reports false, changing
// nothing, when another worker committed first: the caller must then throw
// its pair away unused. A company marked needs_reauth meanwhile (a sibling's
// refresh was refused because this pair rotated the grant) becomes active
// again: this pair is the valid one.
//
// The commit is fenced by the send's claim too: while another sender holds a
// live claim on the same version (this sender's own claim lapsed while it
// was paused, and the other has since presented the same refresh token), it
// returns errForeignClaim and changes nothing. The other's exchange came
// later: where the provider honours the latest-issued pair, that pair is the
// good one and this one is revoked, so the caller waits for the other's
// outcome (Manager.commit). claimer is this sender's claim ("" for none).
func (s *Store) commitRefresh(ctx context.Context, old *record, next *record, ev Event, claimer string) (bool, error) {
	accessCT, err := s.keys.seal(old.Company, colAccess, next.AccessToken)
	if err != nil {
		return false, err
	}
	refreshCT, err := s.keys.seal(old.Company, colRefresh, next.RefreshToken)
	if err != nil {
		return false, err
	}
	committed := false
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		var out struct {
			Version      int64
			Status       string
			StatusReason string
			Scopes       string
		}
		res := tx.Raw(`UPDATE gusto_auth_tokens SET
				access_token = ?, refresh_token = ?, key_id = ?, access_token_expiration = ?,
				issued_at = ?, expires_in = ?, scopes = COALESCE(NULLIF(?, ''), scopes), clock_skew_ms = ?,
				version = version + 1, invalidated_at = NULL,
				status = CASE WHEN status = 'needs_reauth' THEN 'active' ELSE status END,
				status_reason = CASE WHEN status = 'needs_reauth' THEN '' ELSE status_reason END,
				status_changed_at = CASE WHEN status = 'needs_reauth' THEN now() ELSE status_changed_at END,
				consecutive_failures = 0, last_refreshed_at = now(), updated_at = now(),
				refresh_claimed_version = NULL, refresh_claimed_by = NULL, refresh_claimed_until = NULL
			WHERE company_uuid = ? AND version = ?
				AND NOT (refresh_claimed_version IS NOT DISTINCT FROM version AND refresh_claimed_by IS DISTINCT FROM ?
					AND refresh_claimed_until IS NOT NULL AND refresh_claimed_until >= now())
			RETURNING version, status, status_reason, scopes`,
			accessCT, refreshCT, s.keys.PrimaryID(), next.Expiration, next.IssuedAt,
			int64(next.Lifetime/time.Second), next.Scopes, next.Skew.Milliseconds(),
			old.Company, old.Version, claimer).Scan(&out)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			var n int64
			if err := tx.Raw(`SELECT count(*) FROM gusto_auth_tokens WHERE company_uuid = ? AND version = ?`, old.Company, old.Version).Scan(&n).Error; err != nil {
				return err
			}
			if n == 1 {
				return errForeignClaim
			}
			return errCASLost
		}
		next.Version, next.Status, next.StatusReason, next.Scopes = out.Version, Status(out.Status), out.StatusReason, out.Scopes
		next.KeyID = s.keys.PrimaryID()
		ev.OldVersion, ev.NewVersion = old.Version, out.Version
		if err := insertEvent(tx, ev); err != nil {
			return err
		}
		committed = true
		return nil
	})
	if errors.Is(err, errCASLost) {
		return false, nil
	}
	if errors.Is(err, errForeignClaim) {
		return false, err
	}
	if err != nil {
		return false, &StoreError{Op: "commit refresh of", Company: old.Company, Err: err}
	}
	return committed, nil
}

// errForeignClaim is commitRefresh's answer while another sender's live
// claim on the same version blocks the commit.
var errForeignClaim = errors.New("another sender holds a live claim on this version")

// errCASLost rolls back commitRefresh's transaction when no row matched.
var errCASLost = errors.New("compare-and-swap lost")

// markInvalidated flags the access token of version as refused by Gusto, so
// that every process refreshes it on its next AccessToken. It changes
// nothing if a sibling already replaced that version.
func (s *Store) markInvalidated(ctx context.Context, company string, version int64) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE gusto_auth_tokens SET invalidated_at = now(), updated_at = now()
		WHERE company_uuid = ? AND version = ? AND invalidated_at IS NULL`, company, version)
	if res.Error != nil {
		return false, &StoreError{Op: "invalidate token of", Company: company, Err: res.Error}
	}
	return res.RowsAffected == 1, nil
}

// CountByStatus returns how many companies are in each status; every status
// is present, zero when no company has it.
func (s *Store) CountByStatus(ctx context.Context) (map[Status]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	res := s.db.WithContext(ctx).Raw(`SELECT status, count(*) AS n FROM gusto_auth_tokens GROUP BY status`).Scan(&rows)
	if res.Error != nil {
		return nil, &StoreError{Op: "count companies by status", Err: res.Error}
	}
	out := map[Status]int64{StatusActive: 0, StatusNeedsReauth: 0, StatusPaused: 0, StatusMissingScope: 0, StatusKeyMissing: 0}
	for _, r := range rows {
		out[Status(r.Status)] = r.N
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
