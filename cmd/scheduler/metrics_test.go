package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// TestMetricsWithPostgreSQLDown: a running scheduler whose PostgreSQL
// becomes unreachable (the proxy in front of it is cut) keeps answering
// /metrics with 200: the freshness collector reports
// gustosync_collector_up{collector="freshness"} 0 and the rest is served.
func TestMetricsWithPostgreSQLDown(t *testing.T) {
	t.Parallel()
	outage := pgtest.NewOutage(t, pgtest.New(t))
	rs := redistest.Start(t)
	p := start(t, nil, "DATABASE_URL="+outage.URL, "REDIS_URL="+rs.URL, "HTTP_ADDR=127.0.0.1:0", "SCHEDULER_TICK=1h",
		"GUSTO_EVENTS_FEED=false", "LOG_LEVEL=info")
	p.waitStarted(t)
	var started struct {
		HTTP string `json:"http"`
	}
	for _, line := range strings.Split(p.log(), "\n") {
		if strings.Contains(line, `"msg":"scheduler started"`) {
			if err := json.Unmarshal([]byte(line), &started); err != nil {
				t.Fatal(err)
			}
		}
	}
	scrape := func() (int, string) {
		res, err := http.Get("http://" + started.HTTP + "/metrics")
		if err != nil {
			t.Fatalf("GET /metrics: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := scrape()
	for _, want := range []string{`gustosync_collector_up{collector="freshness"} 1`, "gustosync_companies_active 0", "gustosync_build_info{"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("PostgreSQL up: %d, no %q:\n%s", code, want, body)
		}
	}

	outage.Cut()
	waitfor.Condition(t, 20*time.Second, "/metrics reports the freshness collector down", func() bool {
		code, body = scrape()
		return code == http.StatusOK && strings.Contains(body, `gustosync_collector_up{collector="freshness"} 0`)
	})
	for _, want := range []string{"gustosync_build_info{", "gustosync_scheduler_enqueues_total", `go_sql_open_connections{db_name="gustosync"}`, "process_resident_memory_bytes"} {
		if !strings.Contains(body, want) {
			t.Errorf("PostgreSQL down: /metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "gustosync_companies_active") {
		t.Error("PostgreSQL down: /metrics still exports gustosync_companies_active")
	}
	select {
	case <-p.done:
		t.Fatalf("the scheduler exited; log:\n%s", p.log())
	default:
	}
}
