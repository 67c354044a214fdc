package membudget

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// DefaultBytes is the default budget (WORKER_PAGE_BYTES_BUDGET): 64 MiB.
const DefaultBytes int64 = 64 << 20

// ErrFull is returned by Holder.Acquire when the holder already holds pages
// and the budget has not enough free at once: commit what is held (which
// releases it), then ask again.
var ErrFull = errors.New("membudget: page budget full; commit the pages held before reading more")

// Budget is a worker's budget of page bytes. It is safe for concurrent use.
type Budget struct {
	size  int64
	sem   *semaphore.Weighted
	inUse atomic.Int64
	peak  atomic.Int64
	waits atomic.Int64
	full  atomic.Int64
}

// New returns a budget of size bytes (at least 1).
func New(size int64) (*Budget, error) {
	if size < 1 {
		return nil, fmt.Errorf("membudget: size must be at least 1 byte (got %d)", size)
	}
	return &Budget{size: size, sem: semaphore.NewWeighted(size)}, nil
}

// Size returns the budget in bytes.
func (b *Budget) Size() int64 { return b.size }

// InUse returns the bytes reserved now.
func (b *Budget) InUse() int64 { return b.inUse.Load() }

// Peak returns the most bytes ever reserved at once.
func (b *Budget) Peak() int64 { return b.peak.Load() }

// Waits returns how many reservations had to wait for the budget, and Full
// how many were answered ErrFull.
func (b *Budget) Waits() int64 { return b.waits.Load() }

// Full returns how many reservations were answered ErrFull.
func (b *Budget) Full() int64 { return b.full.Load() }

func (b *Budget) took(n int64) {
	now := b.inUse.Add(n)
	for {
		p := b.peak.Load()
		if now <= p || b.peak.CompareAndSwap(p, now) {
			return
		}
	}
}

// Holder is what one sync attempt holds of the budget: the pages it read
// and has not committed. Its methods are safe for concurrent use, but one
// attempt uses it at a time. A nil *Holder holds nothing and never waits.
type Holder struct {
	b    *Budget
	mu   sync.Mutex
	held int64
}

// Holder returns an empty holder for one attempt.
func (b *Budget) Holder() *Holder { return &Holder{b: b} }

// Budget returns the size of the budget the holder draws from (the most
// one reservation can take).
func (h *Holder) Budget() int64 { return h.b.size }

// Held returns the bytes the holder holds.
func (h *Holder) Held() int64 {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// Acquire reserves n bytes for a page about to be read. n above the budget
// is reserved as the whole budget. A holder that holds nothing waits until
// the bytes are free (or ctx ends); one that holds pages takes them only if
// they are free at once, else returns ErrFull without waiting.
func (h *Holder) Acquire(ctx context.Context, n int64) error {
	if h == nil || n <= 0 {
		return nil
	}
	n = min(n, h.b.size)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.b.sem.TryAcquire(n) {
		h.held += n
		h.b.took(n)
		return nil
	}
	if h.held > 0 {
		h.b.full.Add(1)
		return ErrFull
	}
	h.b.waits.Add(1)
	if err := h.b.sem.Acquire(ctx, n); err != nil {
		return fmt.Errorf("membudget: waiting for %d bytes of page budget: %w", n, err)
	}
	h.held += n
	h.b.took(n)
	return nil
}

// Shrink gives back n of the bytes held (a page turned out smaller than
// reserved).
func (h *Holder) Shrink(n int64) {
	if h == nil || n <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n = min(n, h.held)
	h.held -= n
	h.b.inUse.Add(-n)
	h.b.sem.Release(n)
}

// Release gives back everything the holder holds: its pages were committed
// or dropped. It is idempotent.
func (h *Holder) Release() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held > 0 {
		h.b.inUse.Add(-h.held)
		h.b.sem.Release(h.held)
		h.held = 0
	}
}

type ctxKey struct{}

// WithHolder returns ctx carrying h: the gusto client reserves the pages it
// reads under ctx from h.
func WithHolder(ctx context.Context, h *Holder) context.Context {
	return context.WithValue(ctx, ctxKey{}, h)
}

// HolderFrom returns the holder ctx carries, or nil.
func HolderFrom(ctx context.Context) *Holder {
	h, _ := ctx.Value(ctxKey{}).(*Holder)
	return h
}
