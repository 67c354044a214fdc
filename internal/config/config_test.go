package config

import (
	"errors"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gusto"
)

const goodKey = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

type worker struct {
	Database
	Redis
	Gusto
	Tokens
}

func full() map[string]string {
	return map[string]string{
		"GUSTO_CLIENT_ID":       "cid",
		"GUSTO_CLIENT_SECRET":   "very-secret-value",
		"GUSTO_REDIRECT_URI":    "http://localhost/cb",
		"TOKEN_ENCRYPTION_KEYS": goodKey,
	}
}

func TestDefaults(t *testing.T) {
	var c worker
	if err := ParseFrom(&c, full()); err != nil {
		t.Fatal(err)
	}
	if c.Tokens.RefreshAhead != 5*time.Minute || c.Redis.URL != "redis://127.0.0.1:6379/0" ||
		!strings.Contains(c.Database.URL, "/gustosync") || c.APIURL != "https://api.gusto-demo.com" {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if len(c.EncryptionKeys) != 1 || c.EncryptionKeys[0].ID != "k1" || len(c.EncryptionKeys[0].Bytes) != 32 {
		t.Fatalf("keys: %v", c.EncryptionKeys)
	}
}

func TestErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		set     map[string]string
		unset   string
		wantVar string
	}{
		{set: map[string]string{"TOKEN_REFRESH_AHEAD": "soon"}, wantVar: "TOKEN_REFRESH_AHEAD"},
		{set: map[string]string{"TOKEN_REFRESH_AHEAD": "-1m"}, wantVar: "TOKEN_REFRESH_AHEAD"},
		{set: map[string]string{"REDIS_URL": "http://x"}, wantVar: "REDIS_URL"},
		{set: map[string]string{"DATABASE_URL": "mysql://x"}, wantVar: "DATABASE_URL"},
		{set: map[string]string{"GUSTO_API_URL": "ftp://x"}, wantVar: "GUSTO_API_URL"},
		{set: map[string]string{"DATABASE_MAX_CONNS": "ten"}, wantVar: "DATABASE_MAX_CONNS"},
		{set: map[string]string{"TOKEN_ENCRYPTION_KEYS": "k1:c2hvcnQ="}, wantVar: "TOKEN_ENCRYPTION_KEYS"},
		{set: map[string]string{"TOKEN_ENCRYPTION_KEYS": "nokey"}, wantVar: "TOKEN_ENCRYPTION_KEYS"},
		{set: map[string]string{"TOKEN_ENCRYPTION_KEYS": goodKey + "," + goodKey}, wantVar: "TOKEN_ENCRYPTION_KEYS"},
		{unset: "GUSTO_CLIENT_SECRET", wantVar: "GUSTO_CLIENT_SECRET"},
		{unset: "TOKEN_ENCRYPTION_KEYS", wantVar: "TOKEN_ENCRYPTION_KEYS"},
	}
	for _, tc := range cases {
		e := full()
		for k, v := range tc.set {
			e[k] = v
		}
		delete(e, tc.unset)
		var c worker
		err := ParseFrom(&c, e)
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.wantVar {
			t.Errorf("%v/%s: got %v, want an error naming %s", tc.set, tc.unset, err, tc.wantVar)
			continue
		}
		if strings.Contains(err.Error(), "very-secret-value") || strings.Contains(err.Error(), "AAECAwQF") {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}

func TestSecretsRedactedWhenPrinted(t *testing.T) {
	var c worker
	if err := ParseFrom(&c, full()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		c.ClientSecret.String(), c.EncryptionKeys.String(),
	} {
		if strings.Contains(s, "very-secret") || strings.Contains(s, "AAECAwQF") {
			t.Fatalf("printed secret: %s", s)
		}
	}
	if c.ClientSecret.Reveal() != "very-secret-value" {
		t.Fatal("Reveal lost the value")
	}
}

func TestBinaries(t *testing.T) {
	e := full()
	e["OAUTH_STATE_KEY"] = "0123456789abcdef0123"
	e["DASHBOARD_BEARER_TOKEN"] = "bearer-secret"
	var w Worker
	var s Scheduler
	var d Dashboard
	for _, dst := range []any{&w, &s, &d} {
		if err := ParseFrom(dst, e); err != nil {
			t.Fatalf("%T: %v", dst, err)
		}
	}
	if w.Concurrency != 10 || w.BatchSize != 500 || s.Interval != time.Hour || !d.ReadOnly || w.PageBytesBudget != 64<<20 || w.RateLimit != 200 {
		t.Fatalf("defaults: %+v %+v %d %d", w.Concurrency, s.Interval, w.PageBytesBudget, w.RateLimit)
	}
	for v, want := range map[string]ByteSize{"8MiB": 8 << 20, "1GiB": 1 << 30, "2048KiB": 2 << 20, "1048576": 1 << 20} {
		e2 := full()
		e2["WORKER_PAGE_BYTES_BUDGET"] = v
		var w2 Worker
		if err := ParseFrom(&w2, e2); err != nil || w2.PageBytesBudget != want {
			t.Errorf("WORKER_PAGE_BYTES_BUDGET=%s: %d, %v; want %d", v, w2.PageBytesBudget, err, want)
		}
	}
	if w.Heartbeat != 2*time.Second || w.Lease != 6*time.Second || s.Liveness != w.Liveness {
		t.Fatalf("liveness defaults: worker %+v, scheduler %+v", w.Liveness, s.Liveness)
	}
	bad := []struct{ k, v, want string }{
		{"WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY"},
		{"HTTP_ADDR", "nonsense", "HTTP_ADDR"},
		{"LOG_LEVEL", "loud", "LOG_LEVEL"},
		{"SYNC_JITTER", "2", "SYNC_JITTER"},
		{"SYNC_HEARTBEAT", "0s", "SYNC_HEARTBEAT"},
		{"SYNC_LEASE", "3s", "SYNC_LEASE"}, // less than twice the 2 s heartbeat
		{"WORKER_PAGE_BYTES_BUDGET", "lots", "WORKER_PAGE_BYTES_BUDGET"},
		{"WORKER_PAGE_BYTES_BUDGET", "-5MiB", "WORKER_PAGE_BYTES_BUDGET"},
		{"WORKER_PAGE_BYTES_BUDGET", "1KiB", "WORKER_PAGE_BYTES_BUDGET"},
	}
	for _, b := range bad {
		e2 := full()
		e2[b.k] = b.v
		var err error
		if b.k == "SYNC_JITTER" {
			err = ParseFrom(&Scheduler{}, e2)
		} else {
			err = ParseFrom(&Worker{}, e2)
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != b.want {
			t.Errorf("%s=%s: got %v", b.k, b.v, err)
		}
	}
	delete(e, "DASHBOARD_BEARER_TOKEN")
	var ce *Error
	if err := ParseFrom(&Dashboard{}, e); !errors.As(err, &ce) || ce.Var != "DASHBOARD_USER" {
		t.Fatalf("dashboard without auth: %v", err)
	}
}

// TestWorkerID: WORKER_ID defaults to host-pid here, the one place a worker
// id is defaulted, and a value given is kept.
func TestWorkerID(t *testing.T) {
	var w Worker
	if err := ParseFrom(&w, full()); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if want := host + "-" + strconv.Itoa(os.Getpid()); w.ID != want || DefaultWorkerID() != want {
		t.Fatalf("default WORKER_ID = %q (DefaultWorkerID %q), want %q", w.ID, DefaultWorkerID(), want)
	}
	e := full()
	e["WORKER_ID"] = "worker-7"
	w = Worker{}
	if err := ParseFrom(&w, e); err != nil || w.ID != "worker-7" {
		t.Fatalf("WORKER_ID=worker-7: ID %q, %v", w.ID, err)
	}
}

// TestGustoAPIVersion: GUSTO_API_VERSION defaults to the client's default
// (Gusto's current stable version), and a value that is not a calendar date
// is refused naming the variable.
func TestGustoAPIVersion(t *testing.T) {
	base := map[string]string{"GUSTO_CLIENT_ID": "id", "GUSTO_CLIENT_SECRET": "secret", "GUSTO_REDIRECT_URI": "https://app.test/cb"}
	var g Gusto
	if err := ParseFrom(&g, base); err != nil {
		t.Fatal(err)
	}
	if g.APIVersion != gusto.DefaultAPIVersion {
		t.Fatalf("default GUSTO_API_VERSION %q, want gusto.DefaultAPIVersion %q", g.APIVersion, gusto.DefaultAPIVersion)
	}
	for _, bad := range []string{"2026-02-30", "latest", "2026-6-15", " "} {
		env := maps.Clone(base)
		env["GUSTO_API_VERSION"] = bad
		var g Gusto
		err := ParseFrom(&g, env)
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != "GUSTO_API_VERSION" {
			t.Fatalf("GUSTO_API_VERSION=%q: %v, want a *Error naming GUSTO_API_VERSION", bad, err)
		}
	}
	env := maps.Clone(base)
	env["GUSTO_API_VERSION"] = "2025-11-15"
	if err := ParseFrom(&g, env); err != nil || g.APIVersion != "2025-11-15" {
		t.Fatalf("GUSTO_API_VERSION=2025-11-15: %q, %v", g.APIVersion, err)
	}
}

// TestDashboardPasswordStrength: DASHBOARD_PASSWORD shorter than 16
// characters, with fewer than 8 different ones, or containing the user is
// refused at start-up by name, without quoting it; a strong one, or a
// bearer token alone, starts.
func TestDashboardPasswordStrength(t *testing.T) {
	env := func(user, password string) map[string]string {
		e := full()
		e["OAUTH_STATE_KEY"] = "state-key-0123456789abcdef"
		e["DASHBOARD_USER"], e["DASHBOARD_PASSWORD"] = user, password
		return e
	}
	for _, pw := range []string{"x", "gustosync-demo", "REPLACE_ME", "aaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababab",
		"abcdabcdabcdabcdabcd", "my-operator-password-2026", "MY-OPERATOR-2026-xyz"} {
		var ce *Error
		err := ParseFrom(&Dashboard{}, env("operator", pw))
		if !errors.As(err, &ce) || ce.Var != "DASHBOARD_PASSWORD" {
			t.Errorf("password %q: %v, want refused as DASHBOARD_PASSWORD", pw, err)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
	for _, pw := range []string{"correct horse battery staple", "0123456789abcdef", "gustosync-demo-password", "Zr8x2Qm4Lw7vNp3T"} {
		if err := ParseFrom(&Dashboard{}, env("operator", pw)); err != nil {
			t.Errorf("password %q refused: %v", pw, err)
		}
	}
	e := env("", "")
	e["DASHBOARD_BEARER_TOKEN"] = "a-bearer-token-of-enough-length"
	if err := ParseFrom(&Dashboard{}, e); err != nil {
		t.Errorf("bearer token alone: %v", err)
	}
}
