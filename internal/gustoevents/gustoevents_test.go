package gustoevents_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/tokens"
	"github.com/gustosync/gustosync/internal/waitfor"
)

const (
	clientID     = "client-id-events"
	clientSecret = "client-secret-events-0123456789"
)

// env is the simulator, PostgreSQL with the schema, the tokens store, a
// Handler and an Intake served over real HTTP.
type env struct {
	t       *testing.T
	ctx     context.Context
	sim     *gustosim.Sim
	simURL  string
	db      *pgtest.DB
	tok     *tokens.Store
	dir     *companies.Directory
	store   *gustoevents.Store
	handler *gustoevents.Handler
	intake  *httptest.Server
	client  *gusto.Client
	sys     *gusto.SystemTokens
	syncs   atomic.Int64
	// ringKeys are the keys of the store's keyring.
	ringKeys config.Keys

	mu        sync.Mutex
	delivered [][2]string // body, signature of the deliveries the intake accepted
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	sim, err := gustosim.New(gustosim.Config{ClientID: clientID, ClientSecret: clientSecret,
		RedirectURI: "https://ops.example.com/oauth/callback", Seed: 7, WebhookRetryDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	t.Cleanup(func() { _ = sim.Close() })
	db := pgtest.New(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ring, err := tokens.NewKeyring(config.Keys{{ID: "k1", Bytes: key}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, sim: sim, simURL: simSrv.URL, db: db, tok: tokens.NewStore(db.Gorm, ring), dir: companies.New(db.Gorm),
		store: gustoevents.NewStore(db.Gorm, ring), ringKeys: config.Keys{{ID: "k1", Bytes: key}}}
	e.handler, err = gustoevents.NewHandler(gustoevents.Config{Store: e.store, Revoker: e.tok, By: "test", Known: gustoevents.DirectoryKnown(e.dir),
		Sync: func(context.Context, string) error { e.syncs.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	in, err := gustoevents.NewIntake(gustoevents.IntakeConfig{Handler: e.handler, Store: e.store, MaxBody: 4096})
	if err != nil {
		t.Fatal(err)
	}
	e.intake = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		in.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK && r.Header.Get("X-Gusto-Signature") != "" {
			e.mu.Lock()
			e.delivered = append(e.delivered, [2]string{string(body), r.Header.Get("X-Gusto-Signature")})
			e.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(e.intake.Close)
	e.client, err = gusto.New(gusto.Options{BaseURL: simSrv.URL, ClientID: clientID, ClientSecret: clientSecret})
	if err != nil {
		t.Fatal(err)
	}
	e.sys = gusto.NewSystemTokens(e.client)
	return e
}

// onboard creates a company in the simulator and stores its grant.
func (e *env) onboard() string {
	e.t.Helper()
	g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 1, Payrolls: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	e.put(g)
	return g.CompanyUUID
}

func (e *env) put(g gustosim.Grant) {
	e.t.Helper()
	if _, err := e.tok.Put(e.ctx, tokens.Grant{CompanyUUID: g.CompanyUUID, AccessToken: g.Token.AccessToken,
		RefreshToken: g.Token.RefreshToken, ExpiresIn: g.Token.ExpiresIn, CreatedAt: g.Token.CreatedAt}, "test"); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) status(company string) tokens.Status {
	e.t.Helper()
	c, err := e.dir.Get(e.ctx, company)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Status
}

func (e *env) alerts(company string) int {
	e.t.Helper()
	var n int
	// A reconnect's company.recovered is not counted: these are the alerts
	// that call for a person.
	if err := e.db.Gorm.Raw(`SELECT count(*) FROM alert_outbox WHERE company_uuid = ? AND kind <> 'company.recovered'`, company).Scan(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

// subscribe subscribes the intake through the simulator and confirms the
// verification token it received, as `gustosync webhooks subscribe` and
// `verify` do.
func (e *env) subscribe() {
	e.t.Helper()
	sub, err := e.client.Subscribe(e.ctx, e.sys, e.intake.URL, []string{"Company", "Employee", "Payroll"})
	if err != nil {
		e.t.Fatal(err)
	}
	var pending []string
	waitfor.Condition(e.t, 5*time.Second, "the verification token reaches the intake", func() bool {
		pending, err = e.store.PendingKeys(e.ctx)
		return err == nil && len(pending) == 1
	})
	if _, err := e.client.VerifySubscription(e.ctx, e.sys, sub.UUID, pending[0]); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.VerifyKey(e.ctx, pending[0], sub.UUID); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) post(body []byte, sig string) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.intake.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Gusto-Signature", sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

func TestRevocationReachesNeedsReauthThroughTheWebhook(t *testing.T) {
	e := newEnv(t)
	a, b := e.onboard(), e.onboard()
	e.subscribe()
	if err := e.sim.Revoke(a); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 10*time.Second, "the revoked company is needs_reauth", func() bool { return e.status(a) == tokens.StatusNeedsReauth })
	if e.status(b) != tokens.StatusActive || e.alerts(a) != 1 {
		t.Fatalf("b = %s (want active), alerts for a = %d (want 1)", e.status(b), e.alerts(a))
	}
	c, _ := e.dir.Get(e.ctx, a)
	if !strings.Contains(c.StatusReason, "company.deprovisioned") {
		t.Fatalf("status_reason = %q, want it to name company.deprovisioned", c.StatusReason)
	}

	// Replayed: the operator reconnects a; the old delivery posted again,
	// signature and all, changes nothing.
	e.mu.Lock()
	old := e.delivered[len(e.delivered)-1]
	e.mu.Unlock()
	// Re-consent a: a new grant for the same company.
	e.sim.SetAuthorize(gustosim.AuthorizeBehavior{CompanyUUID: a})
	grant := e.consent()
	e.put(gustosim.Grant{CompanyUUID: a, Token: grant})
	if e.status(a) != tokens.StatusActive {
		t.Fatalf("a after reconnecting = %s, want active", e.status(a))
	}
	if code := e.post([]byte(old[0]), old[1]); code != http.StatusOK {
		t.Fatalf("replayed delivery = %d, want 200 (acknowledged, not acted on)", code)
	}
	if e.status(a) != tokens.StatusActive || e.alerts(a) != 1 {
		t.Fatalf("after a replay: a = %s, alerts %d; want active and 1", e.status(a), e.alerts(a))
	}

	// Forged: a deprovisioned event for b signed with another key.
	forged, _ := json.Marshal(gusto.Event{UUID: "6a1f3d2e-8c4b-4e7a-9f10-2b3c4d5e6f70", EventType: "company.deprovisioned",
		ResourceType: "Company", ResourceUUID: b, Timestamp: time.Now().Unix()})
	if code := e.post(forged, gustosim.Signature("not-the-key", forged)); code != http.StatusUnauthorized {
		t.Fatalf("forged delivery = %d, want 401", code)
	}
	if code := e.post(forged, ""); code != http.StatusUnauthorized {
		t.Fatalf("unsigned delivery = %d, want 401", code)
	}
	// Oversized: a signed body beyond the bound.
	big := append(bytes.Repeat([]byte(" "), 8192), forged...)
	if code := e.post(big, gustosim.Signature("not-the-key", big)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized delivery = %d, want 413", code)
	}
	if e.status(b) != tokens.StatusActive || e.alerts(b) != 0 {
		t.Fatalf("after forged and oversized bodies: b = %s, alerts %d; want active and 0", e.status(b), e.alerts(b))
	}
	if _, done, _ := e.store.Handled(e.ctx, "6a1f3d2e-8c4b-4e7a-9f10-2b3c4d5e6f70"); done {
		t.Fatal("a refused event was recorded as handled")
	}
}

// consent runs the authorize flow against the simulator and exchanges the
// code: a new grant for the company SetAuthorize names.
func (e *env) consent() gusto.Token {
	e.t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(e.simURL + "/oauth/authorize?response_type=code&client_id=" + clientID + "&redirect_uri=https://ops.example.com/oauth/callback")
	if err != nil {
		e.t.Fatal(err)
	}
	_ = res.Body.Close()
	loc, err := res.Location()
	if err != nil {
		e.t.Fatalf("authorize: %v", err)
	}
	c, err := gusto.New(gusto.Options{BaseURL: e.simURL, ClientID: clientID, ClientSecret: clientSecret, RedirectURI: "https://ops.example.com/oauth/callback"})
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := c.ExchangeCode(e.ctx, loc.Query().Get("code"))
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func TestRevocationReachesNeedsReauthThroughTheFeedWithoutWebhooks(t *testing.T) {
	e := newEnv(t)
	a, b := e.onboard(), e.onboard()
	feed, err := gustoevents.NewFeed(gustoevents.FeedConfig{DB: e.db.Gorm, Handler: e.handler, Store: e.store,
		Events: lister{e.client, e.sys}, Period: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := e.sim.Revoke(a); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 10*time.Second, "the revoked company is needs_reauth through the feed", func() bool { return e.status(a) == tokens.StatusNeedsReauth })
	// Data events: two for b within the debounce period, one sync.
	for range 2 {
		if _, err := e.sim.EmitEvent(b, "employee.updated", "Employee", b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.sim.EmitEvent(b, "company.form.signed", "Form", b); err != nil {
		t.Fatal(err)
	}
	stranger, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 1, Payrolls: 1}) // provisioned, never onboarded here
	if err != nil {
		t.Fatal(err)
	}
	last, err := e.sim.EmitEvent(b, "payroll.processed", "Payroll", b)
	if err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 10*time.Second, "the feed reaches the last event", func() bool {
		c, err := e.store.Cursor(e.ctx)
		return err == nil && c == last.UUID
	})
	if n := e.syncs.Load(); n != 1 {
		t.Fatalf("syncs of b = %d, want 1 (debounced)", n)
	}
	for _, want := range []struct {
		typ, company string
		out          gustoevents.Outcome
	}{
		{"company.provisioned", b, gustoevents.OutcomeNoted},
		{"company.provisioned", stranger.CompanyUUID, gustoevents.OutcomeUnknownCompany},
		{"company.form.signed", b, gustoevents.OutcomeUnknownEvent},
		{"payroll.processed", b, gustoevents.OutcomeDebounced},
	} {
		for _, x := range e.sim.Events() {
			if x.EventType != want.typ || x.ResourceUUID != want.company {
				continue
			}
			if got, done, err := e.store.Handled(e.ctx, x.UUID); err != nil || !done || got != want.out {
				t.Errorf("%s for %s: outcome %q (handled %v, %v), want %q", want.typ, want.company, got, done, err, want.out)
			}
		}
	}
	if e.alerts(a) != 1 || e.status(b) != tokens.StatusActive {
		t.Fatalf("alerts for a = %d (want 1), b = %s (want active)", e.alerts(a), e.status(b))
	}
	// The webhook path seeing the same revocation later acts on nothing.
	ev := e.sim.Events()
	var dep gusto.Event
	for _, x := range ev {
		if x.EventType == "company.deprovisioned" {
			dep = gusto.Event{UUID: x.UUID, EventType: x.EventType, ResourceType: x.ResourceType, ResourceUUID: x.ResourceUUID, Timestamp: x.Timestamp}
		}
	}
	out, err := e.handler.Handle(e.ctx, dep, gustoevents.SourceWebhook)
	if err != nil || out != gustoevents.OutcomeDuplicate {
		t.Fatalf("the same event from the other path = %s, %v; want duplicate", out, err)
	}
}

type lister struct {
	c   *gusto.Client
	sys *gusto.SystemTokens
}

func (l lister) Events(ctx context.Context, q gusto.EventsQuery) ([]gusto.Event, error) {
	return l.c.Events(ctx, l.sys, q)
}

// TestEventOlderThanTheDedupWindowIsNotActedOn: a signed body replayed
// after its claim could have been pruned (older than DedupWindow) changes
// nothing, and an event just inside the window is acted on.
func TestEventOlderThanTheDedupWindowIsNotActedOn(t *testing.T) {
	e := newEnv(t)
	a := e.onboard()
	old := gusto.Event{UUID: uuid.NewString(), EventType: "company.deprovisioned", ResourceType: "Company", ResourceUUID: a,
		Timestamp: time.Now().Add(-gustoevents.DedupWindow - time.Hour).Unix()}
	out, err := e.handler.Handle(e.ctx, old, gustoevents.SourceWebhook)
	if err != nil || out != gustoevents.OutcomeTooOld {
		t.Fatalf("old event: %q %v, want %q", out, err, gustoevents.OutcomeTooOld)
	}
	if st := e.status(a); st != tokens.StatusActive {
		t.Fatalf("an event older than the dedup window made the company %s", st)
	}
	recent := old
	recent.UUID, recent.Timestamp = uuid.NewString(), time.Now().Add(-gustoevents.DedupWindow+time.Hour).Unix()
	if out, err := e.handler.Handle(e.ctx, recent, gustoevents.SourceWebhook); err != nil || out != gustoevents.OutcomeNeedsReauth {
		t.Fatalf("event inside the window: %q %v", out, err)
	}
}
