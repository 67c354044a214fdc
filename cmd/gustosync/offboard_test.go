package main_test

import (
	"strings"
	"testing"

	"github.com/gustosync/gustosync/internal/pgtest"
)

// TestCompaniesRemove: `companies remove` leaves no token row, no schedule,
// a fenced tombstone, and one audit row that names the company and its
// status but holds no token; --purge-data deletes the synced rows and
// checkpoints; nothing happens without confirmation; flags may follow the
// uuid.
func TestCompaniesRemove(t *testing.T) {
	db := pgtest.New(t)
	dbVar := "DATABASE_URL=" + db.URL
	ids := seedCompanies(t, db, "active", "paused", "active")
	const secretMarker = "SECRET-TOKEN-MARKER"
	for _, id := range ids {
		for _, q := range []string{
			`UPDATE gusto_auth_tokens SET access_token = convert_to('` + secretMarker + `', 'UTF8') WHERE company_uuid = ?`,
			`INSERT INTO company_schedules (company_uuid, interval_seconds) VALUES (?, 600)`,
			`INSERT INTO gusto_companies (uuid, name, payload) VALUES (?, 'Acme', '{}')`,
			`INSERT INTO gusto_employees (uuid, company_uuid, payload) SELECT gen_random_uuid(), ?, '{}' FROM generate_series(1, 25)`,
			`INSERT INTO gusto_payrolls (uuid, company_uuid, payload) SELECT gen_random_uuid(), ?, '{}' FROM generate_series(1, 7)`,
			`INSERT INTO sync_checkpoints (company_uuid, resource, run_id, epoch) VALUES (?, 'employees', gen_random_uuid(), 1)`,
			`INSERT INTO sync_fences (company_uuid, epoch, run_id) VALUES (?, 3, gen_random_uuid())`,
		} {
			if err := db.Gorm.Exec(q, id).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.Gorm.Raw(q, args...).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Not confirmed: nothing changes.
	r := gustosyncStdin(t, "nope\n", []string{"companies", "remove", ids[0]}, dbVar)
	if r.code != 2 || !strings.Contains(r.stderr, "not confirmed") {
		t.Fatalf("unconfirmed remove: %+v", r)
	}
	if n := count(`SELECT count(*) FROM gusto_auth_tokens WHERE company_uuid = ?`, ids[0]); n != 1 {
		t.Fatalf("unconfirmed remove deleted the token row")
	}
	if r := gustosync(t, []string{"companies", "remove", "6b1f8a52-7d0e-4c37-9a4b-1f2e3d4c5b6a", "--yes"}, dbVar); r.code != 2 || !strings.Contains(r.stderr, "no company") {
		t.Fatalf("remove of an unknown company: %+v", r)
	}
	if n := count(`SELECT count(*) FROM company_removals`); n != 0 {
		t.Fatalf("a refused remove wrote %d audit rows", n)
	}

	// Confirmed by typing the uuid; the data stays without --purge-data.
	r = gustosyncStdin(t, ids[0]+"\n", []string{"companies", "remove", ids[0]}, dbVar)
	if r.code != 0 || !strings.Contains(r.stdout, "removed "+ids[0]) || !strings.Contains(r.stdout, "disconnect the app in Gusto") {
		t.Fatalf("remove: %+v", r)
	}
	// Flags after the uuid, purge in batches of 10.
	r = gustosync(t, []string{"companies", "remove", ids[1], "--purge-data", "--yes", "--batch", "10"}, dbVar)
	if r.code != 0 || !strings.Contains(r.stdout, "purged 34 rows") {
		t.Fatalf("remove --purge-data: %+v", r)
	}

	for _, id := range ids[:2] {
		if n := count(`SELECT count(*) FROM gusto_auth_tokens WHERE company_uuid = ?`, id); n != 0 {
			t.Errorf("company %s: token row left", id)
		}
		if n := count(`SELECT count(*) FROM company_schedules WHERE company_uuid = ?`, id); n != 0 {
			t.Errorf("company %s: schedule left", id)
		}
		if n := count(`SELECT count(*) FROM sync_fences WHERE company_uuid = ? AND removed_at IS NOT NULL AND epoch = 4`, id); n != 1 {
			t.Errorf("company %s: fence not tombstoned and moved", id)
		}
		if n := count(`SELECT count(*) FROM company_removals WHERE company_uuid = ? AND tokens_deleted AND removed_by LIKE 'cli:companies-remove %' AND revocation = 'unavailable'`, id); n != 1 {
			t.Errorf("company %s: %d audit rows, want 1", id, n)
		}
	}
	if n := count(`SELECT count(*) FROM company_removals WHERE company_uuid = ? AND prior_status = 'paused' AND prior_reason = 'churned' AND purge_data AND rows_purged = 34 AND purged_at IS NOT NULL`, ids[1]); n != 1 {
		t.Errorf("purged company's audit row does not record its status and the purge")
	}
	if n := count(`SELECT count(*) FROM company_removals WHERE position(? in row(company_removals.*)::text) > 0`, secretMarker); n != 0 {
		t.Errorf("an audit row holds the token")
	}
	// Data: kept for ids[0], gone for ids[1], untouched for ids[2].
	for id, want := range map[string]int{ids[0]: 34, ids[1]: 0, ids[2]: 34} {
		got := count(`SELECT (SELECT count(*) FROM gusto_companies WHERE uuid = ?) + (SELECT count(*) FROM gusto_employees WHERE company_uuid = ?)
			+ (SELECT count(*) FROM gusto_payrolls WHERE company_uuid = ?) + (SELECT count(*) FROM sync_checkpoints WHERE company_uuid = ?)`, id, id, id, id)
		if got != want {
			t.Errorf("company %s: %d rows, want %d", id, got, want)
		}
	}
	if n := count(`SELECT count(*) FROM gusto_auth_tokens WHERE company_uuid = ?`, ids[2]); n != 1 {
		t.Errorf("the other company's token row is gone")
	}

	// Removing again only purges (an interrupted purge is finished so).
	r = gustosync(t, []string{"companies", "remove", "--yes", "--purge-data", ids[0]}, dbVar)
	if r.code != 0 || !strings.Contains(r.stdout, "already removed") || !strings.Contains(r.stdout, "purged 34 rows") {
		t.Fatalf("second remove --purge-data: %+v", r)
	}
	if n := count(`SELECT count(*) FROM company_removals WHERE company_uuid = ?`, ids[0]); n != 2 {
		t.Errorf("%d audit rows after two removals, want 2", n)
	}
}

// TestCompaniesSetInterval: a valid interval is stored in seconds, default
// clears it, and bad input is refused with a clear reason.
func TestCompaniesSetInterval(t *testing.T) {
	db := pgtest.New(t)
	dbVar := "DATABASE_URL=" + db.URL
	ids := seedCompanies(t, db, "active")
	interval := func() *int64 {
		t.Helper()
		var v []struct{ IntervalSeconds *int64 }
		if err := db.Gorm.Raw(`SELECT interval_seconds FROM company_schedules WHERE company_uuid = ?`, ids[0]).Scan(&v).Error; err != nil {
			t.Fatal(err)
		}
		if len(v) == 0 {
			return nil
		}
		return v[0].IntervalSeconds
	}
	for _, c := range []struct {
		args   []string
		code   int
		out    string
		stored int64 // -1: NULL
	}{
		{[]string{ids[0], "30m"}, 0, "synced every 30m0s", 1800},
		{[]string{ids[0], "90s"}, 0, "synced every 1m30s", 90},
		{[]string{ids[0], "default"}, 0, "SYNC_INTERVAL again", -1},
		{[]string{ids[0], "2h"}, 0, "every 2h0m0s", 7200},
		{[]string{ids[0], "30s"}, 2, "shorter than the minimum 1m0s", 7200},
		{[]string{ids[0], "200h"}, 2, "longer than the maximum 168h0m0s", 7200},
		{[]string{ids[0], "90.5s"}, 2, "whole number of seconds", 7200},
		{[]string{ids[0], "soon"}, 2, "want a duration such as 30m", 7200},
		{[]string{ids[0]}, 2, "want a company uuid and an interval", 7200},
		{[]string{"nope", "30m"}, 2, "is not a company uuid", 7200},
		{[]string{"6b1f8a52-7d0e-4c37-9a4b-1f2e3d4c5b6a", "30m"}, 2, "no company", 7200},
	} {
		r := gustosync(t, append([]string{"companies", "set-interval"}, c.args...), dbVar)
		if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.out) {
			t.Errorf("%v: %+v; want exit %d and %q", c.args, r, c.code, c.out)
		}
		got := interval()
		switch {
		case c.stored == -1 && got != nil:
			t.Errorf("%v: interval %d, want NULL", c.args, *got)
		case c.stored >= 0 && (got == nil || *got != c.stored):
			t.Errorf("%v: interval %v, want %d", c.args, got, c.stored)
		}
	}
}
