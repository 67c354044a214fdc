package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/tokens"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// TestWebhookMarksARevokedCompanyAndRefusesForgeries runs the dashboard
// binary, a separate process, over the simulator with no scheduler (no
// feed) and no worker: subscribed and verified as `gustosync webhooks subscribe` and
// `verify` do, a company revoked in the simulator is needs_reauth within
// seconds through POST /gusto/webhooks; forged, unsigned and oversized
// bodies are refused, and a replayed delivery changes nothing.
func TestWebhookMarksARevokedCompanyAndRefusesForgeries(t *testing.T) {
	ctx := context.Background()
	const cid, secret = "cid-hooks", "csecret-hooks-0123456789"
	sim, err := gustosim.New(gustosim.Config{ClientID: cid, ClientSecret: secret, RedirectURI: "http://127.0.0.1:8082/oauth/callback",
		Seed: 5, WebhookRetryDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = sim.Close() })
	db := pgtest.New(t)
	rs := redistest.Start(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ring, err := tokens.NewKeyring(config.Keys{{ID: "k1", Bytes: key}})
	if err != nil {
		t.Fatal(err)
	}
	store := tokens.NewStore(db.Gorm, ring)
	var ids []string
	for range 2 {
		g, err := sim.CreateCompany(gustosim.CompanyOptions{Employees: 1, Payrolls: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, tokens.Grant{CompanyUUID: g.CompanyUUID, AccessToken: g.Token.AccessToken, RefreshToken: g.Token.RefreshToken,
			ExpiresIn: g.Token.ExpiresIn, CreatedAt: g.Token.CreatedAt}, "test"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.CompanyUUID)
	}
	// The metrics listener's address is chosen here (the ready channel
	// reports the dashboard's own).
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := probe.Addr().String()
	_ = probe.Close()
	vars := map[string]string{
		"DATABASE_URL": db.URL, "REDIS_URL": rs.URL, "DASHBOARD_ADDR": "127.0.0.1:0", "DASHBOARD_METRICS_ADDR": metricsAddr,
		"DASHBOARD_USER": testUser, "DASHBOARD_PASSWORD": testPassword, "OAUTH_STATE_KEY": "state-key-0123456789abcdef",
		"TOKEN_ENCRYPTION_KEYS": "k1:" + base64.StdEncoding.EncodeToString(key),
		"GUSTO_API_URL":         srv.URL, "GUSTO_CLIENT_ID": cid, "GUSTO_CLIENT_SECRET": secret,
		"GUSTO_REDIRECT_URI": "http://127.0.0.1:8082/oauth/callback", "LOG_LEVEL": "warn",
	}
	vars["LOG_LEVEL"], vars["PATH"] = "info", os.Getenv("PATH")
	addr := execDashboard(t, vars)
	hook := "http://" + addr + "/gusto/webhooks"

	client, err := gusto.New(gusto.Options{BaseURL: srv.URL, ClientID: cid, ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	sys := gusto.NewSystemTokens(client)
	sub, err := client.Subscribe(ctx, sys, hook, []string{"Company"})
	if err != nil {
		t.Fatal(err)
	}
	events := gustoevents.NewStore(db.Gorm, ring)
	var pending []string
	waitfor.Condition(t, 10*time.Second, "the verification token reaches the dashboard", func() bool {
		pending, err = events.PendingKeys(ctx)
		return err == nil && len(pending) == 1
	})
	if _, err := client.VerifySubscription(ctx, sys, sub.UUID, pending[0]); err != nil {
		t.Fatal(err)
	}
	if err := events.VerifyKey(ctx, pending[0], sub.UUID); err != nil {
		t.Fatal(err)
	}

	dir := companies.New(db.Gorm)
	status := func(id string) tokens.Status {
		c, err := dir.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c.Status
	}
	if err := sim.Revoke(ids[0]); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 15*time.Second, "the revoked company is needs_reauth through the webhook", func() bool { return status(ids[0]) == tokens.StatusNeedsReauth })

	post := func(body []byte, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewReader(body))
		if sig != "" {
			req.Header.Set("X-Gusto-Signature", sig)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	forged, _ := json.Marshal(gusto.Event{UUID: "1d7c9a30-5b2e-4f8a-8c61-0e9f2a3b4c5d", EventType: "company.deprovisioned",
		ResourceType: "Company", ResourceUUID: ids[1], Timestamp: time.Now().Unix()})
	for _, tc := range []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"forged", forged, gustosim.Signature("guessed-key", forged), http.StatusUnauthorized},
		{"unsigned", forged, "", http.StatusUnauthorized},
		{"oversized", append(bytes.Repeat([]byte(" "), gustoevents.DefaultMaxBody), forged...), gustosim.Signature(pending[0], forged), http.StatusRequestEntityTooLarge},
	} {
		if code := post(tc.body, tc.sig); code != tc.want {
			t.Errorf("%s body = %d, want %d", tc.name, code, tc.want)
		}
	}
	// Replayed: the revocation's own delivery, signed with the real key.
	var dep gustosim.Event
	for _, e := range sim.Events() {
		if e.EventType == gustosim.EventCompanyDeprovisioned {
			dep = e
		}
	}
	body, _ := json.Marshal(dep)
	if code := post(body, gustosim.Signature(pending[0], body)); code != http.StatusOK {
		t.Errorf("replayed delivery = %d, want 200 (acknowledged)", code)
	}
	var alerts int
	if err := db.Gorm.Raw(`SELECT count(*) FROM alert_outbox`).Scan(&alerts).Error; err != nil {
		t.Fatal(err)
	}
	if alerts != 1 || status(ids[1]) != tokens.StatusActive {
		t.Fatalf("alerts = %d (want 1: the one revocation), the other company = %s (want active)", alerts, status(ids[1]))
	}

	// The dashboard's /metrics (its own listener, no credentials) counts
	// the intake's outcomes under source="webhook".
	res, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	for _, want := range []string{
		`gustosync_gusto_events_total{outcome="needs_reauth",source="webhook"} 1`,
		`gustosync_gusto_events_total{outcome="refused",source="webhook"} 3`,
		`gustosync_gusto_events_total{outcome="duplicate",source="webhook"} 1`,
		"gustosync_build_info{", `go_sql_open_connections{db_name="gustosync"}`,
	} {
		if res.StatusCode != http.StatusOK || !strings.Contains(string(metrics), want) {
			t.Errorf("dashboard /metrics (%d) lacks %s", res.StatusCode, want)
		}
	}
}

// execDashboard runs the dashboard binary with exactly vars as its
// environment and returns the address it listens on (from its "dashboard
// listening" log line). The process is stopped (SIGTERM) at cleanup; its
// log is printed if the test failed.
func execDashboard(t *testing.T, vars map[string]string) string {
	t.Helper()
	cmd := exec.Command(dashboardBin)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var mu sync.Mutex
	var logs bytes.Buffer
	addrs := make(chan string, 1)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = &lockedWriter{mu: &mu, w: &logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			mu.Lock()
			logs.Write(append(sc.Bytes(), '\n'))
			mu.Unlock()
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "dashboard listening" && l.Addr != "" {
				select {
				case addrs <- l.Addr:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { <-scanned; exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("--- dashboard log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	select {
	case addr := <-addrs:
		return addr
	case err := <-exited:
		exited <- err
		t.Fatalf("dashboard exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the dashboard did not start listening")
	}
	return ""
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
