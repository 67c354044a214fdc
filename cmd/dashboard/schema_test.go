package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// The dashboard on a database an older release left answers /readyz 503
// (without authentication, naming both versions), and 200 once the
// migrations ran, without a restart.
func TestDashboardReadyOnlyOnACurrentSchema(t *testing.T) {
	db := pgtest.NewEmpty(t)
	rs := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	older := migrate.Latest() - 1
	if _, err := migrate.UpTo(ctx, db.Gorm, older); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	vars := map[string]string{
		"DATABASE_URL": db.URL, "REDIS_URL": rs.URL, "DASHBOARD_ADDR": "127.0.0.1:0",
		"DASHBOARD_USER": testUser, "DASHBOARD_PASSWORD": testPassword, "OAUTH_STATE_KEY": "state-key-0123456789abcdef",
		"TOKEN_ENCRYPTION_KEYS": "k1:" + base64.StdEncoding.EncodeToString(key),
		"GUSTO_API_URL":         "http://127.0.0.1:1", "GUSTO_CLIENT_ID": "cid", "GUSTO_CLIENT_SECRET": "csecret-0123456789",
		"GUSTO_REDIRECT_URI": "http://127.0.0.1:8082/oauth/callback", "LOG_LEVEL": "warn",
	}
	rctx, stop := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- run(rctx, nil, &bytes.Buffer{}, &stderr, vars, ready) }()
	t.Cleanup(func() { stop(); <-done })
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("dashboard exited %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("dashboard did not start")
	}
	readyz := func() (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := readyz()
	for _, want := range []string{fmt.Sprint(older), fmt.Sprint(migrate.Latest()), "gustosync migrate"} {
		if code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			t.Fatalf("/readyz on schema %d: %d %q; want 503 naming %q", older, code, body, want)
		}
	}
	if _, err := migrate.Up(ctx, db.Gorm); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 10*time.Second, "/readyz 200 after migrating", func() bool {
		code, body = readyz()
		return code == http.StatusOK && strings.TrimSpace(body) == "ready"
	})
}
