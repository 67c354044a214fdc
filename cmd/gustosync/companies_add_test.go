package main_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/tokens"
)

// newKeyEnv returns a fresh key as a TOKEN_ENCRYPTION_KEYS entry and as a config.Key.
func newKeyEnv(t *testing.T, id string) (string, config.Key) {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(b), config.Key{ID: id, Bytes: b}
}

type grantJSON struct {
	CompanyUUID  string `json:"company_uuid"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type,omitempty"`
	ExpiresIn    any    `json:"expires_in,omitempty"`
	Scope        string `json:"scope,omitempty"`
	CreatedAt    any    `json:"created_at,omitempty"`
}

func newGrantJSON() grantJSON {
	return grantJSON{CompanyUUID: uuid.NewString(), AccessToken: "acc-" + uuid.NewString(), RefreshToken: "ref-" + uuid.NewString(),
		TokenType: "bearer", ExpiresIn: 7200, Scope: "companies:read employees:read payrolls:read", CreatedAt: time.Now().Unix()}
}

// gustosyncStdin runs the binary with stdin.
func gustosyncStdin(t *testing.T, stdin string, args []string, vars ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, stdout, stderr := command(ctx, args, vars...)
	cmd.Stdin = strings.NewReader(stdin)
	return finish(t, cmd, cmd.Run(), stdout, stderr)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertNoSecret fails if any output, or any row of the token tables,
// holds one of the tokens.
func assertNoSecret(t *testing.T, db *pgtest.DB, r result, grants ...grantJSON) {
	t.Helper()
	var rows []string
	for _, q := range []string{`SELECT t::text FROM gusto_auth_tokens t`, `SELECT t::text FROM token_refresh_events t`} {
		var out []string
		if err := db.Gorm.Raw(q).Scan(&out).Error; err != nil {
			t.Fatal(err)
		}
		rows = append(rows, out...)
	}
	all := r.stdout + r.stderr + strings.Join(rows, "\n")
	for _, g := range grants {
		for _, s := range []string{g.AccessToken, g.RefreshToken} {
			if strings.Contains(all, s) || strings.Contains(all, hex.EncodeToString([]byte(s))) {
				t.Fatal("a token appears in the output or in a row in plaintext")
			}
		}
	}
}

func countRows(t *testing.T, db *pgtest.DB, where string) int {
	t.Helper()
	var n int
	if err := db.Gorm.Raw(`SELECT count(*) FROM gusto_auth_tokens ` + where).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCompaniesAdd(t *testing.T) {
	db := pgtest.New(t)
	keys, _ := newKeyEnv(t, "k1")
	vars := []string{"DATABASE_URL=" + db.URL, "TOKEN_ENCRYPTION_KEYS=" + keys}

	// An array on stdin.
	gs := []grantJSON{newGrantJSON(), newGrantJSON(), newGrantJSON()}
	r := gustosyncStdin(t, mustJSON(t, gs), []string{"companies", "add"}, vars...)
	if r.code != 0 || strings.Count(r.stdout, "stored company ") != 3 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if n := countRows(t, db, `WHERE key_id = 'k1' AND status = 'active'`); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	assertNoSecret(t, db, r, gs...)

	// One object from a file, without scope (a warning, not an error).
	g := newGrantJSON()
	g.Scope = ""
	path := filepath.Join(t.TempDir(), "grant.json")
	if err := os.WriteFile(path, []byte(mustJSON(t, g)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = gustosync(t, []string{"companies", "add", "--file", path}, vars...)
	if r.code != 0 || !strings.Contains(r.stderr, "warning: item 1: no scope given") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// Adding the same company again replaces its pair (version 2).
	g.AccessToken, g.RefreshToken = "acc-"+uuid.NewString(), "ref-"+uuid.NewString()
	r = gustosyncStdin(t, mustJSON(t, g), []string{"companies", "add"}, vars...)
	if r.code != 0 || !strings.Contains(r.stdout, "(version 2)") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	assertNoSecret(t, db, r, g)

	// created_at as a string: the unix seconds, or an RFC 3339 timestamp.
	for _, created := range []any{"1767644464", "2026-01-05T20:21:04Z"} {
		g := newGrantJSON()
		g.CreatedAt = created
		r = gustosyncStdin(t, mustJSON(t, g), []string{"companies", "add"}, vars...)
		if r.code != 0 {
			t.Fatalf("created_at %q: exit %d\nstderr: %s", created, r.code, r.stderr)
		}
		var issued time.Time
		if err := db.Gorm.Raw(`SELECT issued_at FROM gusto_auth_tokens WHERE company_uuid = ?`, g.CompanyUUID).Scan(&issued).Error; err != nil {
			t.Fatal(err)
		}
		if !issued.Equal(time.Unix(1767644464, 0)) {
			t.Fatalf("created_at %q stored as issued_at %s, want 2026-01-05T20:21:04Z", created, issued.UTC())
		}
	}
}

func TestCompaniesAddBadInput(t *testing.T) {
	db := pgtest.New(t)
	keys, _ := newKeyEnv(t, "k1")
	vars := []string{"DATABASE_URL=" + db.URL, "TOKEN_ENCRYPTION_KEYS=" + keys}
	good := newGrantJSON()
	mut := func(f func(*grantJSON)) grantJSON { g := newGrantJSON(); f(&g); return g }
	for name, tc := range map[string]struct {
		input string
		want  string
	}{
		"empty":           {"", "no input"},
		"not json":        {"company_uuid=x", "invalid JSON"},
		"truncated":       {`[{"company_uuid": "`, "invalid JSON"},
		"scalar":          {`42`, "want a JSON object or an array"},
		"empty array":     {`[]`, "empty array"},
		"item not object": {`[` + mustJSON(t, good) + `, 7]`, "item 2: not a JSON object"},
		"bad uuid":        {mustJSON(t, mut(func(g *grantJSON) { g.CompanyUUID = "acme" })), "item 1: company_uuid: not a uuid"},
		"no refresh":      {`[` + mustJSON(t, good) + `,` + mustJSON(t, mut(func(g *grantJSON) { g.RefreshToken = "" })) + `]`, "item 2: refresh_token: must not be empty"},
		"no access":       {mustJSON(t, mut(func(g *grantJSON) { g.AccessToken = "" })), "item 1: access_token: must not be empty"},
		"expires string":  {mustJSON(t, mut(func(g *grantJSON) { g.ExpiresIn = "7200s" })), "item 1: expires_in: want a number"},
		"expires missing": {mustJSON(t, mut(func(g *grantJSON) { g.ExpiresIn = nil })), "item 1: expires_in: required"},
		"expires zero":    {mustJSON(t, mut(func(g *grantJSON) { g.ExpiresIn = 0.0 })), "item 1: expires_in: must be a positive"},
		"scope missing":   {mustJSON(t, mut(func(g *grantJSON) { g.Scope = "companies:read" })), "item 1: scope: lacks required scopes employees:read, payrolls:read"},
		"token type":      {mustJSON(t, mut(func(g *grantJSON) { g.TokenType = "mac" })), "item 1: token_type"},
		"created garbage": {mustJSON(t, mut(func(g *grantJSON) { g.CreatedAt = "yesterday" })), "item 1: created_at: want unix seconds or an RFC 3339 timestamp"},
		"created future":  {mustJSON(t, mut(func(g *grantJSON) { g.CreatedAt = time.Now().Add(time.Hour).Unix() })), "in the future (more than 2m0s ahead"},
		"duplicate":       {`[` + mustJSON(t, good) + `,` + mustJSON(t, good) + `]`, "item 2: company_uuid: same company as item 1"},
	} {
		t.Run(name, func(t *testing.T) {
			r := gustosyncStdin(t, tc.input, []string{"companies", "add"}, vars...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want exit 2 and one line containing %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, good.AccessToken) || strings.Contains(r.stderr, good.RefreshToken) {
				t.Fatal("stderr quotes a token")
			}
		})
	}
	if n := countRows(t, db, ""); n != 0 {
		t.Fatalf("%d rows stored from bad input, want 0 (validate everything before storing)", n)
	}
	// Tokens are never taken from flags; the keyring is required.
	if r := gustosyncStdin(t, "{}", []string{"companies", "add", "--access-token", "x"}, vars...); r.code != 2 {
		t.Fatalf("a token flag was accepted: exit %d", r.code)
	}
	r := gustosyncStdin(t, mustJSON(t, good), []string{"companies", "add"}, "DATABASE_URL="+db.URL)
	if r.code != 2 || !strings.Contains(r.stderr, "TOKEN_ENCRYPTION_KEYS") {
		t.Fatalf("without keys: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := gustosync(t, []string{"companies", "add", "--file", "/nonexistent/grants.json"}, vars...); r.code != 2 {
		t.Fatalf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestTokensRekey: rows stored under an old key are re-encrypted under the
// new first key, idempotently, and every row is then readable with the new
// key alone.
func TestTokensRekey(t *testing.T) {
	db := pgtest.New(t)
	oldEnv, oldKey := newKeyEnv(t, "old")
	newEnv, newKey := newKeyEnv(t, "new")
	gs := []grantJSON{newGrantJSON(), newGrantJSON(), newGrantJSON(), newGrantJSON(), newGrantJSON()}
	if r := gustosyncStdin(t, mustJSON(t, gs), []string{"companies", "add"}, "DATABASE_URL="+db.URL, "TOKEN_ENCRYPTION_KEYS="+oldEnv); r.code != 0 {
		t.Fatalf("add: %s", r.stderr)
	}
	rotated := []string{"DATABASE_URL=" + db.URL, "TOKEN_ENCRYPTION_KEYS=" + newEnv + "," + oldEnv}
	r := gustosync(t, []string{"tokens", "rekey", "--batch", "2"}, rotated...)
	if r.code != 0 || !strings.Contains(r.stdout, "rekeyed 5 rows") {
		t.Fatalf("rekey: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = gustosync(t, []string{"tokens", "rekey"}, rotated...)
	if r.code != 0 || !strings.Contains(r.stdout, "rekeyed 0 rows") || !strings.Contains(r.stdout, "5 already under it") {
		t.Fatalf("second rekey: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertNoSecret(t, db, r, gs...)
	if n := countRows(t, db, `WHERE key_id = 'new'`); n != 5 {
		t.Fatalf("%d rows under the new key, want 5", n)
	}
	// With the old key gone, every token still opens.
	ring, err := tokens.NewKeyring(config.Keys{newKey})
	if err != nil {
		t.Fatal(err)
	}
	redis := redistest.Start(t)
	m, err := tokens.New(tokens.Config{Store: tokens.NewStore(db.Gorm, ring), Refresher: noRefresh{t}, Redis: redis.Client(), WorkerID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		tok, err := m.AccessToken(context.Background(), g.CompanyUUID)
		if err != nil || tok != g.AccessToken {
			t.Fatalf("company %s after rekey: %v", g.CompanyUUID, err)
		}
	}
	// The old key alone can no longer open them.
	oldRing, _ := tokens.NewKeyring(config.Keys{oldKey})
	m2, _ := tokens.New(tokens.Config{Store: tokens.NewStore(db.Gorm, oldRing), Refresher: noRefresh{t}, Redis: redis.Client(), WorkerID: "test"})
	var ke *tokens.KeyError
	if _, err := m2.AccessToken(context.Background(), gs[0].CompanyUUID); !errors.As(err, &ke) || ke.KeyID != "new" {
		t.Fatalf("old key alone: %v; want a *tokens.KeyError naming key new", err)
	}
	// ... and the company is key_missing (terminal) until the key is back.
	if n := countRows(t, db, `WHERE status = 'key_missing'`); n != 1 {
		t.Fatalf("%d key_missing rows, want 1", n)
	}
}

// noRefresh fails the test if a refresh is attempted: the stored tokens are fresh.
type noRefresh struct{ t *testing.T }

func (n noRefresh) RefreshToken(context.Context, string) (gusto.Token, error) {
	n.t.Error("unexpected refresh")
	return gusto.Token{}, context.Canceled
}
