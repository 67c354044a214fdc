package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// A scheduler started on a database an older release left is not ready,
// says why (both versions) and ticks not once; after the migrations it is
// ready and ticks, without a restart.
func TestSchedulerWaitsForTheSchema(t *testing.T) {
	db := pgtest.NewEmpty(t)
	rs := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	older := migrate.Latest() - 1
	if _, err := migrate.UpTo(ctx, db.Gorm, older); err != nil {
		t.Fatal(err)
	}
	p := start(t, nil, "DATABASE_URL="+db.URL, "REDIS_URL="+rs.URL, "HTTP_ADDR=127.0.0.1:0", "SCHEDULER_TICK=100ms",
		"GUSTO_EVENTS_FEED=false", "LOG_LEVEL=info")
	p.waitStarted(t)
	m := regexp.MustCompile(`"msg":"scheduler started".*"http":"([^"]+)"`).FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no address in the start line:\n%s", p.log())
	}
	base := "http://" + m[1]
	waitfor.Condition(t, 10*time.Second, "the scheduler to see the older schema", func() bool {
		return strings.Contains(p.log(), "waiting for the database schema")
	})
	code, body := httpGet(t, base+"/readyz")
	for _, want := range []string{fmt.Sprint(older), fmt.Sprint(migrate.Latest()), "gustosync migrate"} {
		if code != 503 || !strings.Contains(body, want) {
			t.Fatalf("/readyz on schema %d: %d %q; want 503 naming %q", older, code, body, want)
		}
	}
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz on an older schema: %d; want alive", code)
	}
	lastTick := regexp.MustCompile(`(?m)^gustosync_scheduler_last_success_timestamp_seconds ([0-9.e+]+)$`)
	if _, metrics := httpGet(t, base+"/metrics"); lastTick.FindStringSubmatch(metrics) != nil && lastTick.FindStringSubmatch(metrics)[1] != "0" {
		t.Fatalf("the scheduler ticked on an older schema:\n%s", metrics)
	}

	if _, err := migrate.Up(ctx, db.Gorm); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 30*time.Second, "/readyz 200 and a tick after migrating", func() bool {
		code, body := httpGet(t, base+"/readyz")
		_, metrics := httpGet(t, base+"/metrics")
		tick := lastTick.FindStringSubmatch(metrics)
		return code == 200 && strings.Contains(body, "ready") && tick != nil && tick[1] != "0"
	})
	p.stop(t)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
