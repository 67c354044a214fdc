package dashboard

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/tokens"
)

// MonitoringPath is where asynqmon is mounted.
const MonitoringPath = "/monitoring"

// OAuth is the part of the Gusto client onboarding uses; *gusto.Client
// implements it.
type OAuth interface {
	AuthorizeURL(state string, scopes []string) string
	ExchangeCode(ctx context.Context, code string) (gusto.Token, error)
	TokenInfo(ctx context.Context, accessToken string) (gusto.TokenInfo, error)
	Me(ctx context.Context, accessToken string) (gusto.Me, error)
}

// TokenStore stores onboarded token pairs; *tokens.Store implements it.
type TokenStore interface {
	Put(ctx context.Context, g tokens.Grant, worker string) (int64, error)
}

// Directory reads the companies for the companies pages;
// *companies.Directory implements it.
type Directory interface {
	// Page returns one page of the companies list (keyset, uuid order).
	Page(ctx context.Context, q companies.PageQuery) (companies.CompanyPage, error)
	// Counts returns how many companies are in each status.
	Counts(ctx context.Context) (map[tokens.Status]int, error)
	// Get returns one company; *companies.NotFoundError when unknown.
	Get(ctx context.Context, company string) (companies.Company, error)
	// History returns a company's recent runs, refreshes and statuses.
	History(ctx context.Context, company string, limit int) (companies.History, error)
}

// APIVersions reports the API versions Gusto currently refuses (406), for
// the banner on the companies page; *apiversion.Store implements it.
type APIVersions interface {
	Current(ctx context.Context) ([]apiversion.Rejection, error)
}

// Config configures the app. Zero values take the defaults named on each
// field; New validates it once.
type Config struct {
	// Credentials guard every route. Required.
	Credentials Credentials
	// Companies is read by the companies list and each company's page.
	// Required.
	Companies Directory
	// APIVersions, when set, puts a banner on the companies page for each
	// API version Gusto refuses.
	APIVersions APIVersions
	// Redis is asynqmon's connection. Required.
	Redis asynq.RedisConnOpt
	// ReadOnly keeps asynqmon from changing queues (the default in
	// configuration; the zero value here is writable).
	ReadOnly bool
	// PrometheusURL, when set, is the Prometheus server asynqmon reads its
	// queue-metrics charts from (asynqmon's PrometheusAddress, e.g.
	// http://prometheus-operated.monitoring:9090); empty hides them.
	PrometheusURL string
	// OAuth is the Gusto client for onboarding. Required.
	OAuth OAuth
	// Tokens stores onboarded tokens. Required.
	Tokens TokenStore
	// StateKey signs the OAuth state. Required, at least 16 bytes.
	StateKey []byte
	// StateTTL is how long a started connect flow stays valid. Default 15m.
	StateTTL time.Duration
	// CallbackPath is where Gusto redirects after consent: the path of
	// GUSTO_REDIRECT_URI. Default /oauth/callback.
	CallbackPath string
	// SecureCookies marks the state cookie Secure (set it when the public
	// URL is https).
	SecureCookies bool
	// Now is the clock deciding state expiry. Default time.Now.
	Now func() time.Time
	// Logger receives one line per onboarding and per refused callback.
	// Default slog.Default().
	Logger *slog.Logger
	// Webhooks, when set, is served at WebhookPath (POST only) outside the
	// operators' authentication: Gusto cannot log in, the handler checks
	// Gusto's signature itself (*gustoevents.Intake).
	Webhooks http.Handler
}

// WebhookPath is where Gusto's webhook deliveries are received.
const WebhookPath = "/gusto/webhooks"

// App is the dashboard's http.Handler. It is safe for concurrent use. Close
// releases asynqmon's Redis connections.
type App struct {
	cfg     Config
	states  *StateSigner
	monitor *asynqmon.HTTPHandler
	handler http.Handler
}

// New builds the app from cfg.
func New(cfg Config) (*App, error) {
	switch {
	case !cfg.Credentials.basic() && !cfg.Credentials.bearer():
		return nil, errors.New("dashboard: credentials are required (basic auth, a bearer token, or both)")
	case cfg.Companies == nil:
		return nil, errors.New("dashboard: Companies is required")
	case cfg.Redis == nil:
		return nil, errors.New("dashboard: Redis is required")
	case cfg.OAuth == nil || cfg.Tokens == nil:
		return nil, errors.New("dashboard: OAuth and Tokens are required")
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = 15 * time.Minute
	}
	if cfg.CallbackPath == "" {
		cfg.CallbackPath = "/oauth/callback"
	}
	if !strings.HasPrefix(cfg.CallbackPath, "/") || cfg.CallbackPath == "/" ||
		strings.HasPrefix(cfg.CallbackPath, MonitoringPath+"/") || cfg.CallbackPath == "/companies" || cfg.CallbackPath == "/connect" ||
		strings.HasPrefix(cfg.CallbackPath, "/companies/") {
		return nil, errors.New("dashboard: CallbackPath must be a path of its own")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	states, err := NewStateSigner(cfg.StateKey, cfg.StateTTL, cfg.Now)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, states: states}
	a.monitor = asynqmon.New(asynqmon.Options{
		RootPath:     MonitoringPath,
		RedisConnOpt: cfg.Redis,
		ReadOnly:     cfg.ReadOnly,

		PrometheusAddress: cfg.PrometheusURL,
	})

	mux := http.NewServeMux()
	var monitor http.Handler = a.monitor
	if cfg.ReadOnly {
		monitor = readOnly(monitor)
	}
	mux.Handle(MonitoringPath+"/", monitor)
	mux.Handle(MonitoringPath, http.RedirectHandler(MonitoringPath+"/", http.StatusMovedPermanently))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/companies", http.StatusFound)
	})
	mux.HandleFunc("GET /companies", a.companies)
	mux.HandleFunc("GET /companies/{company}", a.company)
	mux.HandleFunc("GET /connect", a.connect)
	mux.HandleFunc("GET "+cfg.CallbackPath, a.callback)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	authed := requireAuth(cfg.Credentials, sameOrigin(mux))
	if cfg.Webhooks == nil {
		a.handler = securityHeaders(authed)
		return a, nil
	}
	outer := http.NewServeMux()
	outer.Handle("POST "+WebhookPath, cfg.Webhooks)
	outer.Handle("/", authed)
	a.handler = securityHeaders(outer)
	return a, nil
}

// ServeHTTP serves the dashboard.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Close releases asynqmon's Redis connections.
func (a *App) Close() error { return a.monitor.Close() }

// CallbackPathOf returns the path of a redirect URI, for Config.CallbackPath.
func CallbackPathOf(redirectURI string) (string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Path == "" {
		return "", errors.New("dashboard: the redirect URI has no path")
	}
	return u.Path, nil
}
