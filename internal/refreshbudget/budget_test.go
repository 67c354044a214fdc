package refreshbudget

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/redistest"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestClosestToExpiryFirst: at 10 refreshes per second, five companies ask
// at once (in the order 3 1 4 0 2); slots go one per 100 ms. The first
// asker finds the room empty and takes the free slot; from then on the
// slots go in the order of the waiters' expiry, whatever order they ask in.
func TestClosestToExpiryFirst(t *testing.T) {
	r := redistest.Start(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	b, err := New(Config{Redis: r.Client(), Rate: 10, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base := c.t.Add(time.Hour)
	// Asking order differs from expiry order.
	order := []int{3, 1, 4, 0, 2}
	var admitted []int
	for step := 0; step < 10 && len(admitted) < 5; step++ {
		for _, i := range order {
			if contains(admitted, i) {
				continue
			}
			wait, err := b.Admit(ctx, fmt.Sprint("company-", i), base.Add(time.Duration(i)*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if wait == 0 {
				admitted = append(admitted, i)
			} else if wait > DefaultMaxWait {
				t.Fatalf("wait %s above MaxWait", wait)
			}
		}
		c.t = c.t.Add(100 * time.Millisecond)
	}
	if fmt.Sprint(admitted) != "[3 0 1 2 4]" {
		t.Fatalf("admitted in order %v, want [3 0 1 2 4]: the first asker, then by expiry, one per 100 ms", admitted)
	}
}

// TestStaleWaiterDropped: a waiter that stops asking loses its place after
// StaleAfter, so the next refresh is not blocked behind it forever.
func TestStaleWaiterDropped(t *testing.T) {
	r := redistest.Start(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	b, err := New(Config{Redis: r.Client(), Rate: 1, MaxWait: time.Second, StaleAfter: 2 * time.Second, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exp := c.t.Add(time.Hour)
	if w, _ := b.Admit(ctx, "first", exp); w != 0 {
		t.Fatalf("first ask deferred %s", w)
	}
	// "dead" (closest to expiry) asks once, then its worker dies.
	if w, _ := b.Admit(ctx, "dead", exp.Add(-time.Minute)); w == 0 {
		t.Fatal("admitted within the interval")
	}
	c.t = c.t.Add(1500 * time.Millisecond)
	if w, _ := b.Admit(ctx, "live", exp); w == 0 {
		t.Fatal("admitted ahead of a live waiter closer to expiry")
	}
	c.t = c.t.Add(2 * time.Second)
	if w, err := b.Admit(ctx, "live", exp); w != 0 || err != nil {
		t.Fatalf("after the dead waiter went stale: wait %s, %v; want admitted", w, err)
	}
}

// TestConfig: a rate that is not positive is refused.
func TestConfig(t *testing.T) {
	r := redistest.Start(t)
	for _, rate := range []float64{0, -1} {
		if _, err := New(Config{Redis: r.Client(), Rate: rate}); err == nil {
			t.Fatalf("rate %v accepted", rate)
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
