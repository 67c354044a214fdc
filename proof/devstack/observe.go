package devstack

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"
)

// Snapshot is the system's state as PostgreSQL holds it, for progress lines
// and end conditions.
type Snapshot struct {
	// Companies counts gusto_auth_tokens rows; Active, NeedsReauth and Paused
	// split them by status.
	Companies, Active, NeedsReauth, Paused int
	// Synced counts companies with at least one succeeded run.
	Synced int
	// MinVersion is the lowest token version among active companies (1 = never
	// refreshed since onboarding; 3 = rotated at least twice).
	MinVersion int64
	// Rotated2 counts active companies whose tokens rotated at least twice.
	Rotated2 int
	// Refreshes counts committed refreshes (token_refresh_events outcome
	// refreshed).
	Refreshes int64
	// Runs by status.
	RunsSucceeded, RunsRunning, RunsPending, RunsFailed int
	// Live rows in the synced data tables (not marked deleted by a full
	// reconciliation).
	CompanyRows, EmployeeRows, PayrollRows int64
}

// Records is the number of synced rows in all three tables.
func (s Snapshot) Records() int64 { return s.CompanyRows + s.EmployeeRows + s.PayrollRows }

// Snapshot reads the state in one round of queries.
func (d *Database) Snapshot(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	err := d.SQL.QueryRowContext(ctx, `
SELECT
  (SELECT count(*) FROM gusto_auth_tokens),
  (SELECT count(*) FROM gusto_auth_tokens WHERE status = 'active'),
  (SELECT count(*) FROM gusto_auth_tokens WHERE status = 'needs_reauth'),
  (SELECT count(*) FROM gusto_auth_tokens WHERE status = 'paused'),
  (SELECT count(DISTINCT company_uuid) FROM sync_runs WHERE status = 'succeeded'),
  (SELECT coalesce(min(version), 0) FROM gusto_auth_tokens WHERE status = 'active'),
  (SELECT count(*) FROM gusto_auth_tokens WHERE status = 'active' AND version >= 3),
  (SELECT count(*) FROM token_refresh_events WHERE outcome = 'refreshed'),
  (SELECT count(*) FROM sync_runs WHERE status = 'succeeded'),
  (SELECT count(*) FROM sync_runs WHERE status = 'running'),
  (SELECT count(*) FROM sync_runs WHERE status = 'pending'),
  (SELECT count(*) FROM sync_runs WHERE status = 'failed'),
  (SELECT count(*) FROM gusto_companies),
  (SELECT count(*) FROM gusto_employees WHERE deleted_at IS NULL),
  (SELECT count(*) FROM gusto_payrolls WHERE deleted_at IS NULL)`).Scan(
		&s.Companies, &s.Active, &s.NeedsReauth, &s.Paused, &s.Synced, &s.MinVersion, &s.Rotated2, &s.Refreshes,
		&s.RunsSucceeded, &s.RunsRunning, &s.RunsPending, &s.RunsFailed,
		&s.CompanyRows, &s.EmployeeRows, &s.PayrollRows)
	if err != nil {
		return Snapshot{}, fmt.Errorf("devstack: snapshot: %w", err)
	}
	return s, nil
}

// CompanyState is one company's row in gusto_auth_tokens and its runs.
type CompanyState struct {
	UUID    string
	Status  string
	Reason  string
	Version int64
	// ExpiresIn is the stored token's lifetime (seconds).
	ExpiresIn int64
	// Onboarded is when the row was created.
	Onboarded time.Time
	// Refreshes counts committed refreshes (events outcome refreshed).
	Refreshes int64
	// Succeeded counts succeeded runs; LastSucceeded is the latest finish.
	Succeeded     int
	LastSucceeded time.Time
	// LastSucceededStart is when the latest succeeded run was created.
	LastSucceededStart time.Time
}

// Companies returns every company's state, by uuid.
func (d *Database) Companies(ctx context.Context) (map[string]CompanyState, error) {
	rows, err := d.SQL.QueryContext(ctx, `
SELECT t.company_uuid::text, t.status, t.status_reason, t.version, t.expires_in, t.created_at,
       (SELECT count(*) FROM token_refresh_events e WHERE e.company_uuid = t.company_uuid AND e.outcome = 'refreshed'),
       (SELECT count(*) FROM sync_runs r WHERE r.company_uuid = t.company_uuid AND r.status = 'succeeded'),
       (SELECT max(r.finished_at) FROM sync_runs r WHERE r.company_uuid = t.company_uuid AND r.status = 'succeeded'),
       (SELECT max(r.created_at) FROM sync_runs r WHERE r.company_uuid = t.company_uuid AND r.status = 'succeeded')
FROM gusto_auth_tokens t`)
	if err != nil {
		return nil, fmt.Errorf("devstack: companies: %w", err)
	}
	defer rows.Close()
	out := map[string]CompanyState{}
	for rows.Next() {
		var c CompanyState
		var last, lastStart sql.NullTime
		if err := rows.Scan(&c.UUID, &c.Status, &c.Reason, &c.Version, &c.ExpiresIn, &c.Onboarded, &c.Refreshes, &c.Succeeded, &last, &lastStart); err != nil {
			return nil, fmt.Errorf("devstack: companies: %w", err)
		}
		c.LastSucceeded, c.LastSucceededStart = last.Time, lastStart.Time
		out[c.UUID] = c
	}
	return out, rows.Err()
}

// RefreshOutcomes counts token_refresh_events by outcome.
func (d *Database) RefreshOutcomes(ctx context.Context) (map[string]int64, error) {
	rows, err := d.SQL.QueryContext(ctx, `SELECT outcome, count(*) FROM token_refresh_events GROUP BY outcome`)
	if err != nil {
		return nil, fmt.Errorf("devstack: refresh outcomes: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("devstack: refresh outcomes: %w", err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

// RefreshPeriod is how long a token of the given lifetime is used before the
// token manager refreshes it (package tokens' policy, expiry.go): lifetime
// minus the safety margin (min(60 s, L/10)) minus the refresh-ahead window
// (min(ahead, L/5)). One expiry window = one refresh at most.
func RefreshPeriod(lifetime, ahead time.Duration) time.Duration {
	return lifetime - min(60*time.Second, lifetime/10) - min(ahead, lifetime/5)
}

// ExpiryWindows is how many refresh periods have passed between from and
// to: the most refreshes one company's token can need in that time. The
// token manager dates a token by Gusto's Date header, which is truncated to
// the second, so a refresh may come up to a second early: a window here is
// period minus one second.
func ExpiryWindows(from, to time.Time, period time.Duration) int64 {
	w := period - time.Second
	if w <= 0 || !to.After(from) {
		return 0
	}
	return int64(to.Sub(from) / w)
}

// RefreshCommit is a committed refresh (token_refresh_events, outcome
// refreshed).
type RefreshCommit struct {
	Company, Worker string
	NewVersion      int64
	FinishedAt      time.Time
}

// RefreshCommits returns every committed refresh, oldest first.
func (d *Database) RefreshCommits(ctx context.Context) ([]RefreshCommit, error) {
	rows, err := d.SQL.QueryContext(ctx, `
SELECT company_uuid::text, worker, coalesce(new_version, 0), finished_at
FROM token_refresh_events WHERE outcome = 'refreshed' ORDER BY finished_at`)
	if err != nil {
		return nil, fmt.Errorf("devstack: refresh commits: %w", err)
	}
	defer rows.Close()
	var out []RefreshCommit
	for rows.Next() {
		var c RefreshCommit
		if err := rows.Scan(&c.Company, &c.Worker, &c.NewVersion, &c.FinishedAt); err != nil {
			return nil, fmt.Errorf("devstack: refresh commits: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CommitLatencies pairs each committed refresh with the last pair the
// simulator issued to the same company and client before the commit
// finished, and returns the time from the simulator's answer to the commit,
// sorted: the window in which a kill -9 costs a grant under the strict and
// family rules. Commits without a matching pair are left out.
func CommitLatencies(issued []IssuedPair, commits []RefreshCommit) []time.Duration {
	byKey := map[[2]string][]IssuedPair{}
	for _, p := range issued {
		k := [2]string{p.Company, p.Client}
		byKey[k] = append(byKey[k], p)
	}
	for _, pairs := range byKey {
		sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].At.Before(pairs[j].At) })
	}
	var out []time.Duration
	for _, c := range commits {
		pairs := byKey[[2]string{c.Company, c.Worker}]
		i := sort.Search(len(pairs), func(i int) bool { return pairs[i].At.After(c.FinishedAt) })
		if i == 0 {
			continue
		}
		out = append(out, c.FinishedAt.Sub(pairs[i-1].At))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Quantile returns the q-quantile (0..1) of sorted durations, 0 when empty.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}
