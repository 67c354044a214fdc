package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/membudget"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/tokens"
)

// scrape GETs /metrics from h and returns the status and body.
func scrape(t *testing.T, h http.Handler) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Code, rec.Body.String()
}

// TestMetricsWhilePostgreSQLIsDown: the worker's and the scheduler's
// /metrics, built as their mains build them on a pool that goes through a
// proxy, answer 200 with every metric while PostgreSQL is reachable, and
// still answer 200 once it is not: the collectors that read it say
// gustosync_collector_up 0 and the process's metrics are all there.
func TestMetricsWhilePostgreSQLIsDown(t *testing.T) {
	outage := pgtest.NewOutage(t, pgtest.New(t))
	ctx := context.Background()
	pool, err := postgres.Open(ctx, outage.URL, 4, postgres.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = postgres.Close(pool) })
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rdb.Close() })
	budget, err := membudget.New(64 << 20)
	if err != nil {
		t.Fatal(err)
	}

	worker := NewRegistry()
	if _, err := RegisterWorker(worker, WorkerSources{DB: pool, Tokens: tokens.NewStore(pool, nil),
		Queues: asynq.NewInspectorFromRedisClient(rdb), PageBudget: budget, Heap: &membudget.HeapPeak{}}); err != nil {
		t.Fatal(err)
	}
	scheduler := NewRegistry()
	if _, err := RegisterScheduler(scheduler, SchedulerSources{DB: pool, Interval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	handlers := map[string]http.Handler{"worker": Handler(worker, nil), "scheduler": Handler(scheduler, nil)}
	collectors := map[string]string{"worker": "token_companies", "scheduler": "freshness"}
	read := map[string]string{"worker": "gustosync_token_companies", "scheduler": "gustosync_companies_overdue 0"}

	for name, h := range handlers {
		code, body := scrape(t, h)
		up := `gustosync_collector_up{collector="` + collectors[name] + `"} 1`
		if code != http.StatusOK || !strings.Contains(body, up) || !strings.Contains(body, "go_sql_open_connections") {
			t.Fatalf("%s with PostgreSQL up: %d, want 200 with %s and the pool's stats:\n%s", name, code, up, body)
		}
		if name == "scheduler" && !strings.Contains(body, read[name]) {
			t.Fatalf("scheduler with PostgreSQL up: no %q:\n%s", read[name], body)
		}
	}

	outage.Cut() // PostgreSQL is gone: connections cut, new ones refused.

	for name, h := range handlers {
		code, body := scrape(t, h)
		down := `gustosync_collector_up{collector="` + collectors[name] + `"} 0`
		errs := `gustosync_collector_errors_total{collector="` + collectors[name] + `"} 1`
		if code != http.StatusOK {
			t.Fatalf("%s with PostgreSQL down: status %d, want 200:\n%s", name, code, body)
		}
		for _, want := range []string{down, errs, "gustosync_build_info{", "go_goroutines", "process_resident_memory_bytes", "go_sql_open_connections"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s with PostgreSQL down: no %q in /metrics", name, want)
			}
		}
		if strings.Contains(body, read[name]) {
			t.Errorf("%s with PostgreSQL down still exports %q", name, read[name])
		}
	}
}
