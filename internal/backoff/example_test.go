package backoff_test

import (
	"fmt"
	"time"

	"github.com/gustosync/gustosync/internal/backoff"
)

// The token manager's default policy: the shortest and longest wait after
// each failure in a row, and what a server's Retry-After does.
func ExamplePolicy() {
	p := backoff.Policy{Base: 2 * time.Second, Max: 30 * time.Second}
	for n := 1; n <= 5; n++ {
		fmt.Printf("after failure %d: %s to %s\n", n, p.DelayAt(n, 0, 0), p.Ceiling(n))
	}
	fmt.Println("Retry-After 7s:", p.DelayAt(1, 7*time.Second, 0), "to", p.DelayAt(1, 7*time.Second, 0.999999).Round(time.Millisecond))
	// Output:
	// after failure 1: 1s to 2s
	// after failure 2: 2s to 4s
	// after failure 3: 4s to 8s
	// after failure 4: 8s to 16s
	// after failure 5: 15s to 30s
	// Retry-After 7s: 7s to 7.7s
}
