package dashboard_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/dashboard"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/tokens"
)

const (
	user     = "operator"
	password = "correct horse battery staple"
	bearer   = "dashboard-bearer-token-0123456789"
	clientID = "gustosync-test-client"
	secret   = "gustosync-test-client-secret"
)

var stateKey = []byte("0123456789abcdef-state-key")

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a dashboard served over HTTP, backed by a private PostgreSQL
// database and Redis, onboarding against the Gusto simulator.
type env struct {
	t      *testing.T
	db     *pgtest.DB
	redis  *redistest.Server
	sim    *gustosim.Sim
	simSrv *httptest.Server
	srv    *httptest.Server
	app    *dashboard.App
	store  *tokens.Store
	clock  *clock
}

func newEnv(t *testing.T, mutate func(*dashboard.Config)) *env {
	t.Helper()
	e := &env{t: t, db: pgtest.New(t), redis: redistest.Start(t), clock: &clock{t: time.Now()}}

	// The dashboard's URL must be known before the simulator (its redirect URI).
	var handler atomic.Value
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	redirect := e.srv.URL + "/oauth/callback"

	sim, err := gustosim.New(gustosim.Config{ClientID: clientID, ClientSecret: secret, RedirectURI: redirect, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	e.sim = sim
	e.simSrv = httptest.NewServer(sim)
	t.Cleanup(e.simSrv.Close)
	client, err := gusto.New(gusto.Options{BaseURL: e.simSrv.URL, ClientID: clientID, ClientSecret: secret, RedirectURI: redirect})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ring, err := tokens.NewKeyring(config.Keys{{ID: "k1", Bytes: key}})
	if err != nil {
		t.Fatal(err)
	}
	e.store = tokens.NewStore(e.db.Gorm, ring)

	cfg := dashboard.Config{
		Credentials: dashboard.Credentials{User: user, Password: password, BearerToken: bearer},
		Companies:   companies.New(e.db.Gorm),
		APIVersions: apiversion.NewStore(e.db.Gorm, 0),
		Redis:       asynq.RedisClientOpt{Addr: e.redis.Addr},
		ReadOnly:    true,
		OAuth:       client,
		Tokens:      e.store,
		StateKey:    stateKey,
		Now:         e.clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	app, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	e.app = app
	handler.Store(http.Handler(app))
	return e
}

// get sends an authenticated GET to the dashboard (basic auth) without
// following redirects.
func (e *env) get(path string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	return e.do(req)
}

func (e *env) do(req *http.Request) *http.Response {
	e.t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// tokenRows counts stored companies.
func (e *env) tokenRows() int {
	e.t.Helper()
	var n int
	if err := e.db.Gorm.Raw(`SELECT count(*) FROM gusto_auth_tokens`).Row().Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
