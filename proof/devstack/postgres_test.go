package devstack

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
)

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func dropAfter(t *testing.T, name string) {
	t.Cleanup(func() {
		admin, err := openPool(context.Background(), pgtest.DefaultAdminURL, 1)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
			t.Error(err)
		}
	})
}

// TestRecreateDatabaseAndTerminateBackends: the database comes back empty
// even with sessions on it (pgtest.Create, tested there, does the work),
// and TerminateBackends ends every session but the stack's own.
func TestRecreateDatabaseAndTerminateBackends(t *testing.T) {
	ctx := context.Background()
	name := randomName("devstack_test_")
	dropAfter(t, name)
	d, err := RecreateDatabase(ctx, pgtest.DefaultAdminURL, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SQL.Exec(`CREATE TABLE leftover (x int)`); err != nil {
		t.Fatal(err)
	}
	// Someone else's session on the database (a worker's pool).
	other, err := sql.Open("pgx", d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n, err := d.TerminateBackends(ctx)
	if err != nil || n != 1 {
		t.Fatalf("TerminateBackends = %d, %v; want the other session only", n, err)
	}
	if err := conn.PingContext(ctx); err == nil {
		t.Fatal("terminated session still answers")
	}
	if err := d.SQL.PingContext(ctx); err != nil {
		t.Fatalf("the stack's own pool was hit: %v", err)
	}

	// Again, with the stack's pool still open on the old database.
	old := d
	d, err = RecreateDatabase(ctx, pgtest.DefaultAdminURL, name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	old.Close()
	var exists bool
	if err := d.SQL.QueryRow(`SELECT to_regclass('leftover') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("table survived the re-creation: %v %v", exists, err)
	}
	if _, err := RecreateDatabase(ctx, pgtest.DefaultAdminURL, "x; DROP"); err == nil {
		t.Fatal(`name "x; DROP" accepted`)
	}
}

// wrap gives a test database the stack's Database over pgtest's pool.
func wrap(t *testing.T, db *pgtest.DB) *Database {
	pool, err := db.Gorm.DB()
	if err != nil {
		t.Fatal(err)
	}
	return &Database{Name: db.Name, URL: db.URL, SQL: pool}
}

// TestGuardsRecordBackwardsMoves: each kind of backwards write is recorded
// once, forward writes not at all, and the writes themselves succeed.
func TestGuardsRecordBackwardsMoves(t *testing.T) {
	ctx := context.Background()
	d := wrap(t, pgtest.New(t))
	if err := d.InstallGuards(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.InstallGuards(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	co, run, run2 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := d.SQL.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	upsert := `INSERT INTO sync_checkpoints (company_uuid, resource, run_id, epoch, cursor, records, done) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (company_uuid, resource) DO UPDATE SET run_id = excluded.run_id, epoch = excluded.epoch, cursor = excluded.cursor, records = excluded.records, done = excluded.done`
	exec(`INSERT INTO sync_fences (company_uuid, epoch, run_id) VALUES ($1, 1, $2)`, co, run)
	// Forward moves: nothing recorded.
	exec(upsert, co, "employees", run, 1, "2", 100, false)
	exec(upsert, co, "employees", run, 1, "3", 200, false)
	exec(upsert, co, "payrolls", run, 1, "2025-01-01/3", 100, false)
	exec(upsert, co, "payrolls", run, 1, "2026-01-01/1", 150, false)
	exec(upsert, co, "payrolls", run, 1, "", 160, true)
	exec(`UPDATE sync_fences SET epoch = 2, run_id = $2 WHERE company_uuid = $1`, co, run2)
	exec(upsert, co, "employees", run2, 2, "", 0, false) // a new run starts over: not a regression
	if regs, err := d.Regressions(ctx); err != nil || len(regs) != 0 {
		t.Fatalf("forward writes recorded %+v (%v)", regs, err)
	}

	// Backwards moves, one of each.
	exec(upsert, co, "employees", run2, 2, "5", 500, false)
	exec(upsert, co, "employees", run2, 2, "6", 400, false)              // records backwards
	exec(upsert, co, "employees", run2, 2, "4", 600, false)              // cursor backwards
	exec(upsert, co, "payrolls", run2, 2, "2026-01-01/2", 10, false)     // (new run) forward
	exec(upsert, co, "payrolls", run2, 2, "2025-06-01/9", 20, false)     // cursor backwards (date)
	exec(upsert, co, "company", run, 1, "", 1, true)                     // stale epoch write
	exec(`UPDATE sync_fences SET epoch = 1 WHERE company_uuid = $1`, co) // fence backwards
	exec(upsert, co, "company", run, 0, "", 1, true)                     // epoch backwards (and stale)
	regs, err := d.Regressions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range regs {
		if r.Company != co {
			t.Fatalf("regression of another company: %+v", r)
		}
		got = append(got, r.Kind+" "+r.Detail)
	}
	want := []string{
		"checkpoint_backwards employees: records 500 -> 400",
		"checkpoint_backwards employees: cursor 6 -> 4",
		"checkpoint_backwards payrolls: cursor 2026-01-01/2 -> 2025-06-01/9",
		"stale_epoch_write company: write under epoch 1 while the fence is at 2",
		"fence_backwards epoch 2 -> 1",
		"stale_epoch_write company: write under epoch 0 while the fence is at 1",
		"checkpoint_backwards company: epoch 1 -> 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("recorded:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestArchivedTasks(t *testing.T) {
	rs := redistest.Start(t)
	cli := asynq.NewClient(asynq.RedisClientOpt{Addr: rs.Addr})
	defer cli.Close()
	co := uuid.NewString()
	info, err := cli.Enqueue(asynq.NewTask("sync:company", []byte(`{"company_uuid":"`+strings.ToUpper(co)+`","run_id":"x"}`)), asynq.Queue("critical"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Enqueue(asynq.NewTask("sync:company", []byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: rs.Addr})
	defer in.Close()
	if err := in.ArchiveTask("critical", info.ID); err != nil {
		t.Fatal(err)
	}
	got, err := ArchivedTasks(rs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Company != co || got[0].Queue != "critical" || got[0].ID != info.ID {
		t.Fatalf("archived %+v", got)
	}
	q, err := Queues(rs.Addr)
	if err != nil || q.Archived != 1 || q.Pending != 1 {
		t.Fatalf("queues %+v %v", q, err)
	}
}
