package gustosim_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gustosync/gustosync/internal/gusto"
	"github.com/gustosync/gustosync/internal/gustosim"
)

// Many goroutines refresh and page at once, while the configuration is
// updated and the counters read. Run with -race; the counters must add up
// exactly to what the clients saw.
func TestConcurrentRefreshAndPaging(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) { c.RateLimit = -1 })
	c := e.client(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const companies, pagers, rounds = 6, 3, 15
	var (
		wg                         sync.WaitGroup
		refreshed, refused, served atomic.Int64
		calls                      atomic.Int64
		failures                   = make(chan string, 1000)
	)
	fail := func(s string) {
		select {
		case failures <- s:
		default:
		}
	}
	grants := make([]gustosim.Grant, companies)
	for i := range grants {
		grants[i] = e.company(gustosim.CompanyOptions{Employees: 180, Payrolls: 20})
	}
	for _, g := range grants {
		var current atomic.Pointer[string]
		at := g.Token.AccessToken
		current.Store(&at)
		firstUse := make(chan struct{})

		// One owner refreshes the chain and uses each new token at once.
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt := g.Token.RefreshToken
			for round := range rounds {
				tok, err := c.RefreshToken(ctx, rt)
				if err != nil {
					fail("owner refresh: " + err.Error())
					return
				}
				refreshed.Add(1)
				rt = tok.RefreshToken
				a := tok.AccessToken
				current.Store(&a)
				calls.Add(1)
				if _, err := c.Company(ctx, gusto.StaticToken(a), g.CompanyUUID); err != nil {
					fail("owner call: " + err.Error())
				}
				if round == 0 {
					close(firstUse)
				}
			}
		}()
		// A stale worker replays the consent refresh token after the
		// owner's first new token was used: always refused (RuleGusto).
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-firstUse
			for range 3 {
				status, _, code := e.refresh(g.Token.RefreshToken)
				if status != http.StatusBadRequest || code != "invalid_grant" {
					fail("stale refresh: unexpected " + code)
					continue
				}
				refused.Add(1)
			}
		}()
		// Pagers walk the employees with whatever token is current.
		for range pagers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 2 {
					tok := *current.Load()
					for p, err := range c.Employees(ctx, gusto.StaticToken(tok), g.CompanyUUID, gusto.PageOptions{Per: 50}) {
						calls.Add(1)
						if err != nil {
							fail("pager: " + err.Error())
							break
						}
						served.Add(int64(len(p.Items)))
					}
				}
			}()
		}
	}
	// Meanwhile: configuration updates and snapshots.
	done := make(chan struct{})
	var side sync.WaitGroup
	side.Add(1)
	go func() {
		defer side.Done()
		for i := 0; i < 200; i++ {
			select {
			case <-done:
				return
			default:
			}
			e.sim.Update(func(c *gustosim.Config) { c.MaxPer = 100 + i%2 })
			_ = e.sim.Counters()
			if _, err := e.sim.Records(grants[i%companies].CompanyUUID, "payrolls"); err != nil {
				fail("records: " + err.Error())
			}
		}
	}()
	wg.Wait()
	close(done)
	side.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}

	got := e.sim.Counters()
	if got.Refreshes != refreshed.Load() || got.RefreshesRefused != refused.Load() {
		t.Fatalf("refreshes: simulator %d/%d refused, clients %d/%d", got.Refreshes, got.RefreshesRefused, refreshed.Load(), refused.Load())
	}
	var records, requests int64
	for _, g := range grants {
		records += got.RecordsServed[g.CompanyUUID]
		requests += got.Requests[g.CompanyUUID]
	}
	if records != served.Load() {
		t.Fatalf("records served: simulator %d, clients %d", records, served.Load())
	}
	if requests != calls.Load() {
		t.Fatalf("authenticated requests: simulator %d, clients %d", requests, calls.Load())
	}
	if got.Refreshes != companies*rounds || got.Replays != companies*3 || got.Unauthorized != 0 {
		t.Fatalf("refreshes %d replays %d unauthorized %d, want %d, %d, 0", got.Refreshes, got.Replays, got.Unauthorized, companies*rounds, companies*3)
	}
}
