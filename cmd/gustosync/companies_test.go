package main_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
)

// seedCompanies stores token rows (placeholder ciphertexts: these commands
// never decrypt) with the given statuses and returns their uuids.
func seedCompanies(t *testing.T, db *pgtest.DB, statuses ...string) []string {
	t.Helper()
	var out []string
	for _, st := range statuses {
		var id string
		reason := map[string]string{"needs_reauth": "refresh token refused (invalid_grant)", "paused": "churned"}[st]
		err := db.Gorm.Raw(`INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, scopes, status, status_reason)
			VALUES (gen_random_uuid(), '\x00', '\x00', 'k1', '2031-01-02T03:04:05Z', 'companies:read', ?, ?) RETURNING company_uuid::text`, st, reason).Scan(&id).Error
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func TestCompaniesList(t *testing.T) {
	db := pgtest.New(t)
	dbVar := "DATABASE_URL=" + db.URL

	empty := gustosync(t, []string{"companies", "list"}, dbVar)
	if empty.code != 0 || !strings.Contains(empty.stdout, "COMPANY") || !strings.Contains(empty.stderr, "no companies") {
		t.Fatalf("empty list: %+v", empty)
	}
	if r := gustosync(t, []string{"companies", "list", "--json"}, dbVar); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("empty --json: %+v", r)
	}

	ids := seedCompanies(t, db, "active", "needs_reauth", "paused")
	for _, q := range []string{
		`INSERT INTO gusto_companies (uuid, name, payload) VALUES (?, 'Acme', '{}')`,
		`INSERT INTO sync_runs (id, company_uuid, status, records_synced, finished_at) VALUES (gen_random_uuid(), ?, 'succeeded', 321, '2030-05-06T07:08:09Z')`,
	} {
		if err := db.Gorm.Exec(q, ids[0]).Error; err != nil {
			t.Fatal(err)
		}
	}
	r := gustosync(t, []string{"companies", "list"}, dbVar)
	if r.code != 0 {
		t.Fatalf("list: %+v", r)
	}
	for _, want := range []string{ids[0], ids[1], ids[2], "Acme", "needs_reauth", "refresh token refused (invalid_grant)",
		"churned", "2031-01-02T03:04:05Z", "2030-05-06T07:08:09Z", "321", "succeeded", "TOKEN EXPIRES", "LAST SYNC", "ROWS"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Count(strings.TrimSpace(r.stdout), "\n") != 3 {
		t.Errorf("want a header and 3 rows:\n%s", r.stdout)
	}

	r = gustosync(t, []string{"companies", "list", "--json", "--status", "needs_reauth"}, dbVar)
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("--json: %v %+v", err, r)
	}
	if len(got) != 1 || got[0]["company_uuid"] != ids[1] || got[0]["status"] != "needs_reauth" ||
		got[0]["status_reason"] != "refresh token refused (invalid_grant)" || got[0]["token_expires_at"] == nil {
		t.Fatalf("--json --status needs_reauth: %v", got)
	}
	for _, k := range []string{"access_token", "refresh_token"} {
		if _, ok := got[0][k]; ok {
			t.Fatalf("--json shows %s", k)
		}
	}
	// Gusto refusing the fleet's API version is the first thing the list
	// says, on stderr (stdout stays the table or the JSON array).
	if err := apiversion.NewStore(db.Gorm, 0).Rejected(context.Background(), "2025-06-15", "version retired", "worker-1"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"companies", "list"}, {"companies", "list", "--json"}} {
		r := gustosync(t, args, dbVar)
		if r.code != 0 || !strings.Contains(r.stderr, "Gusto refuses API version 2025-06-15") || !strings.Contains(r.stderr, "set GUSTO_API_VERSION") ||
			strings.Contains(r.stdout, "GUSTO_API_VERSION") {
			t.Fatalf("%v with a refused API version: %+v", args, r)
		}
	}
	if r := gustosync(t, []string{"companies", "list", "--status", "bogus"}, dbVar); r.code != 2 || !strings.Contains(r.stderr, "--status") {
		t.Fatalf("bad --status: %+v", r)
	}
	if r := gustosync(t, []string{"companies", "list", "--help"}); r.code != 0 || !strings.Contains(r.stdout, "-json") {
		t.Fatalf("--help: %+v", r)
	}
}

func TestCompaniesPauseResume(t *testing.T) {
	db := pgtest.New(t)
	dbVar := "DATABASE_URL=" + db.URL
	ids := seedCompanies(t, db, "active", "needs_reauth")
	status := func(id string) (st, reason string) {
		t.Helper()
		if err := db.Gorm.Raw(`SELECT status, status_reason FROM gusto_auth_tokens WHERE company_uuid = ?`, id).Row().Scan(&st, &reason); err != nil {
			t.Fatal(err)
		}
		return
	}
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
		after  string // ids[0]'s status afterwards
	}{
		{[]string{"companies", "pause"}, 2, "", "missing the company uuid", "active"},
		{[]string{"companies", "pause", "nope"}, 2, "", "is not a company uuid", "active"},
		{[]string{"companies", "pause", ids[0], "extra"}, 2, "", "unexpected argument", "active"},
		{[]string{"companies", "pause", "6b1f8a52-7d0e-4c37-9a4b-1f2e3d4c5b6a"}, 2, "", "no company", "active"},
		{[]string{"companies", "pause", ids[0], "--reason", "customer asked"}, 0, "paused " + ids[0], "", "paused"},
		{[]string{"companies", "pause", ids[0]}, 0, "already paused", "", "paused"},
		{[]string{"companies", "resume", ids[0]}, 0, "resumed " + ids[0], "", "active"},
		{[]string{"companies", "resume", ids[0]}, 0, "already active", "", "active"},
		{[]string{"companies", "pause", ids[1]}, 1, "", "must be reconnected", "active"},
		{[]string{"companies", "resume", ids[1]}, 1, "", "must be reconnected", "active"},
	}
	for _, c := range cases {
		r := gustosync(t, c.args, dbVar)
		if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
			t.Errorf("%v: %+v; want exit %d, stdout ~ %q, stderr ~ %q", c.args, r, c.code, c.stdout, c.stderr)
		}
		if c.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: error is not one line: %q", c.args, r.stderr)
		}
		if st, _ := status(ids[0]); st != c.after {
			t.Errorf("%v: company is %s, want %s", c.args, st, c.after)
		}
	}
	if st, _ := status(ids[1]); st != "needs_reauth" {
		t.Fatalf("needs_reauth company became %s", st)
	}
	var events int
	if err := db.Gorm.Raw(`SELECT count(*) FROM token_refresh_events WHERE company_uuid = ? AND outcome = 'status_change'`, ids[0]).Row().Scan(&events); err != nil || events != 2 {
		t.Fatalf("%d audit events for one pause and one resume (%v), want 2", events, err)
	}
	// Flags before the positional argument work as well as after it.
	if r := gustosync(t, []string{"companies", "pause", "--reason", "flag first", ids[0]}, dbVar); r.code != 0 {
		t.Fatalf("flag before the uuid: %+v", r)
	}
	if st, reason := status(ids[0]); st != "paused" || reason != "flag first" {
		t.Fatalf("after pause --reason before the uuid: %s %q", st, reason)
	}
	if r := gustosync(t, []string{"companies", "resume", ids[0]}, dbVar); r.code != 0 {
		t.Fatal(r)
	}
	if r := gustosync(t, []string{"companies", "pause", ids[0], "--reason=after, with equals"}, dbVar); r.code != 0 {
		t.Fatalf("--reason=… after the uuid: %+v", r)
	}
	if _, reason := status(ids[0]); reason != "after, with equals" {
		t.Fatalf("reason %q", reason)
	}
}

func TestSyncNow(t *testing.T) {
	db := pgtest.New(t)
	rs := redistest.Start(t)
	vars := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + rs.URL}
	ids := seedCompanies(t, db, "active", "paused")

	if r := gustosync(t, []string{"sync", "now", ids[0]}, vars...); r.code != 0 || !strings.Contains(r.stdout, "enqueued a sync of "+ids[0]) {
		t.Fatalf("sync now: %+v", r)
	}
	if r := gustosync(t, []string{"sync", "now", ids[1]}, vars...); r.code != 1 || !strings.Contains(r.stderr, "is paused") {
		t.Fatalf("sync now of a paused company: %+v", r)
	}
	if r := gustosync(t, []string{"sync", "now", "6b1f8a52-7d0e-4c37-9a4b-1f2e3d4c5b6a"}, vars...); r.code != 2 || !strings.Contains(r.stderr, "no company") {
		t.Fatalf("sync now of an unknown company: %+v", r)
	}
	if r := gustosync(t, []string{"sync", "now", ids[0]}, "DATABASE_URL="+db.URL, "REDIS_URL=http://nope"); r.code != 2 || !strings.Contains(r.stderr, "REDIS_URL") {
		t.Fatalf("sync now with a bad REDIS_URL: %+v", r)
	}
	if r := gustosync(t, []string{"sync", "now", "--help"}); r.code != 0 || !strings.Contains(r.stdout, "UUID") {
		t.Fatalf("--help: %+v", r)
	}

	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: rs.Addr})
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(jobs.QueueCritical)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 || !strings.HasPrefix(tasks[0].ID, "sync:"+ids[0]+":manual-") || tasks[0].Type != jobs.TypeSyncCompany {
		t.Fatalf("critical queue: %+v", tasks)
	}
	p, err := jobs.ParsePayload(tasks[0].Payload)
	if err != nil || p.CompanyUUID != ids[0] {
		t.Fatalf("payload %+v %v", p, err)
	}
	if tasks[0].Retention < time.Hour {
		t.Fatalf("retention %s, want SYNC_INTERVAL (1h)", tasks[0].Retention)
	}
}

// TestSyncNowFull: `sync now` enqueues the kind the company's cadence says
// (incremental right after a full walk), `sync now --full` a full
// reconciliation whatever the cadence; the kind is on the task's payload.
func TestSyncNowFull(t *testing.T) {
	db := pgtest.New(t)
	rs := redistest.Start(t)
	vars := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + rs.URL}
	ids := seedCompanies(t, db, "active", "active", "active")
	if err := db.Gorm.Exec(`INSERT INTO company_full_syncs (company_uuid, run_id, completed_at)
		SELECT u, gen_random_uuid(), now() FROM unnest(?::uuid[]) AS u`, "{"+ids[0]+","+ids[1]+"}").Error; err != nil {
		t.Fatal(err)
	}
	if r := gustosync(t, []string{"sync", "now", ids[0]}, vars...); r.code != 0 || !strings.Contains(r.stdout, "enqueued a sync of "+ids[0]) {
		t.Fatalf("sync now: %+v", r)
	}
	if r := gustosync(t, []string{"sync", "now", ids[1], "--full"}, vars...); r.code != 0 || !strings.Contains(r.stdout, "enqueued a full sync of "+ids[1]) {
		t.Fatalf("sync now --full: %+v", r)
	}
	if r := gustosync(t, []string{"sync", "now", ids[2]}, vars...); r.code != 0 {
		t.Fatalf("sync now: %+v", r)
	}
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: rs.Addr})
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(jobs.QueueCritical)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, ti := range tasks {
		p, err := jobs.ParsePayload(ti.Payload)
		if err != nil {
			t.Fatal(err)
		}
		kinds[p.CompanyUUID] = string(p.Kind)
	}
	want := map[string]string{ids[0]: "incremental", ids[1]: "full", ids[2]: "full"}
	for id, k := range want {
		if kinds[id] != k {
			t.Errorf("company %s: kind %q, want %q (fully synced: %v)", id, kinds[id], k, id != ids[2])
		}
	}
}
