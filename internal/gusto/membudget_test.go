package gusto

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gustosync/gustosync/internal/membudget"
)

// TestPagesReserveTheirBytes: a page walk under a membudget.Holder reserves
// PageCost times each body before it is read and keeps it (the caller
// releases at commit); a body larger than the reservation is asked again
// with a larger one; a failed page gives its reservation back.
func TestPagesReserveTheirBytes(t *testing.T) {
	pad := strings.Repeat("x", 6000)
	var requests, fail atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/companies/{id}/employees", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if fail.Load() == 1 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		var b strings.Builder
		b.WriteString("[")
		for i := range 100 { // ~600 KB: more than DefaultPageGuess
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"uuid":"e-%d","company_uuid":%q,"pad":%q}`, i, testCompany, pad)
		}
		b.WriteString("]")
		w.Header().Set("X-Total-Pages", "1")
		_, _ = io.WriteString(w, b.String())
	})
	c := newTestClient(t, mux, nil)
	budget, err := membudget.New(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	hold := budget.Holder()
	ctx := membudget.WithHolder(context.Background(), hold)
	var size int
	for p, err := range c.Employees(ctx, StaticToken(testAccess), testCompany, PageOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		size = len(p.Items)
	}
	if size != 100 || requests.Load() != 3 { // 256 KiB, 512 KiB, then 1 MiB
		t.Fatalf("%d items in %d requests, want 100 in 3", size, requests.Load())
	}
	body := c.pageGuess.Load()
	if body < 600_000 || hold.Held() != PageCost*body || budget.InUse() != hold.Held() {
		t.Fatalf("held %d for a body of %d, want %d", hold.Held(), body, PageCost*body)
	}
	// The next walk reserves the largest body seen at once; a failure gives
	// the reservation back and keeps what the holder held before.
	fail.Store(1)
	before := hold.Held()
	for _, err := range c.Employees(ctx, StaticToken(testAccess), testCompany, PageOptions{}) {
		if err == nil {
			t.Fatal("want the 500")
		}
	}
	if hold.Held() != before {
		t.Fatalf("held %d after a failed page, want %d", hold.Held(), before)
	}
	hold.Release()
}

// TestPageLargerThanTheBudget: with a budget smaller than one page, the
// page reserves the whole budget and is read in full, alone.
func TestPageLargerThanTheBudget(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/companies/{id}/employees", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Total-Pages", "1")
		writeJSON(w, 200, jsonArray(0, 50, employeeJSON, testCompany))
	})
	c := newTestClient(t, mux, nil)
	budget, err := membudget.New(1000) // smaller than the page
	if err != nil {
		t.Fatal(err)
	}
	hold := budget.Holder()
	n := 0
	for p, err := range c.Employees(membudget.WithHolder(context.Background(), hold), StaticToken(testAccess), testCompany, PageOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n += len(p.Items)
	}
	if n != 50 || hold.Held() != 1000 || budget.Peak() != 1000 {
		t.Fatalf("%d items, held %d, peak %d: want 50 and the whole budget", n, hold.Held(), budget.Peak())
	}
}
