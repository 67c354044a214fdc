package membudget_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/membudget"
)

func newBudget(t *testing.T, size int64) *membudget.Budget {
	t.Helper()
	b, err := membudget.New(size)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConcurrentHoldersNeverExceed: eight attempts reserving pages at
// random, committing (releasing) when told ErrFull or after a few pages,
// never hold more than the budget together, and never deadlock.
func TestConcurrentHoldersNeverExceed(t *testing.T) {
	t.Parallel()
	b := newBudget(t, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			h := b.Holder()
			defer h.Release()
			for pages := 0; pages < 300; {
				err := h.Acquire(ctx, 50+r.Int64N(300))
				switch {
				case errors.Is(err, membudget.ErrFull):
					h.Release() // commit what is held, then ask again
					continue
				case err != nil:
					errs <- err
					return
				}
				pages++
				if in := b.InUse(); in > b.Size() {
					errs <- errors.New("budget exceeded")
					return
				}
				if r.IntN(4) == 0 {
					h.Release()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if b.Peak() > b.Size() || b.InUse() != 0 {
		t.Fatalf("peak %d in use %d, want ≤ %d and 0", b.Peak(), b.InUse(), b.Size())
	}
	if b.Full() == 0 {
		t.Fatal("no ErrFull: the test did not press on the budget")
	}
}

// TestOversizedPageProgresses: a page larger than the whole budget
// reserves the whole budget; an attempt that holds pages is told to commit
// first; one that holds nothing waits until every other page is released,
// then goes alone.
func TestOversizedPageProgresses(t *testing.T) {
	t.Parallel()
	b := newBudget(t, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	other, big := b.Holder(), b.Holder()
	if err := other.Acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := big.Acquire(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := big.Acquire(ctx, 500); !errors.Is(err, membudget.ErrFull) {
		t.Fatalf("oversized page while holding: %v, want ErrFull", err)
	}
	big.Release()
	got := make(chan error, 1)
	go func() { got <- big.Acquire(ctx, 500) }()
	select {
	case err := <-got:
		t.Fatalf("oversized page read while another page is held: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	other.Release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if big.Held() != 100 || b.InUse() != 100 || b.Peak() != 100 {
		t.Fatalf("held %d in use %d peak %d, want the whole budget (100) each", big.Held(), b.InUse(), b.Peak())
	}
	big.Shrink(30)
	big.Release()
	big.Release() // idempotent
	if b.InUse() != 0 {
		t.Fatalf("in use %d after release, want 0", b.InUse())
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	b := newBudget(t, 10)
	h := b.Holder()
	if err := h.Acquire(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Holder().Acquire(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past the deadline: %v", err)
	}
	var none *membudget.Holder
	if err := none.Acquire(ctx, 5); err != nil || membudget.HolderFrom(context.Background()) != nil {
		t.Fatal("a nil holder must hold nothing and never wait")
	}
	if _, err := membudget.New(0); err == nil {
		t.Fatal("New(0) accepted")
	}
}
