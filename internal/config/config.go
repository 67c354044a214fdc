// Package config reads gustosync's configuration from environment variables
// (12-factor) and validates it once, at start-up.
//
// Each binary parses only the groups it uses, so a variable is required only
// where it is used. Every error names the variable and what is wrong with it,
// and never repeats the value of a secret.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/gustosync/gustosync/internal/gusto"
)

// Database configures the PostgreSQL connection.
type Database struct {
	// URL is the PostgreSQL DSN.
	URL string `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/gustosync?sslmode=disable"`
	// MaxConns caps the connection pool; 0 lets the binary size it (the worker
	// sizes it to its concurrency).
	MaxConns int `env:"DATABASE_MAX_CONNS" envDefault:"0"`
}

// Migration configures `gustosync migrate` (and `migrate status`): the
// Database group and, when the migrations run under a role of their own
// (one that owns the schema, while the binaries' role only reads and
// writes rows), that role's DSN.
type Migration struct {
	Database
	// MigrateURL is the PostgreSQL DSN the migrations run with; empty, they
	// run with DATABASE_URL. Same database as DATABASE_URL, another role.
	MigrateURL string `env:"DATABASE_MIGRATE_URL"`
}

// DSN is the DSN the migrations connect with and the variable it came from
// (DATABASE_MIGRATE_URL when set, else DATABASE_URL), for error messages.
func (m *Migration) DSN() (dsn, variable string) {
	if m.MigrateURL != "" {
		return m.MigrateURL, "DATABASE_MIGRATE_URL"
	}
	return m.URL, "DATABASE_URL"
}

func (m *Migration) validate() error {
	if m.MigrateURL == "" {
		return nil
	}
	u, err := url.Parse(m.MigrateURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return &Error{Var: "DATABASE_MIGRATE_URL", Reason: "want a postgres:// or postgresql:// URL"}
	}
	return nil
}

// Redis configures the Redis connection used by asynq, redsync and the rate limiter.
type Redis struct {
	// URL is a redis:// or rediss:// URL. It is read only with REDIS_MODE=single.
	URL string `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	// Mode is the topology: single (REDIS_URL), sentinel or cluster. See redis.go.
	Mode string `env:"REDIS_MODE" envDefault:"single"`
	// SentinelAddrs are the Sentinels' host:port addresses (sentinel mode).
	SentinelAddrs []string `env:"REDIS_SENTINEL_ADDRS"`
	// SentinelMaster is the master name the Sentinels monitor (sentinel mode).
	SentinelMaster string `env:"REDIS_SENTINEL_MASTER"`
	// SentinelPassword authenticates to the Sentinels themselves, when they
	// require it (sentinel mode).
	SentinelPassword Secret `env:"REDIS_SENTINEL_PASSWORD"`
	// ClusterAddrs seed the cluster's node list (cluster mode).
	ClusterAddrs []string `env:"REDIS_CLUSTER_ADDRS"`
	// Username is the Redis ACL user; in single mode only when REDIS_URL has none.
	Username string `env:"REDIS_USERNAME"`
	// Password authenticates to Redis; in single mode only when REDIS_URL has
	// none, so the URL can live in a ConfigMap and the password in a Secret.
	Password Secret `env:"REDIS_PASSWORD"`
	// DB is the database index in sentinel mode (single mode reads it from
	// REDIS_URL's path; a cluster has only database 0).
	DB int `env:"REDIS_DB" envDefault:"0"`
	// TLS turns on TLS to the servers in sentinel and cluster modes (single
	// mode uses a rediss:// URL).
	TLS bool `env:"REDIS_TLS" envDefault:"false"`
}

// Gusto configures the Gusto API and the OAuth application.
type Gusto struct {
	// APIURL is the base URL of both the API and /oauth/token.
	APIURL string `env:"GUSTO_API_URL" envDefault:"https://api.gusto-demo.com"`
	// ClientID is the OAuth application's client id.
	ClientID string `env:"GUSTO_CLIENT_ID,required,notEmpty"`
	// ClientSecret is the OAuth application's secret. It never appears in a
	// log line, an error or a URL.
	ClientSecret Secret `env:"GUSTO_CLIENT_SECRET,required,notEmpty"`
	// RedirectURI is the redirect URI registered with Gusto.
	RedirectURI string `env:"GUSTO_REDIRECT_URI,required,notEmpty"`
	// RequestTimeout bounds one HTTP request to Gusto.
	RequestTimeout time.Duration `env:"GUSTO_REQUEST_TIMEOUT" envDefault:"30s"`
	// APIVersion is sent as X-Gusto-API-Version on every request, the token
	// endpoint included. Gusto retires versions (a retired one is answered
	// 406 on every request): see docs/gusto-api.md. The default is
	// gusto.DefaultAPIVersion, Gusto's current stable version.
	APIVersion string `env:"GUSTO_API_VERSION" envDefault:"2026-06-15"`
}

// Tokens configures token storage and refresh.
type Tokens struct {
	// EncryptionKeys is the keyring that encrypts tokens at rest:
	// "id:base64(32 bytes)[,id:key…]"; the first key encrypts, all decrypt.
	EncryptionKeys Keys `env:"TOKEN_ENCRYPTION_KEYS,required,notEmpty"`
	// RefreshAhead is how long before expiry a token is refreshed.
	RefreshAhead time.Duration `env:"TOKEN_REFRESH_AHEAD" envDefault:"5m"`
	// RefreshRate is the fleet-wide budget of token refreshes per second
	// (all workers together, GCRA in Redis, the token closest to expiry
	// first: package refreshbudget); 0 turns the budget off. Size it so
	// that rate × refresh-ahead window exceeds the number of companies.
	RefreshRate float64 `env:"TOKEN_REFRESH_RATE" envDefault:"20"`
}

// Secret is a string that prints as "[redacted]" in every format verb.
type Secret string

// String redacts the secret.
func (Secret) String() string { return "[redacted]" }

// GoString redacts the secret.
func (Secret) GoString() string { return "[redacted]" }

// Reveal returns the secret's value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// Key is one AES-256 key of the token keyring.
type Key struct {
	// ID is stored beside every row it encrypts.
	ID string
	// Bytes is the 32-byte key.
	Bytes []byte
}

// Keys is the token keyring; the first key encrypts, every key decrypts.
type Keys []Key

// String redacts the key material.
func (k Keys) String() string {
	ids := make([]string, len(k))
	for i, key := range k {
		ids[i] = key.ID
	}
	return "keys[" + strings.Join(ids, ",") + "]"
}

// UnmarshalText parses "id:base64[,id:base64…]". Errors name the position
// and the key id, never the key.
func (k *Keys) UnmarshalText(text []byte) error {
	keys, err := ParseKeys(string(text))
	if err != nil {
		return err
	}
	*k = keys
	return nil
}

// ParseKeys parses a keyring in the TOKEN_ENCRYPTION_KEYS format.
func ParseKeys(s string) (Keys, error) {
	var keys Keys
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		id, b64, ok := strings.Cut(part, ":")
		if !ok || id == "" {
			return nil, fmt.Errorf("key %d: want id:base64(32 bytes)", i+1)
		}
		if seen[id] {
			return nil, fmt.Errorf("key %d: duplicate key id %q", i+1, id)
		}
		seen[id] = true
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("key %d (id %q): not valid base64", i+1, id)
		}
		if len(raw) != 32 {
			return nil, fmt.Errorf("key %d (id %q): decodes to %d bytes, want 32", i+1, id, len(raw))
		}
		keys = append(keys, Key{ID: id, Bytes: raw})
	}
	return keys, nil
}

// Error is a configuration error naming the variable at fault.
type Error struct {
	// Var is the environment variable.
	Var string
	// Reason says what is wrong, without the value of a secret.
	Reason string
}

func (e *Error) Error() string { return e.Var + ": " + e.Reason }

// Parse fills dst (a pointer to one of this package's structs, or a struct
// embedding them) from the environment, then validates it. It returns an
// *Error naming the first variable at fault.
func Parse(dst any) error {
	return ParseFrom(dst, Environ())
}

// ParseFrom is Parse over an explicit environment, for tests.
func ParseFrom(dst any, environment map[string]string) error {
	opts := env.Options{Environment: environment}
	if err := env.ParseWithOptions(dst, opts); err != nil {
		return describe(dst, err)
	}
	return validate(dst)
}

// Environ returns the process environment as a map, the form ParseFrom takes.
func Environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// describe turns env's errors into an *Error naming the variable.
func describe(dst any, err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) || len(agg.Errors) == 0 {
		return err
	}
	first := agg.Errors[0]
	var notSet env.VarIsNotSetError
	var empty env.EmptyVarError
	var parse env.ParseError
	switch {
	case errors.As(first, &notSet):
		return &Error{Var: notSet.Key, Reason: "required, not set"}
	case errors.As(first, &empty):
		return &Error{Var: empty.Key, Reason: "required, empty"}
	case errors.As(first, &parse):
		name := varOfField(dst, parse.Name)
		reason := "invalid value"
		switch {
		case parse.Type.String() == "time.Duration":
			reason = "not a duration (want e.g. 30s, 5m)"
		case parse.Type.String() == "int":
			reason = "not a whole number"
		case parse.Type.String() == "bool":
			reason = "not a boolean (want true or false)"
		default:
			// Keys and other custom types return messages that never hold the value.
			reason = parse.Err.Error()
		}
		return &Error{Var: name, Reason: reason}
	}
	return first
}

// varOfField finds the environment variable bound to the named struct field.
func varOfField(dst any, field string) string {
	if key := findTag(reflect.TypeOf(dst), field); key != "" {
		return key
	}
	return field
}

func findTag(t reflect.Type, field string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == field {
			if key, _, _ := strings.Cut(f.Tag.Get("env"), ","); key != "" {
				return key
			}
		}
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() || f.Anonymous {
			if key := findTag(f.Type, field); key != "" {
				return key
			}
		}
	}
	return ""
}

// validate checks what struct tags cannot: URL schemes and ranges.
func validate(dst any) error {
	v := reflect.ValueOf(dst)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	var err error
	walk(v, func(x any) {
		if err != nil {
			return
		}
		if c, ok := x.(interface{ validate() error }); ok {
			err = c.validate()
		}
	})
	return err
}

func walk(v reflect.Value, visit func(any)) {
	if v.Kind() != reflect.Struct {
		return
	}
	if v.CanAddr() {
		visit(v.Addr().Interface())
	}
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Struct && f.CanInterface() {
			walk(f, visit)
		}
	}
}

func (d *Database) validate() error {
	u, err := url.Parse(d.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return &Error{Var: "DATABASE_URL", Reason: "want a postgres:// or postgresql:// URL"}
	}
	if d.MaxConns < 0 {
		return &Error{Var: "DATABASE_MAX_CONNS", Reason: "must not be negative"}
	}
	return nil
}

func (r *Redis) validate() error {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return &Error{Var: "REDIS_URL", Reason: "want a redis:// or rediss:// URL"}
	}
	return r.validateTopology()
}

func (g *Gusto) validate() error {
	u, err := url.Parse(g.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &Error{Var: "GUSTO_API_URL", Reason: "want an http:// or https:// URL with a host"}
	}
	if u.User != nil || u.RawQuery != "" {
		return &Error{Var: "GUSTO_API_URL", Reason: "must not carry credentials or a query"}
	}
	if g.RequestTimeout <= 0 {
		return &Error{Var: "GUSTO_REQUEST_TIMEOUT", Reason: "must be positive"}
	}
	v, err := gusto.ParseAPIVersion(g.APIVersion)
	if err != nil {
		return &Error{Var: "GUSTO_API_VERSION", Reason: err.Error()}
	}
	g.APIVersion = v
	return nil
}

func (t *Tokens) validate() error {
	if len(t.EncryptionKeys) == 0 {
		return &Error{Var: "TOKEN_ENCRYPTION_KEYS", Reason: "required, empty"}
	}
	if t.RefreshAhead < 0 {
		return &Error{Var: "TOKEN_REFRESH_AHEAD", Reason: "must not be negative"}
	}
	if t.RefreshRate < 0 || math.IsNaN(t.RefreshRate) || math.IsInf(t.RefreshRate, 0) {
		return &Error{Var: "TOKEN_REFRESH_RATE", Reason: "must be a number of refreshes per second, 0 (no budget) or more"}
	}
	return nil
}

// String redacts the key material.
func (k Key) String() string { return "key(" + k.ID + ")" }
