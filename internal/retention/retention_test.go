package retention

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/pgtest"
)

func exec(t *testing.T, db *gorm.DB, q string, args ...any) {
	t.Helper()
	if err := db.Exec(q, args...).Error; err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func ids(t *testing.T, db *gorm.DB, q string, args ...any) map[string]bool {
	t.Helper()
	var got []string
	if err := db.Raw(q, args...).Scan(&got).Error; err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	m := map[string]bool{}
	for _, id := range got {
		m[id] = true
	}
	return m
}

// TestPruneKeepsYoungAndLiveRows: with RETENTION_DAYS=10, old finished
// history is deleted and everything young, live or still needed is kept:
// runs holding checkpoints or fences, running runs, each company's latest
// and latest succeeded runs, pending alerts, events being acted on, and
// handled events younger than the dedup window (whatever the retention).
func TestPruneKeepsYoungAndLiveRows(t *testing.T) {
	db := pgtest.New(t)
	g := db.Gorm
	now := time.Now()
	ago := func(days float64) time.Time { return now.Add(-time.Duration(days * 24 * float64(time.Hour))) }
	company := uuid.NewString()
	run := func(status string, finishedDaysAgo float64) string {
		id := uuid.NewString()
		var fin any
		if finishedDaysAgo >= 0 {
			fin = ago(finishedDaysAgo)
		}
		created := ago(max(finishedDaysAgo, 0) + 0.01)
		exec(t, g, `INSERT INTO sync_runs (id, company_uuid, status, created_at, finished_at) VALUES (?, ?, ?, ?, ?)`, id, company, status, created, fin)
		return id
	}
	oldOK := run("succeeded", 50)
	oldFailed := run("failed", 40)
	oldStopped := run("stopped", 39)
	withCheckpoint := run("failed", 38)
	exec(t, g, `INSERT INTO sync_checkpoints (company_uuid, resource, run_id, epoch) VALUES (?, 'employees', ?, 1)`, company, withCheckpoint)
	fenced := run("failed", 37)
	exec(t, g, `INSERT INTO sync_fences (company_uuid, epoch, run_id) VALUES (?, 1, ?)`, company, fenced)
	lastFull := run("succeeded", 36)
	exec(t, g, `INSERT INTO company_full_syncs (company_uuid, run_id, completed_at) VALUES (?, ?, ?)`, company, lastFull, ago(36))
	latestOK := run("succeeded", 35) // the company's latest succeeded run: kept
	running := run("running", -1)
	exec(t, g, `UPDATE sync_runs SET created_at = ? WHERE id = ?`, ago(34), running)
	young := run("failed", 2)
	latest := run("failed", 1) // the latest run: kept (young anyway)
	_ = latest

	// Another company whose only run is old: its latest run is kept.
	lone := uuid.NewString()
	exec(t, g, `INSERT INTO sync_runs (id, company_uuid, status, created_at, finished_at) VALUES (?, ?, 'succeeded', ?, ?)`, lone, uuid.NewString(), ago(60), ago(60))

	exec(t, g, `INSERT INTO token_refresh_events (company_uuid, worker, trigger, outcome, started_at, finished_at) VALUES
		(?, 'w', 'expiry', 'refreshed', ?, ?), (?, 'w', 'expiry', 'refreshed', ?, ?)`, company, ago(20), ago(20), company, ago(5), ago(5))

	evOld, evDedup, evClaimed, evYoung := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	exec(t, g, `INSERT INTO gusto_events (uuid, event_type, source, claimed_at, handled_at, outcome) VALUES
		(?, 'employee.updated', 'feed', ?, ?, 'synced'),
		(?, 'employee.updated', 'feed', ?, ?, 'synced'),
		(?, 'company.deprovisioned', 'webhook', ?, NULL, NULL),
		(?, 'employee.updated', 'feed', ?, ?, 'synced')`,
		evOld, ago(40), ago(40), evDedup, ago(20), ago(20), evClaimed, ago(40), evYoung, ago(1), ago(1))

	exec(t, g, `INSERT INTO alert_outbox (kind, company_uuid, status, occurred_at) VALUES
		('company.needs_reauth', ?, 'delivered', ?), ('company.needs_reauth', ?, 'failed', ?), ('company.needs_reauth', ?, 'expired', ?),
		('company.needs_reauth', ?, 'pending', ?), ('company.needs_reauth', ?, 'delivered', ?)`,
		company, ago(20), company, ago(20), company, ago(20), company, ago(20), company, ago(3))

	p, err := New(Config{DB: g, Days: 10, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Prune(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Runs != 3 || res.RefreshEvents != 1 || res.GustoEvents != 1 || res.Alerts != 3 || res.Busy {
		t.Fatalf("pruned %+v; want 3 runs, 1 refresh event, 1 Gusto event, 3 alerts", res)
	}
	left := ids(t, g, `SELECT id::text FROM sync_runs`)
	for _, id := range []string{oldOK, oldFailed, oldStopped} {
		if left[id] {
			t.Errorf("old finished run %s kept", id)
		}
	}
	for name, id := range map[string]string{"holding a checkpoint": withCheckpoint, "named by the fence": fenced, "last full walk": lastFull,
		"latest succeeded": latestOK, "running": running, "young": young, "latest": latest, "a company's only run": lone} {
		if !left[id] {
			t.Errorf("run %s (%s) pruned", id, name)
		}
	}
	events := ids(t, g, `SELECT uuid::text FROM gusto_events`)
	if events[evOld] || !events[evDedup] || !events[evClaimed] || !events[evYoung] {
		t.Errorf("gusto_events left %v: want all but %s (the one older than the dedup window)", events, evOld)
	}
	var pending, young2 int
	if err := g.Raw(`SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'delivered') FROM alert_outbox`).Row().Scan(&pending, &young2); err != nil {
		t.Fatal(err)
	}
	if pending != 1 || young2 != 1 {
		t.Errorf("alert_outbox keeps %d pending and %d delivered, want 1 and 1", pending, young2)
	}

	// RETENTION_DAYS=0 deletes nothing, however old.
	off, err := New(Config{DB: g, Days: 0})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := off.Prune(context.Background()); err != nil || res.Total() != 0 {
		t.Fatalf("disabled pruner: %+v %v", res, err)
	}
}

// TestPruneBatchesAreBoundedAndExclusive: each delete statement removes at
// most Batch rows (a statement trigger records every statement's count),
// and a replica that finds the prune lock taken deletes nothing.
func TestPruneBatchesAreBoundedAndExclusive(t *testing.T) {
	db := pgtest.New(t)
	g := db.Gorm
	now := time.Now()
	exec(t, g, `INSERT INTO token_refresh_events (company_uuid, worker, trigger, outcome, started_at, finished_at)
		SELECT gen_random_uuid(), 'w', 'expiry', 'refreshed', ?, ? FROM generate_series(1, 2500)`, now.AddDate(0, 0, -40), now.AddDate(0, 0, -40))
	exec(t, g, `CREATE TABLE prune_log (n bigint)`)
	exec(t, g, `CREATE FUNCTION log_prune() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO prune_log SELECT count(*) FROM old_rows; RETURN NULL; END $$`)
	exec(t, g, `CREATE TRIGGER log_prune AFTER DELETE ON token_refresh_events REFERENCING OLD TABLE AS old_rows
		FOR EACH STATEMENT EXECUTE FUNCTION log_prune()`)

	p, err := New(Config{DB: g, Days: 30, Batch: 1000, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}

	// Another replica holds the lock: this pass stops and deletes nothing.
	pool, err := g.DB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	holder, err := pool.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(pruneLock)); err != nil {
		t.Fatal(err)
	}
	res, err := p.Prune(ctx)
	if err != nil || !res.Busy || res.Total() != 0 {
		t.Fatalf("pass while another replica prunes: %+v %v; want busy and nothing deleted", res, err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(pruneLock)); err != nil {
		t.Fatal(err)
	}
	_ = holder.Close()

	res, err = p.Prune(ctx)
	if err != nil || res.RefreshEvents != 2500 {
		t.Fatalf("pass: %+v %v; want 2500 refresh events", res, err)
	}
	var statements, biggest int64
	if err := g.Raw(`SELECT count(*), COALESCE(max(n), 0) FROM prune_log WHERE n > 0`).Row().Scan(&statements, &biggest); err != nil {
		t.Fatal(err)
	}
	if biggest > 1000 || statements < 3 {
		t.Fatalf("%d statements deleted rows, the largest %d rows; want at least 3, each at most 1000", statements, biggest)
	}
}
