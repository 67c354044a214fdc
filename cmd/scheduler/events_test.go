package main

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/tokens"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// TestEventsFeedMarksARevokedCompanyWithoutWebhooks runs a real scheduler
// process with the events feed on and no webhook subscription and no
// worker: a company revoked in the simulator is needs_reauth within
// seconds, the other stays active, and one alert is written.
func TestEventsFeedMarksARevokedCompanyWithoutWebhooks(t *testing.T) {
	ctx := context.Background()
	sim, err := gustosim.New(gustosim.Config{ClientID: "cid-feed", ClientSecret: "csecret-feed-0123456789",
		RedirectURI: "https://ops.example.com/oauth/callback", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
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
	p := start(t, nil, "DATABASE_URL="+db.URL, "REDIS_URL="+rs.URL, "HTTP_ADDR=127.0.0.1:0", "SCHEDULER_TICK=1h", "LOG_LEVEL=info",
		"GUSTO_API_URL="+srv.URL, "GUSTO_CLIENT_ID=cid-feed", "GUSTO_CLIENT_SECRET=csecret-feed-0123456789", "GUSTO_EVENTS_POLL=200ms")
	p.waitStarted(t)
	if !strings.Contains(p.log(), `"events_feed":true`) {
		t.Fatalf("the scheduler did not start the events feed; log:\n%s", p.log())
	}
	if err := sim.Revoke(ids[0]); err != nil {
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
	waitfor.Condition(t, 15*time.Second, "the revoked company is needs_reauth through the feed", func() bool { return status(ids[0]) == tokens.StatusNeedsReauth })
	var alerts int
	if err := db.Gorm.Raw(`SELECT count(*) FROM alert_outbox WHERE company_uuid = ?`, ids[0]).Scan(&alerts).Error; err != nil {
		t.Fatal(err)
	}
	if alerts != 1 || status(ids[1]) != tokens.StatusActive {
		t.Fatalf("alerts = %d (want 1), the other company = %s (want active)", alerts, status(ids[1]))
	}
	if sim.Counters().Refreshes != 0 || sim.Counters().Requests[ids[0]] != 0 {
		t.Fatal("a sync or a refresh ran: the revocation was not learnt from the feed alone")
	}
	p.stop(t)
}
