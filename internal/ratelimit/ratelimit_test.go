package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/ratelimit"
	"github.com/gustosync/gustosync/internal/redistest"
)

func newLimiter(t *testing.T, rdb redis.UniversalClient, o ratelimit.Options) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func wait(t *testing.T, l *ratelimit.Limiter, company string) gusto.Permit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := l.Wait(ctx, company)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// refused asserts that l gives company no permit within d.
func refused(t *testing.T, l *ratelimit.Limiter, company string, d time.Duration, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if _, err := l.Wait(ctx, company); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: Wait gave %v, want a deadline error", why, err)
	}
}

// state reads the budget's hash (see script.go).
func state(t *testing.T, rdb redis.UniversalClient, budget string) map[string]string {
	t.Helper()
	m, err := rdb.HGetAll(context.Background(), ratelimit.DefaultPrefix+budget).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func headers(limit, remaining int, resetIn time.Duration) gusto.RateHeaders {
	return gusto.RateHeaders{Status: 200, Limit: limit, Remaining: remaining, ResetIn: resetIn, HasReset: true}
}

func TestBudgetIsSharedAcrossLimiters(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// Two limiters on separate clients stand for two worker processes.
	o := ratelimit.Options{Limit: 6, Window: 30 * time.Second, Reserve: -1}
	a, b := newLimiter(t, srv.Client(), o), newLimiter(t, srv.Client(), o)
	const company = "5b9c4d7e-0000-4000-8000-000000000001"
	wait(t, a, company)
	// Six per 31 s, spread evenly: the next permit is ~5 s away, for both.
	refused(t, a, company, 200*time.Millisecond, "a right after a permit")
	refused(t, b, company, 200*time.Millisecond, "b right after a's permit")
	// Another company has its own budget.
	wait(t, b, "5b9c4d7e-0000-4000-8000-000000000002")
}

// TestHeadersLowerTheBudget: Gusto's X-RateLimit-Remaining (another
// consumer spent most of the window) and X-RateLimit-Reset replace the
// predicted window, and the rest is paced over the time Gusto says is left.
func TestHeadersLowerTheBudget(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	l := newLimiter(t, srv.Client(), ratelimit.Options{Limit: 100, Window: 2 * time.Second, Reserve: 2})
	p := wait(t, l, "c")
	// Predicted: 100 per 3 s, a permit every ~30 ms.
	if s := state(t, srv.Client(), "c"); s["rem"] != "99" || s["gen"] != "1" || s["seq"] != "1" {
		t.Fatalf("after one permit: %v", s)
	}
	p.Done(context.Background(), headers(150, 10, 30*time.Second))
	s := state(t, srv.Client(), "c")
	if s["rem"] != "10" || s["lim"] != "150" {
		t.Fatalf("after Gusto said 10 of 150 remain: %v, want rem 10 lim 150", s)
	}
	// 8 spendable (10 less the reserve) over 30 s: one every ~3.7 s.
	wait(t, l, "c")
	refused(t, l, "c", time.Second, "8 left for 30 s")
}

// TestLaterPermitsAreCounted: a response says what Gusto had counted when
// it served that request; permits granted after it (by any process) may not
// be counted yet, so they come off Gusto's Remaining.
func TestLaterPermitsAreCounted(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	o := ratelimit.Options{Limit: 1000, Window: time.Second, Reserve: -1}
	a, b := newLimiter(t, srv.Client(), o), newLimiter(t, srv.Client(), o)
	p1 := wait(t, a, "c")
	p2 := wait(t, b, "c")
	wait(t, a, "c")
	p1.Done(context.Background(), headers(1000, 500, 20*time.Second))
	if s := state(t, srv.Client(), "c"); s["rem"] != "498" {
		t.Fatalf("Gusto said 500 remain after the first of 3 permits: %v, want rem 498", s)
	}
	first := state(t, srv.Client(), "c")["reset"]
	// An older response saying more remain, or a later reset, never raises
	// the count or moves the reset later: each is only a bound.
	p2.Done(context.Background(), headers(1000, 900, 21*time.Second))
	if s := state(t, srv.Client(), "c"); s["rem"] != "498" || s["reset"] != first {
		t.Fatalf("a response saying more remain, later, moved the budget: %v (reset was %s)", s, first)
	}
}

// TestGustoStartedANewWindow: a reset well after the predicted one means
// Gusto opened a new window (the prediction was early): its numbers start a
// new generation, so the old window's low count does not starve it.
func TestGustoStartedANewWindow(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	l := newLimiter(t, srv.Client(), ratelimit.Options{Limit: 10, Window: 2 * time.Second})
	p := wait(t, l, "c")
	p.Done(context.Background(), headers(10, 7, 30*time.Second))
	if s := state(t, srv.Client(), "c"); s["gen"] != "2" || s["rem"] != "7" || s["seq"] != "0" {
		t.Fatalf("after a reset 27 s past the prediction: %v, want gen 2 rem 7", s)
	}
}

// TestBadHeadersFallBack: absurd or missing headers leave the budget as
// predicted from Options.Limit, and say so in the log, once per kind.
func TestBadHeadersFallBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	l := newLimiter(t, srv.Client(), ratelimit.Options{Limit: 1000, Window: time.Second, Reserve: -1, Logger: log})
	absurd := gusto.RateHeaders{Status: 200, Limit: -1, Remaining: -1, Problem: `X-RateLimit-Limit "-5" is outside 1..100000`}
	missing := gusto.RateHeaders{Status: 200, Limit: -1, Remaining: -1}
	for range 2 {
		wait(t, l, "c").Done(context.Background(), absurd)
		wait(t, l, "c").Done(context.Background(), missing)
	}
	// A response that never came changes nothing and logs nothing.
	wait(t, l, "c").Done(context.Background(), gusto.NoResponse)
	if s := state(t, srv.Client(), "c"); s["rem"] != "995" || s["lim"] != "" {
		t.Fatalf("after 5 permits with bad headers: %v, want rem 995 and no learned limit", s)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if n := strings.Count(out, "absurd rate-limit headers"); n != 1 || !strings.Contains(out, `is outside 1..100000`) {
		t.Errorf("absurd headers logged %d times (want 1, naming the header):\n%s", n, out)
	}
	if n := strings.Count(out, "no complete rate-limit headers"); n != 1 || !strings.Contains(out, "assumed_limit=1000") {
		t.Errorf("missing headers logged %d times (want 1, with the assumed limit):\n%s", n, out)
	}
}

// Test429HoldsEveryProcess: a 429 empties the window for every process
// until its Retry-After.
func Test429HoldsEveryProcess(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	o := ratelimit.Options{Limit: 1000, Window: time.Minute}
	a, b := newLimiter(t, srv.Client(), o), newLimiter(t, srv.Client(), o)
	wait(t, a, "c").Done(context.Background(), gusto.RateHeaders{Status: 429, Limit: -1, Remaining: -1, RetryAfter: 1500 * time.Millisecond})
	refused(t, b, "c", 500*time.Millisecond, "right after a 429 with Retry-After 1.5 s")
	wait(t, b, "c") // after the Retry-After, a new window
}

func TestWaitHonoursItsContext(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	l := newLimiter(t, srv.Client(), ratelimit.Options{Limit: 2, Window: time.Minute, Reserve: -1})
	wait(t, l, "c")
	// Too short a deadline is refused at once rather than slept through.
	short, cancelShort := context.WithTimeout(context.Background(), 5*time.Millisecond)
	_, err := l.Wait(short, "c")
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "after the deadline") {
		t.Fatalf("Wait within the interval: %v, want a deadline error", err)
	}
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	if _, err := l.Wait(gone, "c"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	l := newLimiter(t, srv.Client(), ratelimit.Options{})
	srv.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.Wait(ctx, "c"); err == nil {
		t.Fatal("Wait succeeded with Redis down: the request would go unpaced")
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	for _, o := range []ratelimit.Options{{Limit: -1}, {Window: time.Millisecond}, {Margin: -time.Second}} {
		if _, err := ratelimit.New(srv.Client(), o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// ownerOf maps companies to owners, as tokens.Manager.ResourceOwner does.
type ownerOf map[string]string

func (o ownerOf) RateKey(_ context.Context, company string) (string, error) { return o[company], nil }

// TestKeysShareABudget: with a KeyResolver, companies of one owner spend
// from one budget, and another owner's companies from their own.
func TestKeysShareABudget(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	owners := ownerOf{"c1": "owner-a", "c2": "owner-a", "c3": "owner-b"}
	l := newLimiter(t, srv.Client(), ratelimit.Options{Limit: 6, Window: 30 * time.Second, Reserve: -1, Keys: owners})
	wait(t, l, "c1")
	refused(t, l, "c2", 200*time.Millisecond, "c2 right after its owner's permit went to c1")
	wait(t, l, "c3")
	if s := state(t, srv.Client(), "owner-a"); s["seq"] != "1" {
		t.Fatalf("owner-a's budget: %v, want one permit", s)
	}
}

// TestSharedBudgetAgainstTheSimulator: three processes (limiters on their
// own Redis clients, clients of their own) spend one grant's budget with
// six goroutines against the simulator, which sends Gusto's headers and
// has another consumer spend a quarter of every window: no request is
// refused.
func TestSharedBudgetAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	sim, err := gustosim.New(gustosim.Config{ClientID: "app", ClientSecret: "secret", RedirectURI: "https://app.example.com/callback", RateLimit: 40, RateWindow: 3 * time.Second, OtherConsumer: 10})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	g, err := sim.CreateCompany(gustosim.CompanyOptions{Employees: 1, Payrolls: -1})
	if err != nil {
		t.Fatal(err)
	}
	var clients []*gusto.Client
	for range 3 {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = rdb.Close() })
		c, err := gusto.New(gusto.Options{BaseURL: hs.URL, Limiter: newLimiter(t, rdb, ratelimit.Options{Limit: 40, Window: 3 * time.Second})})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	const requests = 70
	var sent atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Go(func() {
			for sent.Add(1) <= requests {
				if _, err := clients[i%3].Company(ctx, gusto.StaticToken(g.Token.AccessToken), g.CompanyUUID); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a request failed: %v", err)
	}
	c := sim.Counters()
	if c.RateLimited != 0 || c.Requests[g.CompanyUUID] != requests {
		t.Fatalf("%d × 429 over %d requests (want 0 over %d)", c.RateLimited, c.Requests[g.CompanyUUID], requests)
	}
	if c.OtherConsumer[g.CompanyUUID] == 0 || c.OtherConsumerRefused[g.CompanyUUID] != 0 {
		t.Fatalf("the other consumer sent %d, refused %d: want some sent and none refused", c.OtherConsumer[g.CompanyUUID], c.OtherConsumerRefused[g.CompanyUUID])
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
