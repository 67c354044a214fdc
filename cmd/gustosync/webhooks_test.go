package main_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/gustoevents"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/tokens"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// TestWebhooksSubscribeListVerify runs `gustosync webhooks subscribe`,
// `verify` and `list` against the simulator: the verification token the
// intake stored (here a stand-in endpoint storing it as the intake does)
// is confirmed with Gusto, becomes a signing key, and the subscription is
// listed verified; a verify with no confirmed token fails and marks nothing.
func TestWebhooksSubscribeListVerify(t *testing.T) {
	ctx := context.Background()
	const cid, secret = "cid-cli-hooks", "csecret-cli-hooks-0123456789"
	sim, err := gustosim.New(gustosim.Config{ClientID: cid, ClientSecret: secret, RedirectURI: "https://ops.example.com/cb", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = sim.Close() })
	db := pgtest.New(t)
	keysEnv, key := newKeyEnv(t, "k1")
	ring, err := tokens.NewKeyring(config.Keys{key})
	if err != nil {
		t.Fatal(err)
	}
	store := gustoevents.NewStore(db.Gorm, ring)
	intake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var v struct {
			VerificationToken string `json:"verification_token"`
		}
		if json.Unmarshal(b, &v) == nil && v.VerificationToken != "" {
			_ = store.AddPendingKey(r.Context(), v.VerificationToken)
		}
	}))
	t.Cleanup(intake.Close)
	vars := []string{"GUSTO_API_URL=" + srv.URL, "GUSTO_CLIENT_ID=" + cid, "GUSTO_CLIENT_SECRET=" + secret, "DATABASE_URL=" + db.URL, "TOKEN_ENCRYPTION_KEYS=" + keysEnv}

	// A forged token someone POSTed first is never confirmed.
	if err := store.AddPendingKey(ctx, "forged-token"); err != nil {
		t.Fatal(err)
	}
	r := gustosync(t, []string{"webhooks", "subscribe", "--url", intake.URL}, vars...)
	id := regexp.MustCompile(`subscription ([0-9a-f-]{36}) pending`).FindStringSubmatch(r.stdout)
	if r.code != 0 || id == nil {
		t.Fatalf("subscribe = %d %q %q", r.code, r.stdout, r.stderr)
	}
	waitfor.Condition(t, 10*time.Second, "the verification token is stored", func() bool {
		p, err := store.PendingKeys(ctx)
		return err == nil && len(p) == 2
	})
	if r := gustosync(t, []string{"webhooks", "verify", id[1]}, vars...); r.code != 0 || !strings.Contains(r.stdout, "verified") {
		t.Fatalf("verify = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if p, _ := store.PendingKeys(ctx); len(p) != 1 || p[0] != "forged-token" {
		t.Fatalf("pending after verify = %v, want only the forged token left unconfirmed", p)
	}
	if r := gustosync(t, []string{"webhooks", "list"}, vars...); r.code != 0 || !strings.Contains(r.stdout, id[1]+"\tverified") {
		t.Fatalf("list = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := gustosync(t, []string{"webhooks", "verify", id[1]}, vars...); r.code != 1 || !strings.Contains(r.stderr, "none of the 1 verification tokens") {
		t.Fatalf("verify with only a forged token = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := gustosync(t, []string{"webhooks", "subscribe", "--url", "ftp://x"}, vars...); r.code != 2 {
		t.Fatalf("subscribe with a bad url = %d, want 2", r.code)
	}
}
