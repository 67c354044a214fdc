package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// TestStorm: 4 OS processes × 16 goroutines ask for the tokens of 20
// companies whose tokens just expired. Exactly 20 refreshes reach the
// simulator, every caller in every process gets the one committed token of
// its company, and the simulator accepts each of them. (Invariants 1 and 3
// across processes: without the lock, the in-process coalescing or the
// double-check, more than one refresh per company gets through.)
func TestStorm(t *testing.T) {
	const procs, goroutines, companies = 4, 16, 20
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second}, nil)
	var ids []string
	for range companies {
		ids = append(ids, e.addCompany())
	}
	e.expire()

	var children []*child
	for range procs {
		children = append(children, e.startChild(childStorm, "COMPANIES="+strings.Join(ids, ","),
			"GOROUTINES="+strconv.Itoa(goroutines)))
	}
	for _, c := range children {
		if got := c.line(t, 60*time.Second); got != "ready" {
			t.Fatalf("child said %q, want ready", got)
		}
	}
	for _, c := range children {
		if _, err := c.stdin.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
	}
	tokens := map[string]map[string]bool{}
	calls := 0
	for _, c := range children {
		var res childResult
		if err := json.Unmarshal([]byte(c.line(t, 90*time.Second)), &res); err != nil {
			t.Fatal(err)
		}
		if st := c.wait(t, 30*time.Second); !st.Success() {
			t.Fatalf("child exited with %v", st)
		}
		noteSecret(res.Issued...)
		if len(res.Errors) > 0 {
			t.Fatalf("a child got %d errors, first: %s", len(res.Errors), res.Errors[0])
		}
		calls += res.Calls
		for co, toks := range res.Tokens {
			noteSecret(toks...)
			if tokens[co] == nil {
				tokens[co] = map[string]bool{}
			}
			for _, tok := range toks {
				tokens[co][tok] = true
			}
		}
	}
	if calls != procs*goroutines*companies {
		t.Fatalf("%d calls answered, want %d", calls, procs*goroutines*companies)
	}
	n := e.sim.Counters()
	if n.Refreshes != companies || n.RefreshesRefused != 0 || n.Replays != 0 {
		t.Fatalf("simulator saw %d refreshes (%d refused, %d replays), want exactly %d, 0, 0",
			n.Refreshes, n.RefreshesRefused, n.Replays, companies)
	}
	for _, co := range ids {
		if n.RefreshesByCompany[co] != 1 {
			t.Fatalf("company %s refreshed %d times, want 1", co, n.RefreshesByCompany[co])
		}
		if len(tokens[co]) != 1 {
			t.Fatalf("company %s: callers got %d distinct tokens, want the one committed token", co, len(tokens[co]))
		}
		for tok := range tokens[co] {
			if err := e.use(co, tok); err != nil {
				t.Fatalf("company %s: the simulator refused the token handed out: %v", co, err)
			}
		}
	}
	if u := e.sim.Counters().Unauthorized; u != 0 {
		t.Fatalf("%d 401s", u)
	}
	t.Logf("storm: %d processes × %d goroutines × %d companies = %d calls; %d refreshes reached the simulator",
		procs, goroutines, companies, calls, n.Refreshes)
}

// TestPausedHolderLosesCAS (rule gusto, invariants 1 and 2): holder A gets
// a new pair from Gusto, then pauses past the lock's expiry; B takes the
// lock, refreshes and commits. A loses the compare-and-swap, throws its pair
// away unused and hands out B's token. The simulator never sees A's access
// token, and no call gets a 401.
func TestPausedHolderLosesCAS(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second, Revocation: gustosim.RuleGusto}, nil)
	co := e.addCompany()
	e.expire(co)

	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	short := func(c *Config) { c.LockExpiry, c.RefreshTimeout = 1500*time.Millisecond, time.Second }
	a, aRec, _ := e.manager("worker-a", func(c *Config) {
		short(c)
		c.Hooks.AfterRefreshBeforeCommit = func(string) {
			once.Do(func() {
				// Paused (a GC pause, a slow network) until the lock expired.
				waitfor.Condition(t, 10*time.Second, "A's lock to expire", func() bool {
					n, err := e.redis.Client().Exists(context.Background(), lockKeyPrefix+co).Result()
					return err == nil && n == 0
				})
				close(paused)
				<-release
			})
		}
	})
	b, bRec, _ := e.manager("worker-b", short)

	type result struct {
		tok string
		err error
	}
	aDone := make(chan result, 1)
	go func() {
		tok, err := a.AccessToken(context.Background(), co)
		aDone <- result{tok, err}
	}()
	select {
	case <-paused:
	case r := <-aDone:
		t.Fatalf("A returned before pausing: %v", r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("A never reached the pause")
	}
	bTok, err := b.AccessToken(context.Background(), co)
	if err != nil {
		t.Fatalf("B: %v", err)
	}
	if err := e.use(co, bTok); err != nil {
		t.Fatalf("B's token refused: %v", err)
	}
	close(release)
	r := <-aDone
	if r.err != nil {
		t.Fatalf("A: %v", r.err)
	}
	aPairs, bPairs := aRec.pairs(), bRec.pairs()
	if len(aPairs) != 1 || len(bPairs) != 1 {
		t.Fatalf("A got %d pairs, B %d; want 1 each", len(aPairs), len(bPairs))
	}
	if r.tok != bTok || r.tok == aPairs[0].AccessToken {
		t.Fatal("A handed out its own uncommitted token instead of the committed one")
	}
	if err := e.use(co, r.tok); err != nil {
		t.Fatalf("A's token refused: %v", err)
	}
	if uses := e.sim.AccessTokenUses(aPairs[0].AccessToken); uses != 0 {
		t.Fatalf("the simulator saw A's discarded access token %d times, want 0", uses)
	}
	if u := e.sim.Counters().Unauthorized; u != 0 {
		t.Fatalf("%d 401s, want none", u)
	}
	evs := e.events(co)
	if countOutcome(evs, OutcomeCASLost) != 1 || countOutcome(evs, OutcomeRefreshed) != 1 {
		t.Fatalf("events %v; want one refreshed (B) and one cas_lost (A)", outcomes(evs))
	}
	if got := metricValue(t, a.metrics.casConflicts); got != 1 {
		t.Fatalf("A's CAS conflicts metric = %v, want 1", got)
	}
	// A cached the committed token: the next call is the fast path.
	if tok, _ := a.AccessToken(context.Background(), co); tok != bTok {
		t.Fatal("A's next call returned another token")
	}
}

// TestCrashBetweenRefreshAndCommit: a child process is killed (SIGKILL) after
// Gusto answered the refresh and before the commit. Under rule gusto the
// stored refresh token still works and the next refresh succeeds (invariant
// 2: the new token was never used). Under strict and family the grant is
// gone: the company ends needs_reauth exactly once, with its reason, and
// further calls do not go back to Gusto.
func TestCrashBetweenRefreshAndCommit(t *testing.T) {
	for _, rule := range []gustosim.Rule{gustosim.RuleGusto, gustosim.RuleStrict, gustosim.RuleFamily} {
		t.Run(string(rule), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second, Revocation: rule}, nil)
			co := e.addCompany()
			e.expire(co)

			c := e.startChild(childCrash, "COMPANIES="+co, "LOCK_EXPIRY=1s")
			if got := c.line(t, 60*time.Second); got != "refreshed" {
				t.Fatalf("child said %q", got)
			}
			st := c.wait(t, 30*time.Second)
			if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child exit %v, want killed by SIGKILL", st)
			}
			if n := e.sim.Counters().Refreshes; n != 1 {
				t.Fatalf("simulator saw %d refreshes before the crash, want 1", n)
			}

			m, _, _ := e.manager("survivor", nil)
			ctx := context.Background()
			tok, err := m.AccessToken(ctx, co)
			if rule == gustosim.RuleGusto {
				if err != nil {
					t.Fatalf("after the crash: %v", err)
				}
				noteSecret(tok)
				if err := e.use(co, tok); err != nil {
					t.Fatalf("token refused: %v", err)
				}
				if s, _ := e.status(co); s != StatusActive {
					t.Fatalf("status %s, want active", s)
				}
				return
			}
			var re *ReauthRequiredError
			if !errors.As(err, &re) || !Terminal(err) {
				t.Fatalf("after the crash under %s: %v; want a terminal *ReauthRequiredError", rule, err)
			}
			s, reason := e.status(co)
			if s != StatusNeedsReauth || !strings.Contains(reason, "invalid_grant") {
				t.Fatalf("status %s (%q), want needs_reauth with the reason", s, reason)
			}
			before := e.sim.Counters()
			for range 3 {
				if _, err := m.AccessToken(ctx, co); !errors.As(err, &re) {
					t.Fatalf("later call: %v", err)
				}
			}
			// A second manager (another worker) sees the same, without calling Gusto.
			m2, rec2, _ := e.manager("other", nil)
			if _, err := m2.AccessToken(ctx, co); !errors.As(err, &re) {
				t.Fatalf("other worker: %v", err)
			}
			after := e.sim.Counters()
			if after.Refreshes+after.RefreshesRefused != before.Refreshes+before.RefreshesRefused || rec2.calls.Load() != 0 {
				t.Fatal("a needs_reauth company went back to the token endpoint")
			}
			if n := countOutcome(e.events(co), OutcomeRevoked); n != 1 {
				t.Fatalf("%d revoked events, want exactly 1", n)
			}
		})
	}
}

// TestInvalidGrantAfterSiblingRotation (rule strict, invariant 4): holder A
// has passed the send fence; right before its request the grant is rotated
// outside the fence (an operator exchanged the refresh token and stored the
// new pair with `gustosync companies add`), which kills the refresh token A
// holds. A's request is refused with invalid_grant, but the row's version
// moved: A uses the stored token and the company stays active.
func TestInvalidGrantAfterSiblingRotation(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second, Revocation: gustosim.RuleStrict}, nil)
	co := e.addCompany()
	e.expire(co)
	ctx := context.Background()
	a, _, _ := e.manager("worker-a", nil)
	var once sync.Once
	var stored string
	a.beforeSend = func(string) {
		once.Do(func() {
			rec, err := e.store.load(ctx, co)
			if err != nil {
				t.Error(err)
				return
			}
			tok, err := e.client(nil).RefreshToken(ctx, rec.RefreshToken)
			if err != nil {
				t.Error(err)
				return
			}
			noteSecret(tok.AccessToken, tok.RefreshToken)
			stored = tok.AccessToken
			if _, err := e.store.Put(ctx, Grant{CompanyUUID: co, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
				ExpiresIn: tok.ExpiresIn}, "operator"); err != nil {
				t.Error(err)
			}
		})
	}
	aTok, err := a.AccessToken(ctx, co)
	if err != nil {
		t.Fatalf("A: %v; want the stored token (the grant was rotated by someone else)", err)
	}
	if aTok != stored {
		t.Fatal("A did not take the stored token")
	}
	if n := e.sim.Counters().RefreshesRefused; n != 1 {
		t.Fatalf("%d refused refreshes, want A's one", n)
	}
	if s, _ := e.status(co); s != StatusActive {
		t.Fatalf("status %s, want active", s)
	}
	evs := e.events(co)
	if countOutcome(evs, OutcomeSiblingRefreshed) != 1 || countOutcome(evs, OutcomeRevoked) != 0 {
		t.Fatalf("events %v; want one sibling_refreshed and no revoked", outcomes(evs))
	}
	if err := e.use(co, aTok); err != nil {
		t.Fatal(err)
	}
}

// TestDoubleCheckedRefresh (invariant 3): A reads the row stale; before A
// takes the lock, B refreshes and commits. Under the lock A re-reads the row,
// finds it fresh and uses B's token without calling Gusto.
func TestDoubleCheckedRefresh(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second}, nil)
	co := e.addCompany()
	e.expire(co)
	a, aRec, _ := e.manager("worker-a", nil)
	b, _, _ := e.manager("worker-b", nil)
	var bTok string
	a.afterStaleRead = func(string) {
		var err error
		if bTok, err = b.AccessToken(context.Background(), co); err != nil {
			t.Error(err)
		}
	}
	aTok, err := a.AccessToken(context.Background(), co)
	if err != nil {
		t.Fatal(err)
	}
	if aTok != bTok || aRec.calls.Load() != 0 || e.sim.Counters().Refreshes != 1 {
		t.Fatalf("A made %d token requests (simulator saw %d refreshes); want 0 and 1, A using B's token",
			aRec.calls.Load(), e.sim.Counters().Refreshes)
	}
}

// TestRevocation: the user revokes the app in Gusto. The next refresh is
// refused while the refresh token is still the stored one: needs_reauth, one
// audit event, a terminal error. Through the data path too: a 401 on a data
// call invalidates the token, the refresh is refused, and the call fails
// with the terminal error.
func TestRevocation(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second}, nil)
	m, _, client := e.manager("worker", nil)
	ctx := context.Background()

	t.Run("at expiry", func(t *testing.T) {
		co := e.addCompany()
		if err := e.sim.Revoke(co); err != nil {
			t.Fatal(err)
		}
		e.expire(co)
		_, err := m.AccessToken(ctx, co)
		var re *ReauthRequiredError
		if !errors.As(err, &re) || !Terminal(err) || re.Company != co {
			t.Fatalf("AccessToken = %v; want a terminal *ReauthRequiredError", err)
		}
		if s, reason := e.status(co); s != StatusNeedsReauth || reason == "" {
			t.Fatalf("status %s %q", s, reason)
		}
		refused := e.sim.Counters().RefreshesRefused
		if _, err := m.AccessToken(ctx, co); !errors.As(err, &re) || e.sim.Counters().RefreshesRefused != refused {
			t.Fatalf("second call: %v (went back to Gusto: %v)", err, e.sim.Counters().RefreshesRefused != refused)
		}
		if n := countOutcome(e.events(co), OutcomeRevoked); n != 1 {
			t.Fatalf("%d revoked events, want 1", n)
		}
	})

	t.Run("on a data call", func(t *testing.T) {
		co := e.addCompany()
		// The stored token is fresh but was issued a while ago (past the
		// invalidation grace).
		if err := e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET issued_at = now() - interval '1 minute' WHERE company_uuid = ?`, co).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := client.Company(ctx, m, co); err != nil {
			t.Fatalf("before revocation: %v", err)
		}
		if err := e.sim.Revoke(co); err != nil {
			t.Fatal(err)
		}
		_, err := client.Company(ctx, m, co)
		var re *ReauthRequiredError
		if !errors.As(err, &re) || !Terminal(err) {
			t.Fatalf("data call after revocation = %v; want a terminal *ReauthRequiredError", err)
		}
		evs := e.events(co)
		if countOutcome(evs, OutcomeRevoked) != 1 || evs[len(evs)-1].Trigger != TriggerUnauthorized {
			t.Fatalf("events %v; want one revoked, triggered by the 401", outcomes(evs))
		}
	})
}

// TestTransient (invariant 5): the token endpoint answers 429 (Retry-After:
// 1) then 503; the manager backs off, honours Retry-After, and succeeds. When
// it keeps failing, the refresh gives up with a transient error and the
// company stays active.
func TestTransient(t *testing.T) {
	var mu sync.Mutex
	var plan []int // statuses to answer the next token requests with
	var seen []time.Time
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth/token" {
				mu.Lock()
				seen = append(seen, time.Now())
				var status int
				if len(plan) > 0 {
					status, plan = plan[0], plan[1:]
				}
				mu.Unlock()
				switch status {
				case http.StatusTooManyRequests:
					w.Header().Set("Retry-After", "1")
					http.Error(w, `{"errors":[{"message":"slow down"}]}`, status)
					return
				case http.StatusServiceUnavailable:
					http.Error(w, `{"errors":[{"message":"unavailable"}]}`, status)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second}, wrap)
	m, rec, _ := e.manager("worker", nil)
	ctx := context.Background()

	t.Run("recovers", func(t *testing.T) {
		co := e.addCompany()
		e.expire(co)
		mu.Lock()
		plan, seen = []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}, nil
		mu.Unlock()
		tok, err := m.AccessToken(ctx, co)
		if err != nil {
			t.Fatalf("AccessToken: %v", err)
		}
		if err := e.use(co, tok); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 3 {
			t.Fatalf("%d token requests, want 3", len(seen))
		}
		if gap := seen[1].Sub(seen[0]); gap < time.Second {
			t.Fatalf("retried %s after a 429 with Retry-After: 1", gap)
		}
		evs := e.events(co)
		if countOutcome(evs, OutcomeTransient) != 2 || countOutcome(evs, OutcomeRefreshed) != 1 || countOutcome(evs, OutcomeRevoked) != 0 {
			t.Fatalf("events %v", outcomes(evs))
		}
		if s, _ := e.status(co); s != StatusActive {
			t.Fatalf("status %s", s)
		}
	})

	t.Run("gives up without marking", func(t *testing.T) {
		co := e.addCompany()
		e.expire(co)
		mu.Lock()
		plan = []int{503, 503, 503, 503, 503, 503}
		mu.Unlock()
		calls := rec.calls.Load()
		_, err := m.AccessToken(ctx, co)
		var rerr *RefreshError
		if !errors.As(err, &rerr) || Terminal(err) || !gusto.Transient(err) || rerr.Attempts != 4 {
			t.Fatalf("AccessToken = %v; want a transient *RefreshError after 4 attempts", err)
		}
		if got := rec.calls.Load() - calls; got != 4 {
			t.Fatalf("%d token requests, want 4", got)
		}
		if s, _ := e.status(co); s != StatusActive {
			t.Fatalf("status %s, want active", s)
		}
		var failures int
		e.db.Gorm.Raw(`SELECT consecutive_failures FROM gusto_auth_tokens WHERE company_uuid = ?`, co).Scan(&failures)
		if failures != 4 {
			t.Fatalf("consecutive_failures = %d, want 4", failures)
		}
		mu.Lock()
		plan = nil
		mu.Unlock()
		if _, err := m.AccessToken(ctx, co); err != nil {
			t.Fatalf("once Gusto recovers: %v", err)
		}
	})
}

// TestSkew (invariant 9): with Gusto's clock 90 s ahead or behind, 5-second
// tokens are refreshed before Gusto's expiry (no 401 on any call), about
// once per lifetime, never on every call.
func TestSkew(t *testing.T) {
	for _, offset := range []time.Duration{90 * time.Second, -90 * time.Second} {
		t.Run(offset.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, gustosim.Config{TokenLifetime: 5 * time.Second, ClockOffset: offset, RateLimit: -1}, nil)
			co := e.addCompany()
			m, _, client := e.manager("worker", nil)
			ctx := context.Background()
			const run = 10 * time.Second
			calls := 0
			for end := time.Now().Add(run); time.Now().Before(end); calls++ {
				if _, err := client.Company(ctx, m, co); err != nil {
					t.Fatalf("call %d: %v", calls, err)
				}
				time.Sleep(40 * time.Millisecond) // pacing the calls, not synchronisation
			}
			n := e.sim.Counters()
			if n.Unauthorized != 0 {
				t.Fatalf("%d 401s with Gusto's clock %s off", n.Unauthorized, offset)
			}
			// 5 s tokens are refreshed after 3.5 s: about 3 refreshes in 10 s
			// (one more when Gusto is behind: the first stored pair looks old).
			if n.Refreshes < 2 || n.Refreshes > 6 {
				t.Fatalf("%d refreshes in %s of %d calls; want about one per lifetime", n.Refreshes, run, calls)
			}
			if got := m.Skew(); (got - offset).Abs() > 2*time.Second {
				t.Fatalf("measured skew %s, want about %s", got, offset)
			}
			if got := metricValue(t, m.metrics.skew); (got-offset.Seconds()) > 2 || (got-offset.Seconds()) < -2 {
				t.Fatalf("skew metric %v", got)
			}
			suiteMu.Lock()
			loud := strings.Contains(suiteLogs.String(), `"level":"ERROR","msg":"clock skew with gusto above threshold`)
			suiteMu.Unlock()
			if !loud {
				t.Fatal("a 90 s skew was not logged at error level")
			}
			t.Logf("offset %s: %d calls, %d refreshes, measured skew %s, no 401", offset, calls, n.Refreshes, m.Skew().Round(time.Millisecond))
		})
	}
}

// TestTerminalStatusesNeverCallGusto: paused and unknown companies fail
// at once with terminal errors.
func TestTerminalStatusesNeverCallGusto(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second}, nil)
	m, rec, _ := e.manager("worker", nil)
	ctx := context.Background()
	co := e.addCompany()
	if _, err := m.AccessToken(ctx, co); err != nil {
		t.Fatal(err)
	}
	e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET status = 'paused', status_reason = 'operator' WHERE company_uuid = ?`, co)
	e.expire(co)
	m.forget(co, "")
	_, err := m.AccessToken(ctx, co)
	var pe *PausedError
	if !errors.As(err, &pe) || !Terminal(err) {
		t.Fatalf("paused: %v", err)
	}
	_, err = m.AccessToken(ctx, "6a1c2b9e-1111-4222-8333-444455556666")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !Terminal(err) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := m.AccessToken(ctx, "not a uuid"); !errors.Is(err, ErrInvalidCompany) {
		t.Fatalf("bad id: %v", err)
	}
	if rec.calls.Load() != 0 {
		t.Fatal("called the token endpoint")
	}
}

// TestInvalidate: a 401 marks the stored token stale for every process,
// unless a sibling already replaced it.
func TestInvalidate(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second}, nil)
	ctx := context.Background()
	co := e.addCompany()
	e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET issued_at = now() - interval '1 minute' WHERE company_uuid = ?`, co)
	a, aRec, _ := e.manager("a", nil)
	b, bRec, _ := e.manager("b", nil)
	old, err := a.AccessToken(ctx, co)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AccessToken(ctx, co); err != nil {
		t.Fatal(err)
	}
	if err := a.Invalidate(ctx, co, old); err != nil {
		t.Fatal(err)
	}
	// B's cache still holds the old token; B's next slow read sees the mark.
	b.forget(co, "")
	fresh, err := b.AccessToken(ctx, co)
	if err != nil || fresh == old || bRec.calls.Load() != 1 {
		t.Fatalf("B after the invalidation: %v (refreshes %d)", err, bRec.calls.Load())
	}
	evs := e.events(co)
	if evs[len(evs)-1].Trigger != TriggerUnauthorized {
		t.Fatalf("last event %+v, want trigger unauthorized", evs[len(evs)-1].Trigger)
	}
	// A late 401 for the old token changes nothing: B already replaced it.
	if err := a.Invalidate(ctx, co, old); err != nil {
		t.Fatal(err)
	}
	got, err := a.AccessToken(ctx, co)
	if err != nil || got != fresh || aRec.calls.Load() != 0 {
		t.Fatalf("A after a stale invalidation: %v (refreshes %d)", err, aRec.calls.Load())
	}
	// A 401 for a token issued moments ago (a missing scope) does not
	// trigger another refresh.
	if err := b.Invalidate(ctx, co, fresh); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.AccessToken(ctx, co); got != fresh || bRec.calls.Load() != 1 {
		t.Fatal("an invalidation within the grace refreshed again")
	}
	// An issue time in the future (a bad clock) is a negative age, read as
	// old: the 401 is believed and the token refreshed.
	if err := e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET issued_at = now() + interval '1 hour' WHERE company_uuid = ?`, co).Error; err != nil {
		t.Fatal(err)
	}
	if err := b.Invalidate(ctx, co, fresh); err != nil {
		t.Fatal(err)
	}
	b.forget(co, "")
	if got, err := b.AccessToken(ctx, co); err != nil || got == fresh || bRec.calls.Load() != 2 {
		t.Fatalf("a 401 for a token issued in the future: %v (refreshes %d), want a refresh", err, bRec.calls.Load())
	}
}

// TestMetricsRegistry: the metrics register on a private registry, and the
// companies-by-status collector reads the table.
func TestMetricsRegistry(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second}, nil)
	reg := prometheus.NewPedanticRegistry()
	metrics, err := NewMetrics(reg, e.store)
	if err != nil {
		t.Fatal(err)
	}
	e.addCompany()
	co := e.addCompany()
	e.db.Gorm.Exec(`UPDATE gusto_auth_tokens SET status = 'needs_reauth' WHERE company_uuid = ?`, co)
	m, _, _ := e.manager("w", func(c *Config) { c.Metrics = metrics })
	e.expire()
	var ok int
	for _, c := range []string{co} {
		if _, err := m.AccessToken(context.Background(), c); Terminal(err) {
			ok++
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "gustosync_token_companies" {
			continue
		}
		for _, mt := range f.GetMetric() {
			got[mt.GetLabel()[0].GetValue()] = mt.GetGauge().GetValue()
		}
	}
	if got["active"] != 1 || got["needs_reauth"] != 1 || got["paused"] != 0 || got["missing_scope"] != 0 || got["key_missing"] != 0 || len(got) != 5 {
		t.Fatalf("gustosync_token_companies = %v; want active 1, needs_reauth 1, paused 0, missing_scope 0, key_missing 0", got)
	}
	if len(families) < 6 || ok != 1 {
		t.Fatalf("gathered %d families", len(families))
	}
}

// metricValue reads a counter's or gauge's value.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func outcomes(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Trigger)+"/"+string(e.Outcome))
	}
	return out
}

// TestWorkerIDRequired: the manager takes the worker id as given (config
// defaults it): without one its audit rows would name nobody.
func TestWorkerIDRequired(t *testing.T) {
	e := newEnv(t, gustosim.Config{}, nil)
	_, rec, _ := e.manager("w", nil)
	cfg := testConfig("")
	cfg.Store, cfg.Refresher, cfg.Redis = NewStore(e.db.Gorm, e.ring), rec, e.redis.Client()
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "WorkerID is required") {
		t.Fatalf("New without WorkerID: %v, want WorkerID is required", err)
	}
}

// TestCommitSurvivesAnOutage (invariant 2, found by the chaos suite): Gusto
// answered with a new pair and, as it is being stored, PostgreSQL ends every
// backend of the pool again and again for most of a second (a failover,
// pg_terminate_backend). The commit keeps trying within its budget and
// stores the pair: under the strict rule the old refresh token is already
// spent, so losing the pair would lose the grant.
func TestCommitSurvivesAnOutage(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second, Revocation: gustosim.RuleStrict}, nil)
	co := e.addCompany()
	e.expire(co)
	admin, err := postgres.Open(context.Background(), pgtest.AdminURL(), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = postgres.Close(admin) })
	var terminated atomic.Int64
	outageOver := make(chan struct{})
	var once sync.Once
	m, rec, _ := e.manager("worker-a", func(c *Config) {
		c.Hooks.AfterRefreshBeforeCommit = func(string) {
			once.Do(func() {
				begun := make(chan struct{})
				go func() {
					defer close(outageOver)
					for end := time.Now().Add(800 * time.Millisecond); time.Now().Before(end); {
						var n int64
						if err := admin.Raw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()`,
							e.db.Name).Scan(&n).Error; err == nil {
							terminated.Add(n)
						}
						select {
						case <-begun:
						default:
							close(begun)
						}
					}
				}()
				<-begun // the commit starts inside the outage
			})
		}
	})
	tok, err := m.AccessToken(context.Background(), co)
	<-outageOver
	if err != nil {
		t.Fatalf("AccessToken through an outage between Gusto's answer and the commit: %v", err)
	}
	if terminated.Load() == 0 {
		t.Fatal("no backend was terminated: the test did not exercise the outage")
	}
	if got := len(rec.pairs()); got != 1 {
		t.Fatalf("%d refreshes, want 1", got)
	}
	if err := e.use(co, tok); err != nil {
		t.Fatalf("the committed token was refused: %v", err)
	}
	// The pool may still hold connections the outage ended: each fails one
	// statement before the pool drops it.
	var stored *record
	waitfor.Condition(t, 10*time.Second, "the row to be readable after the outage", func() bool {
		stored, err = e.store.load(context.Background(), co)
		return err == nil
	})
	if stored.Version != 2 || stored.AccessToken != tok {
		t.Fatalf("stored version %d, want the new pair at version 2", stored.Version)
	}
}
