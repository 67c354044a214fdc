package jobs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/backoff"
	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/ratelimit"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/tokens"
)

const (
	clientID     = "gustosync-test"
	clientSecret = "test-client-secret-0123456789"
	redirectURI  = "https://gustosync.test/oauth/callback"
)

// env is one test's world: the simulator over loopback HTTP, a private
// PostgreSQL database and Redis, and the real token manager, Gusto client
// and checkpoint store the worker wires.
type env struct {
	t       testing.TB
	sim     *gustosim.Sim
	db      *pgtest.DB
	redis   *redistest.Server
	store   *tokens.Store
	manager *tokens.Manager
	client  *gusto.Client
	cps     *checkpoint.Store
	logs    *syncBuffer
	level   slog.Level
	url     string // the simulator's
}

type envOptions struct {
	sim       gustosim.Config
	wrap      func(http.Handler) http.Handler // in front of the simulator, when set
	rateLimit int                             // GUSTO_RATE_LIMIT; 0 = no limiter
	logLevel  slog.Level                      // default debug
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{t: t, logs: &syncBuffer{}}
	o.sim.ClientID, o.sim.ClientSecret, o.sim.RedirectURI = clientID, clientSecret, redirectURI
	if o.sim.Seed == 0 {
		o.sim.Seed = 7
	}
	sim, err := gustosim.New(o.sim)
	if err != nil {
		t.Fatal(err)
	}
	e.sim = sim
	var h http.Handler = sim
	if o.wrap != nil {
		h = o.wrap(sim)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.db = pgtest.New(t)
	e.redis = redistest.Start(t)

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keys, err := config.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := tokens.NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	e.store = tokens.NewStore(e.db.Gorm, ring)
	var limiter gusto.Limiter
	if o.rateLimit > 0 {
		l, err := ratelimit.New(e.redis.Client(), ratelimit.Options{Limit: o.rateLimit})
		if err != nil {
			t.Fatal(err)
		}
		limiter = l
	}
	if o.logLevel == 0 {
		o.logLevel = slog.LevelDebug
	}
	e.level = o.logLevel
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: o.logLevel}))
	var m *tokens.Manager
	e.client, err = gusto.New(gusto.Options{
		BaseURL: srv.URL, ClientID: clientID, ClientSecret: clientSecret, RedirectURI: redirectURI,
		Limiter: limiter, Logger: log,
		OnSkew: func(d time.Duration) {
			if m != nil {
				m.ObserveSkew(d)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err = tokens.New(tokens.Config{Store: e.store, Refresher: e.client, Redis: e.redis.Client(), WorkerID: "test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.manager = m
	e.cps = checkpoint.NewStore(e.db.Gorm, checkpoint.Options{})
	return e
}

// handler returns a sync handler over the env; mod adjusts its config.
func (e *env) handler(mod func(*jobs.Config)) *jobs.Handler {
	e.t.Helper()
	cfg := jobs.Config{
		API: e.client, Tokens: e.manager, Checkpoints: e.cps, Reauth: e.manager, WorkerID: "w-" + uuid.NewString()[:8],
		BatchSize: 500, PageBackoff: backoff.Policy{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond},
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: e.level})),
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := jobs.NewHandler(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// company creates a company at the simulator and stores its tokens.
func (e *env) company(employees, payrolls int, scopes []string) string {
	e.t.Helper()
	g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: employees, Payrolls: payrolls, Scopes: scopes})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.Put(context.Background(), tokens.Grant{
		CompanyUUID: g.CompanyUUID, AccessToken: g.Token.AccessToken, RefreshToken: g.Token.RefreshToken,
		ExpiresIn: g.Token.ExpiresIn, CreatedAt: g.Token.CreatedAt,
	}, "test"); err != nil {
		e.t.Fatal(err)
	}
	return g.CompanyUUID
}

func task(t testing.TB, company, run string) *asynq.Task {
	t.Helper()
	tk, err := jobs.NewSyncTask(company, run, checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func totalRecords(t testing.TB, sim *gustosim.Sim, company string) int64 {
	var n int64
	for _, r := range []string{"employees", "payrolls"} {
		c, _, err := sim.Checksum(company, r)
		if err != nil {
			t.Fatal(err)
		}
		n += int64(c)
	}
	return n
}

type runRow struct {
	Status           string
	Records, Changed int64
	Attempts         int
	Error            string
}

func readRun(t testing.TB, db *gorm.DB, run string) runRow {
	t.Helper()
	var r runRow
	if err := db.Raw(`SELECT status, records_synced AS records, rows_changed AS changed, attempts, error FROM sync_runs WHERE id = ?`, run).
		Scan(&r).Error; err != nil || r.Status == "" {
		t.Fatalf("run %s: %v", run, err)
	}
	return r
}

// pool is the database/sql pool behind the env's gorm handle, for rowcheck
// (proof tooling, which reads through database/sql).
func (e *env) pool() *sql.DB {
	e.t.Helper()
	db, err := e.db.Gorm.DB()
	if err != nil {
		e.t.Fatal(err)
	}
	return db
}

// status reads a company's status and reason through the companies read model.
func (e *env) status(company string) (tokens.Status, string) {
	e.t.Helper()
	c, err := companies.New(e.db.Gorm).Get(context.Background(), company)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Status, c.StatusReason
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
