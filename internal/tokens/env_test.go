package tokens

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/backoff"
	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
)

const (
	testClientID    = "gustosync-tokens-test"
	testRedirectURI = "https://gustosync.test/oauth/callback"
)

// env is one test's world: a fresh PostgreSQL database, a private Redis, the
// Gusto simulator on a loopback server, and the keyring.
type env struct {
	t      testing.TB
	db     *pgtest.DB
	redis  *redistest.Server
	sim    *gustosim.Sim
	srv    *httptest.Server
	keys   config.Keys
	ring   *Keyring
	store  *Store
	secret string
}

// newEnv starts the world. wrap, when set, wraps the simulator's handler
// (to inject faults in front of it).
func newEnv(t testing.TB, sc gustosim.Config, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	e := &env{t: t, secret: "client-secret-" + uuid.NewString()}
	noteSecret(e.secret)
	sc.ClientID, sc.ClientSecret, sc.RedirectURI = testClientID, e.secret, testRedirectURI
	sim, err := gustosim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	e.sim = sim
	var h http.Handler = sim
	if wrap != nil {
		h = wrap(sim)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.db = pgtest.New(t)
	e.redis = redistest.Start(t)
	e.keys = config.Keys{testKey(t, "k1")}
	e.ring, err = NewKeyring(e.keys)
	if err != nil {
		t.Fatal(err)
	}
	e.store = NewStore(e.db.Gorm, e.ring)
	return e
}

// keysEnv encodes the keyring as TOKEN_ENCRYPTION_KEYS, for child processes.
func (e *env) keysEnv() string {
	return e.keys[0].ID + ":" + base64.StdEncoding.EncodeToString(e.keys[0].Bytes)
}

// client returns a Gusto client on the simulator; onSkew may be nil.
func (e *env) client(onSkew func(time.Duration)) *gusto.Client {
	e.t.Helper()
	c, err := gusto.New(gusto.Options{BaseURL: e.srv.URL, ClientID: testClientID, ClientSecret: e.secret,
		RedirectURI: testRedirectURI, Logger: testLogger(), OnSkew: onSkew})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// recorder wraps a Refresher and notes every pair it obtained.
type recorder struct {
	r      Refresher
	calls  atomic.Int64
	mu     sync.Mutex
	issued []gusto.Token
}

func (r *recorder) RefreshToken(ctx context.Context, refreshToken string) (gusto.Token, error) {
	r.calls.Add(1)
	tok, err := r.r.RefreshToken(ctx, refreshToken)
	if err == nil {
		noteSecret(tok.AccessToken, tok.RefreshToken)
		r.mu.Lock()
		r.issued = append(r.issued, tok)
		r.mu.Unlock()
	}
	return tok, err
}

func (r *recorder) pairs() []gusto.Token {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gusto.Token(nil), r.issued...)
}

// testConfig is the manager configuration the tests start from: short
// timeouts and backoff so the suite stays fast.
func testConfig(worker string) Config {
	return Config{
		WorkerID:        worker,
		RefreshTimeout:  3 * time.Second,
		LockExpiry:      6 * time.Second,
		LockWait:        15 * time.Second,
		Backoff:         backoff.Policy{Base: 50 * time.Millisecond, Max: 400 * time.Millisecond},
		RefreshAttempts: 4,
		Logger:          testLogger(),
	}
}

// manager builds a Manager on the env, with its own Gusto client (whose skew
// measurements feed the manager) wrapped in a recorder.
func (e *env) manager(worker string, mutate func(*Config)) (*Manager, *recorder, *gusto.Client) {
	e.t.Helper()
	var m *Manager
	client := e.client(func(d time.Duration) {
		if m != nil {
			m.ObserveSkew(d)
		}
	})
	rec := &recorder{r: client}
	metrics, err := NewMetrics(nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := testConfig(worker)
	cfg.Store, cfg.Refresher, cfg.Redis, cfg.Metrics = NewStore(e.db.Gorm, e.ring), rec, e.redis.Client(), metrics
	if mutate != nil {
		mutate(&cfg)
	}
	m, err = New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return m, rec, client
}

// addCompany creates a company in the simulator and stores its grant.
func (e *env) addCompany() string {
	e.t.Helper()
	g, err := e.sim.CreateCompany(gustosim.CompanyOptions{Employees: 1, Payrolls: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	noteSecret(g.Token.AccessToken, g.Token.RefreshToken)
	if _, err := e.store.Put(context.Background(), Grant{CompanyUUID: g.CompanyUUID, AccessToken: g.Token.AccessToken,
		RefreshToken: g.Token.RefreshToken, ExpiresIn: g.Token.ExpiresIn, Scope: g.Token.Scope, CreatedAt: g.Token.CreatedAt}, "test"); err != nil {
		e.t.Fatal(err)
	}
	return g.CompanyUUID
}

// expire makes the stored access tokens of every company (or of those
// given) already expired, as if the pairs were issued long ago.
func (e *env) expire(companies ...string) {
	e.t.Helper()
	q := `UPDATE gusto_auth_tokens SET access_token_expiration = now() - interval '1 hour',
		issued_at = now() - interval '2 hours'`
	var err error
	if len(companies) == 0 {
		err = e.db.Gorm.Exec(q).Error
	} else {
		err = e.db.Gorm.Exec(q+` WHERE company_uuid IN ?`, companies).Error
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// use makes one API call with token, as the sync code would.
func (e *env) use(company, token string) error {
	_, err := e.client(nil).Company(context.Background(), gusto.StaticToken(token), company)
	return err
}

// status reads a company's status and reason.
func (e *env) status(company string) (Status, string) {
	e.t.Helper()
	var out struct {
		Status       string
		StatusReason string
	}
	if err := e.db.Gorm.Raw(`SELECT status, status_reason FROM gusto_auth_tokens WHERE company_uuid = ?`, company).Scan(&out).Error; err != nil {
		e.t.Fatal(err)
	}
	return Status(out.Status), out.StatusReason
}

// events returns a company's audit trail.
func (e *env) events(company string) []Event {
	e.t.Helper()
	evs, err := e.store.Events(context.Background(), company)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}
