package tokens

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/postgres"
)

// Status is a company's token status (gusto_auth_tokens.status).
type Status string

// The statuses a company can be in.
const (
	// StatusActive companies are synced; their tokens are refreshed as needed.
	StatusActive Status = "active"
	// StatusNeedsReauth companies lost their grant; status_reason says why.
	StatusNeedsReauth Status = "needs_reauth"
	// StatusPaused companies were paused by an operator.
	StatusPaused Status = "paused"
	// StatusMissingScope companies' grants lack a scope a sync needs (Gusto
	// answered missing_permissions); status_reason names it. The grant is
	// not revoked: it is synced again once a person grants the scope (the
	// company re-consents and is added again, or an operator resumes it).
	StatusMissingScope Status = "missing_scope"
)

// Trigger says what asked for a refresh (token_refresh_events.trigger).
type Trigger string

// The triggers recorded in token_refresh_events.
const (
	// TriggerExpiry: the stored token was inside its refresh-ahead window.
	TriggerExpiry Trigger = "expiry"
	// TriggerUnauthorized: a data call got a 401 and invalidated the token.
	TriggerUnauthorized Trigger = "unauthorized"
	// TriggerOnboard: an operator stored tokens (gustosync companies add).
	TriggerOnboard Trigger = "onboard"
	// TriggerRekey: an operator re-encrypted the rows (gustosync tokens rekey).
	TriggerRekey Trigger = "rekey"
	// TriggerManual: an operator paused or resumed a company.
	TriggerManual Trigger = "manual"
)

// Outcome is the result of one refresh attempt (token_refresh_events.outcome).
type Outcome string

// The outcomes recorded in token_refresh_events and counted by the
// refreshes metric.
const (
	// OutcomeRefreshed: Gusto issued a new pair and it was committed.
	OutcomeRefreshed Outcome = "refreshed"
	// OutcomeSiblingRefreshed: the grant was refused, but another worker had
	// already rotated it; its token is used.
	OutcomeSiblingRefreshed Outcome = "sibling_refreshed"
	// OutcomeCASLost: Gusto issued a new pair but another worker committed
	// first; the new pair was thrown away unused.
	OutcomeCASLost Outcome = "cas_lost"
	// OutcomeRevoked: the stored refresh token was refused; the company now
	// needs re-authorization.
	OutcomeRevoked Outcome = "revoked"
	// OutcomeTransient: 429, 5xx or a timeout; retried with backoff.
	OutcomeTransient Outcome = "transient"
	// OutcomeFailed: any other failure (bad client credentials, malformed
	// response, the commit failing).
	OutcomeFailed Outcome = "failed"
	// OutcomeStatusChange: an operator action changed the row.
	OutcomeStatusChange Outcome = "status_change"
)

// Grant is a token pair handed to gustosync by an operator: the token
// response Gusto returns for a company (`gustosync companies add` reads it as
// JSON). Its String method redacts both tokens.
type Grant struct {
	// CompanyUUID is the company the pair is for.
	CompanyUUID string `json:"company_uuid"`
	// AccessToken and RefreshToken are the pair, in plaintext: never log them.
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64 `json:"expires_in"`
	// Scope is the space-separated list of granted scopes; empty when unknown
	// (Gusto's partner-managed company creation does not return it).
	Scope string `json:"scope,omitempty"`
	// CreatedAt is when Gusto issued the pair, in unix seconds on Gusto's
	// clock; zero means now.
	CreatedAt int64 `json:"created_at,omitempty"`
}

// String redacts the tokens.
func (g Grant) String() string {
	return "tokens.Grant{company_uuid=" + g.CompanyUUID + " expires_in=" + strconv.FormatInt(g.ExpiresIn, 10) +
		" scope=" + g.Scope + " access_token=[redacted] refresh_token=[redacted]}"
}

// GoString redacts the tokens.
func (g Grant) GoString() string { return g.String() }

// Event is one row of token_refresh_events: the audit of one refresh attempt
// or operator action. It never holds a token.
type Event struct {
	// ID is the row's id (set when read back).
	ID int64
	// Company is the company uuid.
	Company string
	// Worker identifies the process (Config.WorkerID).
	Worker  string
	Trigger Trigger
	Outcome Outcome
	// Detail says more (an error's class and status, a reason); never a token.
	Detail string
	// OldVersion and NewVersion are the row versions before and after; zero
	// when not applicable.
	OldVersion int64
	NewVersion int64
	// StartedAt and FinishedAt bound the attempt (the local clock).
	StartedAt  time.Time
	FinishedAt time.Time
}

// Store keeps each company's tokens in gusto_auth_tokens, sealed by a
// Keyring, and the audit trail in token_refresh_events. It is safe for
// concurrent use; every write that decides something is a single guarded
// statement (or one transaction with its audit row), so several processes can
// share the table.
type Store struct {
	db   *gorm.DB
	keys *Keyring
	now  func() time.Time
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

// record is a decrypted row. Never log it.
type record struct {
	Company      string
	AccessToken  string
	RefreshToken string
	KeyID        string
	Expiration   time.Time // Gusto's clock
	IssuedAt     time.Time // Gusto's clock
	Lifetime     time.Duration
	Scopes       string
	Version      int64
	Status       Status
	StatusReason string
	Invalidated  bool
	Skew         time.Duration
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
	access, err := s.keys.open(company, colAccess, row.KeyID, row.AccessToken)
	if err != nil {
		return nil, err
	}
	refresh, err := s.keys.open(company, colRefresh, row.KeyID, row.RefreshToken)
	if err != nil {
		return nil, err
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

// Put stores a company's tokens given by an operator, replacing any stored
// pair (the version moves, so a refresh in flight elsewhere loses its
// compare-and-swap and adopts these). A needs_reauth company becomes active;
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
				status_changed_at = CASE WHEN t.status = 'needs_reauth' THEN now() ELSE t.status_changed_at END,
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
func (s *Store) commitRefresh(ctx context.Context, old *record, next *record, ev Event) (bool, error) {
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
				consecutive_failures = 0, last_refreshed_at = now(), updated_at = now()
			WHERE company_uuid = ? AND version = ?
			RETURNING version, status, status_reason, scopes`,
			accessCT, refreshCT, s.keys.PrimaryID(), next.Expiration, next.IssuedAt,
			int64(next.Lifetime/time.Second), next.Scopes, next.Skew.Milliseconds(),
			old.Company, old.Version).Scan(&out)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
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
	if err != nil {
		return false, &StoreError{Op: "commit refresh of", Company: old.Company, Err: err}
	}
	return committed, nil
}

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
	out := map[Status]int64{StatusActive: 0, StatusNeedsReauth: 0, StatusPaused: 0, StatusMissingScope: 0}
	for _, r := range rows {
		out[Status(r.Status)] = r.N
	}
	return out, nil
}

// RekeyResult reports what Rekey did.
type RekeyResult struct {
	// Rekeyed rows are now sealed under the primary key.
	Rekeyed int
	// Current rows were already sealed under the primary key.
	Current int
	// Failed rows could not be opened with any key of the keyring; Failures
	// holds one *KeyError (or *StoreError) per failed row.
	Failed   int
	Failures []error
}

// Rekey re-encrypts every row not sealed under the primary key, in batches
// of batchSize rows (one transaction per batch). It is idempotent and safe to
// run while workers refresh: each row is rewritten only if its ciphertext is
// still the one read (a row refreshed meanwhile is read again). Rows that no
// key opens are reported in the result and left as they are; the error is
// non-nil when any row failed.
func (s *Store) Rekey(ctx context.Context, batchSize int, worker string) (RekeyResult, error) {
	if batchSize <= 0 {
		batchSize = 100
	}
	var result RekeyResult
	primary := s.keys.PrimaryID()
	var current int64
	if err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM gusto_auth_tokens WHERE key_id = ?`, primary).Scan(&current).Error; err != nil {
		return result, &StoreError{Op: "rekey", Err: err}
	}
	result.Current = int(current)
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
			break
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
	}
	if result.Failed > 0 {
		return result, fmt.Errorf("tokens: rekey: %d rows could not be opened with any key; first: %w", result.Failed, result.Failures[0])
	}
	return result, nil
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
