package tokens

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// counterValue reads a counter without a *testing.T (child processes).
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.Counter.GetValue()
}

// TestStalledSender (invariant 1, the send fence; issue 13's must-show),
// under every revocation rule: worker A, a separate process, takes the
// refresh lock, finds the token stale, and is stopped (SIGSTOP) before its
// token request until its lock has expired; worker B refreshes and commits.
// When A resumes, its lock extension fails and it sends nothing: it takes
// B's token. The company stays active, the simulator sees one refresh and
// no replay, and the token both hand out works. Without the fence, A
// presents the refresh token B already exchanged: a replay, which under
// latest_wins (while B's token is unused) revokes B's committed pair, under
// strict is refused, under family kills the grant, and under the documented
// gusto rule is answered with a second pair.
func TestStalledSender(t *testing.T) {
	for _, rule := range []gustosim.Rule{gustosim.RuleGusto, gustosim.RuleLatestWins, gustosim.RuleStrict, gustosim.RuleFamily} {
		t.Run(string(rule), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second, Revocation: rule}, nil)
			co := e.addCompany()
			e.expire(co)

			a := e.startChild(childStall, "COMPANIES="+co, "LOCK_EXPIRY=2s")
			if got := a.line(t, 60*time.Second); got != "stalled" {
				t.Fatalf("child said %q, want stalled", got)
			}
			waitfor.Condition(t, 20*time.Second, "A's refresh lock to expire while A is stopped", func() bool {
				n, err := e.redis.Client().Exists(context.Background(), lockKeyPrefix+co).Result()
				return err == nil && n == 0
			})
			b, bRec, _ := e.manager("worker-b", nil)
			bTok, err := b.AccessToken(context.Background(), co)
			if err != nil {
				t.Fatalf("B: %v", err)
			}
			// B's token is not used before A resumes: under the gusto rule a
			// replay would then still be answered, revoking B's pair.
			if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			var res stallResult
			if err := json.Unmarshal([]byte(a.line(t, 60*time.Second)), &res); err != nil {
				t.Fatal(err)
			}
			noteSecret(res.Issued...)
			noteSecret(res.Token)
			if st := a.wait(t, 30*time.Second); !st.Success() {
				t.Fatalf("A exited with %v", st)
			}
			if res.Error != "" {
				t.Fatalf("A: %s; want B's token", res.Error)
			}
			if res.Token != bTok {
				t.Fatal("A did not hand out B's committed token")
			}
			if res.Calls != 0 || res.Aborts != 1 {
				t.Fatalf("A made %d token requests and %v fence aborts; want 0 and 1 (it must abort before sending)", res.Calls, res.Aborts)
			}
			if err := e.use(co, bTok); err != nil {
				t.Fatalf("the committed token was refused: %v", err)
			}
			if s, reason := e.status(co); s != StatusActive {
				t.Fatalf("status %s (%s), want active", s, reason)
			}
			n := e.sim.Counters()
			if n.Refreshes != 1 || n.Replays != 0 || n.RefreshesRefused != 0 || bRec.calls.Load() != 1 {
				t.Fatalf("simulator saw %d refreshes, %d replays, %d refused; want 1, 0, 0", n.Refreshes, n.Replays, n.RefreshesRefused)
			}
			if u := n.Unauthorized; u != 0 {
				t.Fatalf("%d 401s", u)
			}
		})
	}
}

// TestClaimFencesSend (invariant 1, the PostgreSQL half of the send fence):
// A has passed the lock check and claimed the row's version; right before
// its request a Redis failover drops the lock key, and B takes the lock for
// the same stale version. B's claim is refused while A's is live: B sends
// nothing, waits, and takes A's committed token. Without the claim, both
// present the same refresh token.
func TestClaimFencesSend(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second, Revocation: gustosim.RuleStrict}, nil)
	co := e.addCompany()
	e.expire(co)
	ctx := context.Background()

	bRefused := make(chan struct{})
	var refusedOnce, sendOnce sync.Once
	b, bRec, _ := e.manager("worker-b", nil)
	b.claimRefused = func(string) { refusedOnce.Do(func() { close(bRefused) }) }
	bDone := make(chan error, 1)
	var bTok string
	a, aRec, _ := e.manager("worker-a", nil)
	a.beforeSend = func(string) {
		sendOnce.Do(func() {
			if err := e.redis.Client().Del(ctx, lockKeyPrefix+co).Err(); err != nil {
				t.Error(err)
			}
			go func() {
				var err error
				bTok, err = b.AccessToken(ctx, co)
				bDone <- err
			}()
			select {
			case <-bRefused:
			case err := <-bDone:
				t.Errorf("B returned (%v) before its claim was refused", err)
			case <-time.After(20 * time.Second):
				t.Error("B never tried to claim")
			}
		})
	}
	aTok, err := a.AccessToken(ctx, co)
	if err != nil {
		t.Fatalf("A: %v", err)
	}
	select {
	case err := <-bDone:
		if err != nil {
			t.Fatalf("B: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("B never returned")
	}
	if bTok != aTok {
		t.Fatal("B did not take A's committed token")
	}
	if aRec.calls.Load() != 1 || bRec.calls.Load() != 0 {
		t.Fatalf("A sent %d token requests, B %d; want 1 and 0", aRec.calls.Load(), bRec.calls.Load())
	}
	n := e.sim.Counters()
	if n.Refreshes != 1 || n.Replays != 0 || n.RefreshesRefused != 0 {
		t.Fatalf("simulator saw %d refreshes, %d replays, %d refused; want 1, 0, 0", n.Refreshes, n.Replays, n.RefreshesRefused)
	}
	if s, _ := e.status(co); s != StatusActive {
		t.Fatalf("status %s", s)
	}
	if err := e.use(co, aTok); err != nil {
		t.Fatal(err)
	}
}

// TestClaimLapses: a claimer that died mid-request (its claim left behind,
// its lock gone) blocks the version's refresh only until the claim lapses;
// then the next sender claims and refreshes.
func TestClaimLapses(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second}, nil)
	co := e.addCompany()
	e.expire(co)
	ctx := context.Background()
	var version int64
	if err := e.db.Gorm.Raw(`SELECT version FROM gusto_auth_tokens WHERE company_uuid = ?`, co).Scan(&version).Error; err != nil {
		t.Fatal(err)
	}
	ok, err := e.store.claimRefresh(ctx, co, version, "dead-worker/1", 1500*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if ok, _ := e.store.claimRefresh(ctx, co, version, "other/2", time.Second); ok {
		t.Fatal("a second claimer got a live claim on the same version")
	}
	m, rec, _ := e.manager("worker", nil)
	var refused int
	m.claimRefused = func(string) { refused++ }
	tok, err := m.AccessToken(ctx, co)
	if err != nil {
		t.Fatalf("after the dead claimer's claim lapsed: %v", err)
	}
	if refused == 0 || rec.calls.Load() != 1 {
		t.Fatalf("claim refused %d times, %d requests; want the live claim honoured, then one request", refused, rec.calls.Load())
	}
	if err := e.use(co, tok); err != nil {
		t.Fatal(err)
	}
	var claimed *int64
	e.db.Gorm.Raw(`SELECT refresh_claimed_version FROM gusto_auth_tokens WHERE company_uuid = ?`, co).Scan(&claimed)
	if claimed != nil {
		t.Fatalf("claim left after the commit: version %d", *claimed)
	}
	if evs := e.events(co); !strings.Contains(string(evs[len(evs)-1].Outcome), "refreshed") {
		t.Fatal("last event is not the refresh")
	}
}

// TestLoserKeepsHonouredPair (invariant 1, rule gusto where the latest
// exchange wins): W got a pair from Gusto and was paused before its commit
// past its lock and its claim; L then claimed the same version and is about
// to present the same refresh token when W wakes. W's commit is refused
// while L's claim is live; L's exchange revokes W's pair (latest wins) and
// L commits; W loses the compare-and-swap and takes L's pair, the one Gusto
// honours. Without the claim check in the commit, W commits its pair, L's
// exchange revokes it, L loses the compare-and-swap and both hand out a
// revoked token.
func TestLoserKeepsHonouredPair(t *testing.T) {
	e := newEnv(t, gustosim.Config{TokenLifetime: 120 * time.Second, Revocation: gustosim.RuleLatestWins}, nil)
	co := e.addCompany()
	e.expire(co)
	ctx := context.Background()
	short := func(c *Config) { c.LockExpiry, c.RefreshTimeout = 1500*time.Millisecond, time.Second }
	paused, release, blocked := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var pauseOnce, blockOnce, sendOnce sync.Once
	w, _, _ := e.manager("worker-w", func(c *Config) {
		short(c)
		c.Hooks.AfterRefreshBeforeCommit = func(string) {
			pauseOnce.Do(func() {
				waitfor.Condition(t, 30*time.Second, "W's lock and claim to lapse", func() bool {
					n, err := e.redis.Client().Exists(ctx, lockKeyPrefix+co).Result()
					var live int64
					e.db.Gorm.Raw(`SELECT count(*) FROM gusto_auth_tokens WHERE company_uuid = ? AND refresh_claimed_until >= now()`, co).Scan(&live)
					return err == nil && n == 0 && live == 0
				})
				close(paused)
				<-release
			})
		}
	})
	w.commitBlocked = func(string) { blockOnce.Do(func() { close(blocked) }) }
	wDone := make(chan error, 1)
	var wTok string
	go func() {
		var err error
		wTok, err = w.AccessToken(ctx, co)
		wDone <- err
	}()
	select {
	case <-paused:
	case err := <-wDone:
		t.Fatalf("W returned before pausing: %v", err)
	case <-time.After(40 * time.Second):
		t.Fatal("W never paused")
	}
	l, _, _ := e.manager("worker-l", short)
	var wErr error
	wReturned := false
	l.beforeSend = func(string) {
		sendOnce.Do(func() {
			close(release)
			select {
			case <-blocked:
			case wErr = <-wDone:
				wReturned = true
			case <-time.After(15 * time.Second):
			}
		})
	}
	lTok, err := l.AccessToken(ctx, co)
	if err != nil {
		t.Fatalf("L: %v", err)
	}
	if !wReturned {
		select {
		case wErr = <-wDone:
		case <-time.After(40 * time.Second):
			t.Fatal("W never returned")
		}
	}
	if wErr != nil {
		t.Fatalf("W: %v", wErr)
	}
	noteSecret(wTok, lTok)
	if wTok != lTok {
		t.Fatal("W and L hand out different tokens")
	}
	if err := e.use(co, lTok); err != nil {
		t.Fatalf("the token both hand out was refused: %v", err)
	}
	if s, _ := e.status(co); s != StatusActive {
		t.Fatalf("status %s, want active", s)
	}
}
