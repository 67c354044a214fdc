package companies_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/tokens"
)

// addCompanies stores n token rows with the given status and returns their
// uuids. The ciphertexts are placeholders: the directory never reads them.
func addCompanies(t testing.TB, db *gorm.DB, n int, status tokens.Status) []string {
	t.Helper()
	reason := "test"
	if status == tokens.StatusActive {
		reason = ""
	}
	var out []string
	if err := db.Raw(`
		INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, scopes, status, status_reason)
		SELECT gen_random_uuid(), '\x00', '\x00', 'k1', now() + interval '2 hours', 'companies:read', ?, ?
		FROM generate_series(1, ?)
		RETURNING company_uuid::text`, string(status), reason, n).Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

func exec(t *testing.T, db *gorm.DB, query string, args ...any) {
	t.Helper()
	if err := db.Exec(query, args...).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestList(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	d := companies.New(db.Gorm)
	if list, err := d.List(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("empty database: %v, %v", list, err)
	}
	cos := addCompanies(t, db.Gorm, 2, tokens.StatusActive)
	reauth := addCompanies(t, db.Gorm, 1, tokens.StatusNeedsReauth)
	exec(t, db.Gorm, `INSERT INTO gusto_companies (uuid, name, payload) VALUES (?, 'Acme', '{}')`, cos[0])
	exec(t, db.Gorm, `
		INSERT INTO sync_runs (id, company_uuid, status, records_synced, created_at, finished_at) VALUES
		(gen_random_uuid(), ?, 'succeeded', 40, now() - interval '2 hours', now() - interval '2 hours'),
		(gen_random_uuid(), ?, 'succeeded', 42, now() - interval '1 hour', now() - interval '1 hour'),
		(gen_random_uuid(), ?, 'failed', 3, now(), now())`, cos[0], cos[0], cos[0])
	exec(t, db.Gorm, `INSERT INTO company_schedules (company_uuid, interval_seconds, next_due_at) VALUES (?, 600, now() + interval '5 minutes')`, cos[0])
	exec(t, db.Gorm, `UPDATE gusto_auth_tokens SET last_refreshed_at = now(), consecutive_failures = 2 WHERE company_uuid = ?`, cos[0])
	exec(t, db.Gorm, `INSERT INTO company_full_syncs (company_uuid, run_id, completed_at) VALUES (?, gen_random_uuid(), now() - interval '1 day')`, cos[0])

	all, err := d.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d companies, want 3", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].UUID >= all[i].UUID {
			t.Fatalf("not in uuid order: %s before %s", all[i-1].UUID, all[i].UUID)
		}
	}
	var acme *companies.Company
	for i := range all {
		if all[i].UUID == cos[0] {
			acme = &all[i]
		}
	}
	if acme == nil || acme.Name != "Acme" || acme.Status != tokens.StatusActive || acme.LastSyncRows != 42 ||
		acme.LastSyncAt == nil || acme.LastRunStatus != "failed" || acme.NextDueAt == nil ||
		acme.Interval != 10*time.Minute || acme.LastRefreshedAt == nil || acme.ConsecutiveFailures != 2 ||
		acme.TokenExpiresAt.IsZero() || acme.StatusChangedAt.IsZero() || acme.LastFullSyncAt == nil {
		t.Fatalf("acme: %+v", acme)
	}
	only, err := d.List(ctx, tokens.StatusNeedsReauth)
	if err != nil || len(only) != 1 || only[0].UUID != reauth[0] || only[0].StatusReason != "test" ||
		only[0].LastSyncAt != nil || only[0].NextDueAt != nil || only[0].Interval != 0 || only[0].LastFullSyncAt != nil {
		t.Fatalf("needs_reauth filter: %+v %v", only, err)
	}
	if none, err := d.List(ctx, tokens.StatusPaused); err != nil || len(none) != 0 {
		t.Fatalf("paused filter: %+v %v", none, err)
	}

	// The JSON form (gustosync companies list --json) is the operators'
	// interface: its keys stay, the interval stays out, no token is there.
	b, err := json.Marshal(acme)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	_ = json.Unmarshal(b, &keys)
	for _, k := range []string{"company_uuid", "name", "status", "status_reason", "status_changed_at", "token_expires_at",
		"last_refreshed_at", "consecutive_failures", "last_sync_at", "last_sync_rows", "last_run_status", "next_due_at", "last_full_sync_at"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if len(keys) != 13 || strings.Contains(string(b), "token\":") {
		t.Errorf("JSON has other keys: %s", b)
	}
}

func TestGet(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	d := companies.New(db.Gorm)
	paused := addCompanies(t, db.Gorm, 1, tokens.StatusPaused)[0]
	c, err := d.Get(ctx, strings.ToUpper(paused))
	if err != nil || c.UUID != paused || c.Status != tokens.StatusPaused || c.StatusReason != "test" {
		t.Fatalf("Get: %+v %v", c, err)
	}
	var nf *companies.NotFoundError
	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		if _, err := d.Get(ctx, id); !errors.As(err, &nf) {
			t.Errorf("Get(%q) = %v, want a *NotFoundError", id, err)
		}
	}
}

func TestActiveAndDue(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	d := companies.New(db.Gorm)
	active := addCompanies(t, db.Gorm, 4, tokens.StatusActive)
	slices.Sort(active)
	addCompanies(t, db.Gorm, 2, tokens.StatusPaused)
	addCompanies(t, db.Gorm, 2, tokens.StatusNeedsReauth)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// active[0]: its own interval, due now; active[1]: due later;
	// active[2]: due earlier; active[3]: no schedule row (due at once).
	exec(t, db.Gorm, `INSERT INTO company_schedules (company_uuid, interval_seconds, next_due_at) VALUES (?, 600, ?), (?, NULL, ?), (?, NULL, ?)`,
		active[0], now, active[1], now.Add(time.Minute), active[2], now.Add(-time.Hour))

	all, err := d.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("Active: %+v, want the 4 active companies", all)
	}
	for i, s := range all {
		if s.UUID != active[i] {
			t.Fatalf("Active[%d] = %s, want %s (uuid order)", i, s.UUID, active[i])
		}
		want := time.Duration(0)
		if i == 0 {
			want = 10 * time.Minute
		}
		if s.Interval != want {
			t.Errorf("Active[%d].Interval = %s, want %s", i, s.Interval, want)
		}
	}
	due, err := d.Due(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range due {
		got[s.UUID] = true
	}
	if len(due) != 3 || !got[active[0]] || !got[active[2]] || !got[active[3]] {
		t.Fatalf("Due(now) = %+v, want active 0, 2 and 3", due)
	}
	if later, err := d.Due(ctx, now.Add(time.Minute)); err != nil || len(later) != 4 {
		t.Fatalf("Due(now+1m) = %+v, %v; want all 4", later, err)
	}
}
