package gusto

import (
	"context"
	"errors"

	"github.com/gustosync/gustosync/internal/membudget"
)

// DefaultPageGuess is the body size reserved for a client's first page,
// before any page was read (see budgetedPage).
const DefaultPageGuess int64 = 256 << 10

// PageCost is how many budget bytes a page costs per byte of its body: the
// body as read, then its records decoded, each keeping its raw JSON, until
// the batch holding them commits.
const PageCost = 2

// errOverReserve: the body was larger than the read limit its reservation
// allowed (budgetedPage then reserves more and asks again).
var errOverReserve = errors.New("gusto: page body larger than its reservation")

// budgetedPage fetches one page under the page-bytes budget of the
// membudget.Holder in ctx (none: fetch as is). Before the body is read it
// reserves PageCost times the largest page body this client has read
// (DefaultPageGuess at first), and reads at most that much body; a larger
// body is dropped and the page asked again with twice the reservation (up
// to Options.MaxBodyBytes). Once read, the reservation shrinks to PageCost
// times the body. The Holder keeps it until the caller commits the page's
// rows (Holder.Release). A reservation as large as the whole budget reads
// up to MaxBodyBytes: a page larger than the whole budget is read alone
// (see package membudget). membudget.ErrFull comes back as is: the caller
// commits what it holds and asks for the page again.
func budgetedPage[T any](c *Client, ctx context.Context, fetch func(readLimit int64) ([]T, PageHeaders, int64, error)) ([]T, PageHeaders, error) {
	hold := membudget.HolderFrom(ctx)
	if hold == nil {
		items, h, _, err := fetch(0)
		return items, h, err
	}
	guess := max(c.pageGuess.Load(), DefaultPageGuess)
	for {
		guess = min(guess, c.maxBody)
		cost := min(PageCost*guess, hold.Budget())
		if err := hold.Acquire(ctx, cost); err != nil {
			return nil, noHeaders, err
		}
		readLimit := guess
		if cost >= hold.Budget() {
			readLimit = c.maxBody // the whole budget: the page goes alone
		}
		items, h, size, err := fetch(readLimit)
		if errors.Is(err, errOverReserve) && guess < c.maxBody {
			hold.Shrink(cost)
			guess *= 2
			continue
		}
		if err != nil {
			hold.Shrink(cost)
			return nil, noHeaders, err
		}
		for {
			g := c.pageGuess.Load()
			if size <= g || c.pageGuess.CompareAndSwap(g, size) {
				break
			}
		}
		hold.Shrink(cost - min(PageCost*size, cost))
		return items, h, nil
	}
}
