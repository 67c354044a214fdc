package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/ratelimit"
	"github.com/gustosync/gustosync/internal/redistest"
)

func TestBudgetIsSharedAcrossLimiters(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// Two limiters on separate clients stand for two worker processes.
	a, err := ratelimit.New(srv.Client(), ratelimit.Options{PerMinute: 6, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ratelimit.New(srv.Client(), ratelimit.Options{PerMinute: 6, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rate, burst := a.Limit(); rate != 3 || burst != 3 {
		t.Fatalf("limit: rate %d burst %d, want 3 and 3", rate, burst)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const company = "5b9c4d7e-0000-4000-8000-000000000001"
	// The burst is shared: a takes two, b the third.
	for _, l := range []*ratelimit.Limiter{a, a, b} {
		if err := l.Wait(ctx, company); err != nil {
			t.Fatal(err)
		}
	}
	// The next slot is 20 s away (3 per minute): neither may go now.
	for name, l := range map[string]*ratelimit.Limiter{"a": a, "b": b} {
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := l.Wait(short, company)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("limiter %s past the shared budget: %v, want a deadline error", name, err)
		}
	}
	// Another company has its own budget.
	if err := b.Wait(ctx, "5b9c4d7e-0000-4000-8000-000000000002"); err != nil {
		t.Fatal(err)
	}
}

func TestWaitBlocksUntilAllowed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// 120 per minute with a burst of 1: the next request is ~500 ms away.
	l, err := ratelimit.New(srv.Client(), ratelimit.Options{PerMinute: 120, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Wait(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	// Too short a deadline is refused at once rather than slept through.
	short, cancelShort := context.WithTimeout(ctx, 5*time.Millisecond)
	err = l.Wait(short, "c")
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait within the interval: %v, want a deadline error", err)
	}
	// With time to wait, Wait sleeps until the slot and returns nil.
	if err := l.Wait(ctx, "c"); err != nil {
		t.Fatalf("Wait with a long enough deadline: %v", err)
	}
	// A cancelled context ends the wait.
	gone, cancelGone := context.WithCancel(ctx)
	cancelGone()
	if err := l.Wait(gone, "c"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	l, err := ratelimit.New(srv.Client(), ratelimit.Options{PerMinute: 100})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Wait(ctx, "c"); err == nil {
		t.Fatal("Wait succeeded with Redis down: the request would go unpaced")
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	for _, o := range []ratelimit.Options{{}, {PerMinute: 10, Burst: 10}, {PerMinute: 10, Burst: -1}} {
		if _, err := ratelimit.New(srv.Client(), o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	l, err := ratelimit.New(srv.Client(), ratelimit.Options{PerMinute: 180})
	if err != nil {
		t.Fatal(err)
	}
	if rate, burst := l.Limit(); rate+burst != 180 || burst != 9 {
		t.Fatalf("defaults: rate %d burst %d", rate, burst)
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
	l, err := ratelimit.New(srv.Client(), ratelimit.Options{PerMinute: 6, Burst: 2, Keys: owners})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []string{"c1", "c2"} {
		if err := l.Wait(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	err = l.Wait(short, "c1")
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("c1 after its owner's burst went to c1 and c2: %v, want a deadline error", err)
	}
	if err := l.Wait(ctx, "c3"); err != nil {
		t.Fatalf("c3 of another owner: %v, want its own budget", err)
	}
}
