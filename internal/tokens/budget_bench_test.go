package tokens

import (
	"container/heap"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/refreshbudget"
)

// budgetRefresher issues 2-hour pairs at the simulated time and notes when
// (simulated second) each refresh was sent and when each token expires.
type budgetRefresher struct {
	now     func() time.Time
	mu      sync.Mutex
	perSec  map[int64]int
	expires sync.Map // access token -> unix nanos of its stored expiration
	total   atomic.Int64
}

func (r *budgetRefresher) RefreshToken(ctx context.Context, refreshToken string) (gusto.Token, error) {
	now := r.now()
	r.total.Add(1)
	r.mu.Lock()
	r.perSec[now.Unix()]++
	r.mu.Unlock()
	tok := gusto.Token{AccessToken: "bench-a-" + uuid.NewString(), RefreshToken: "bench-r-" + uuid.NewString(),
		ExpiresIn: 7200, ReceivedAt: now}
	r.expires.Store(tok.AccessToken, expiration(now, 2*time.Hour).UnixNano())
	return tok, nil
}

// dueHeap orders companies by when their sync next asks for a token.
type dueHeap []dueItem

type dueItem struct {
	at      int64
	company string
}

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// BenchmarkRefreshBudget10k (issue 13, item 3): 10,000 companies onboarded
// in the same second with 2-hour tokens, every one in constant use, through
// one token manager with a fleet-wide budget of budgetRate refreshes per
// second, on real PostgreSQL and Redis, in simulated time (the manager's and
// the budget's clocks) from just before the first refresh window to past
// the tokens' expiry. It reports the peak refreshes sent in any simulated
// second (peak-refreshes/s, against budget/s), the tokens handed out after
// their expiry (expired-uses, must be 0), and the refreshes (must be one per
// company).
func BenchmarkRefreshBudget10k(b *testing.B) {
	const companies, budgetRate, pool = 10_000, 50.0, 16
	for b.Loop() {
		e := newEnv(b, gustosim.Config{TokenLifetime: time.Hour}, nil)
		ctx := context.Background()
		var simNow atomic.Int64
		onboard := time.Now().Truncate(time.Second)
		clock := func() time.Time { return time.Unix(0, simNow.Load()) }
		ids := make([]string, companies)
		exp0 := expiration(onboard, 2*time.Hour).UnixNano()
		refresher := &budgetRefresher{now: clock, perSec: map[int64]int{}}
		var wg sync.WaitGroup
		var putErr atomic.Value
		for w := range pool {
			wg.Go(func() {
				for i := w; i < companies; i += pool {
					ids[i] = uuid.NewString()
					tok := "bench-onboard-" + strconv.Itoa(i)
					refresher.expires.Store(tok, exp0)
					if _, err := e.store.Put(ctx, Grant{CompanyUUID: ids[i], AccessToken: tok, RefreshToken: tok + "-r",
						ExpiresIn: 7200, CreatedAt: onboard.Unix()}, "bench"); err != nil {
						putErr.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err, ok := putErr.Load().(error); ok {
			b.Fatal(err)
		}
		budget, err := refreshbudget.New(refreshbudget.Config{Redis: e.redis.Client(), Rate: budgetRate,
			MaxWait: 30 * time.Second, Now: clock})
		if err != nil {
			b.Fatal(err)
		}
		m, _, _ := e.manager("bench", func(c *Config) {
			c.Refresher, c.Budget, c.Now, c.StatusRecheck = refresher, budget, clock, 24*time.Hour
			c.Logger = nil
		})
		// From 10 s before the earliest window (expiry - 5 min - 2.5 min) to
		// 10 s past the expiry.
		start := exp0 - int64(7*time.Minute+40*time.Second)
		end := exp0 + int64(10*time.Second)
		simNow.Store(start)
		due := make(dueHeap, 0, companies)
		for _, id := range ids {
			due = append(due, dueItem{at: start, company: id})
		}
		heap.Init(&due)
		var expiredUses, errs atomic.Int64
		var firstErr atomic.Value
		for due.Len() > 0 && due[0].at <= end {
			now := max(simNow.Load(), due[0].at)
			simNow.Store(now)
			var batch []string
			for due.Len() > 0 && due[0].at <= now {
				batch = append(batch, heap.Pop(&due).(dueItem).company)
			}
			next := make([]int64, len(batch))
			var bw sync.WaitGroup
			for w := range min(pool, len(batch)) {
				bw.Go(func() {
					for i := w; i < len(batch); i += pool {
						tok, err := m.AccessToken(ctx, batch[i])
						next[i] = now + int64(20*time.Millisecond)
						if err != nil {
							errs.Add(1)
							firstErr.CompareAndSwap(nil, err)
							continue
						}
						if x, ok := refresher.expires.Load(tok); !ok || x.(int64) <= now {
							expiredUses.Add(1)
						}
						m.mu.RLock()
						if c := m.cache[batch[i]]; c != nil && c.refreshAt > now {
							next[i] = c.refreshAt
						}
						m.mu.RUnlock()
					}
				})
			}
			bw.Wait()
			for i, co := range batch {
				heap.Push(&due, dueItem{at: next[i], company: co})
			}
		}
		if err, ok := firstErr.Load().(error); ok {
			b.Fatalf("%d AccessToken errors, first: %v", errs.Load(), err)
		}
		peak := 0
		for _, n := range refresher.perSec {
			peak = max(peak, n)
		}
		b.ReportMetric(float64(peak), "peak-refreshes/s")
		b.ReportMetric(budgetRate, "budget/s")
		b.ReportMetric(float64(expiredUses.Load()), "expired-uses")
		b.ReportMetric(float64(refresher.total.Load()), "refreshes")
		b.ReportMetric(float64(len(refresher.perSec)), "seconds-refreshing")
	}
}
