package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// A worker started on a database an older release left (every migration
// but the newest) is alive but not ready, says why (both versions), and
// serves no queue; once the migrations run it becomes ready by itself and
// serves the queues.
func TestWorkerWaitsForTheSchema(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gustosim.Config{})

	old := pgtest.NewEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	older := migrate.Latest() - 1
	if _, err := migrate.UpTo(ctx, old.Gorm, older); err != nil {
		t.Fatal(err)
	}
	p := w.start("schema", "DATABASE_URL="+old.URL)
	base := "http://" + p.addr(t)
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz on an older schema: %d %q; want alive", code, body)
	}
	code, body := get(t, base+"/readyz")
	for _, want := range []string{fmt.Sprint(older), fmt.Sprint(migrate.Latest()), "gustosync migrate"} {
		if code != 503 || !strings.Contains(body, want) {
			t.Fatalf("/readyz on schema %d: %d %q; want 503 naming %q", older, code, body, want)
		}
	}
	// Not taking tasks: no asynq server of this worker is registered.
	insp := asynq.NewInspectorFromRedisClient(w.redis.Client())
	if servers, err := insp.Servers(); err != nil || len(servers) != 0 {
		t.Fatalf("asynq servers on an older schema: %v, %v; want none", servers, err)
	}

	// The release's migrations run (gustosync migrate, an init container).
	if _, err := migrate.Up(ctx, old.Gorm); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 30*time.Second, "/readyz 200 after migrating", func() bool {
		code, body = get(t, base+"/readyz")
		return code == 200 && strings.Contains(body, "ready")
	})
	waitfor.Condition(t, 30*time.Second, "the worker serving the queues", func() bool {
		servers, err := insp.Servers()
		return err == nil && len(servers) == 1
	})
	if !p.has("waiting for the database schema") || !p.has("database schema is current") {
		t.Fatalf("log does not say it waited and started:\n%s", p.log())
	}
}
