package jobs_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/membudget"
)

// TestPageBudgetBoundsConcurrentSyncs: four syncs under a budget of a few
// pages commit early when it is full, never hold more than it together,
// release everything, and every row arrives.
func TestPageBudgetBoundsConcurrentSyncs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t, 2*time.Minute)
	budget, err := membudget.New(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	h := e.handler(func(c *jobs.Config) { c.PageBudget = budget })
	var ids []string
	for range 4 {
		ids = append(ids, e.company(3000, 12, nil))
	}
	errs := make(chan error, len(ids))
	for _, id := range ids {
		go func() { errs <- h.ProcessTask(ctx, task(t, id, uuid.NewString())) }()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		e.requireExact(id)
	}
	if budget.Peak() > budget.Size() || budget.InUse() != 0 {
		t.Fatalf("peak %d in use %d, want ≤ %d and 0", budget.Peak(), budget.InUse(), budget.Size())
	}
	if budget.Full() == 0 {
		t.Fatal("no sync was told to commit early: the budget did not bind")
	}
}

// TestPageBudgetReleasedWhenAnAttemptFails: pages fetched and not
// committed are released when the attempt ends in failure.
func TestPageBudgetReleasedWhenAnAttemptFails(t *testing.T) {
	t.Parallel()
	failPage3 := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/employees") && r.URL.Query().Get("page") == "3" {
				http.Error(w, "injected", http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	e := newEnv(t, envOptions{wrap: failPage3})
	ctx := testCtx(t, time.Minute)
	budget, err := membudget.New(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	h := e.handler(func(c *jobs.Config) { c.PageBudget = budget; c.PageAttempts = 2 })
	id := e.company(1000, 1, nil)
	if err := h.ProcessTask(ctx, task(t, id, uuid.NewString())); err == nil {
		t.Fatal("the sync succeeded although page 3 always fails")
	}
	if budget.Peak() == 0 || budget.InUse() != 0 {
		t.Fatalf("peak %d in use %d: want pages reserved, then all released", budget.Peak(), budget.InUse())
	}
}
