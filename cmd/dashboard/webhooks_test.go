package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
// binary's run() over the simulator with no scheduler (no feed) and no
// worker: subscribed and verified as `gustosync webhooks subscribe` and
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
	vars := map[string]string{
		"DATABASE_URL": db.URL, "REDIS_URL": rs.URL, "DASHBOARD_ADDR": "127.0.0.1:0",
		"DASHBOARD_USER": testUser, "DASHBOARD_PASSWORD": testPassword, "OAUTH_STATE_KEY": "state-key-0123456789abcdef",
		"TOKEN_ENCRYPTION_KEYS": "k1:" + base64.StdEncoding.EncodeToString(key),
		"GUSTO_API_URL":         srv.URL, "GUSTO_CLIENT_ID": cid, "GUSTO_CLIENT_SECRET": secret,
		"GUSTO_REDIRECT_URI": "http://127.0.0.1:8082/oauth/callback", "LOG_LEVEL": "warn",
	}
	rctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- run(rctx, nil, &bytes.Buffer{}, &stderr, vars, ready) }()
	t.Cleanup(func() { cancel(); <-done })
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("dashboard exited %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("dashboard did not start")
	}
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
}
