package checkpoint_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// Replicas racing to take over dead attempts: each stale attempt is taken
// over exactly once, live and finished ones never; the dead attempt is
// fenced at once, and the run's next claim resumes from its checkpoint.
func TestTakeOverHasOneWinner(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t)
	s := checkpoint.NewStore(db.Gorm, checkpoint.Options{Lease: time.Minute})

	const dead = 12
	type held struct {
		a       *checkpoint.Attempt
		company string
	}
	var deads []held
	for i := range dead {
		company, run := uuid.NewString(), uuid.NewString()
		a, err := s.Claim(ctx, run, company, "dead-"+strconv.Itoa(i), checkpoint.KindFull)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(company, 0, 5, "v1"), Next: "2"}); err != nil {
			t.Fatal(err)
		}
		silence(t, db.Gorm, company)
		deads = append(deads, held{a, company})
	}
	// A live attempt and a finished one, both silent on the fence only in
	// the way their state allows: neither may be taken.
	live, err := s.Claim(ctx, uuid.NewString(), uuid.NewString(), "live", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	doneCo := uuid.NewString()
	done, err := s.Claim(ctx, uuid.NewString(), doneCo, "done", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Finish(ctx, checkpoint.StatusPending, "gusto: 503"); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	taken := map[string]int{}
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for {
				got, err := s.TakeOver(ctx, "replica-"+strconv.Itoa(r), 2)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, g := range got {
					taken[g.RunID]++
					if g.Silent < 59*time.Minute || g.DeadOwner == "" {
						t.Errorf("taken over %+v", g)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(taken) != dead {
		t.Fatalf("%d runs taken over, want %d", len(taken), dead)
	}
	for _, d := range deads {
		if taken[d.a.RunID] != 1 {
			t.Fatalf("run %s taken over %d times", d.a.RunID, taken[d.a.RunID])
		}
		// The dead attempt, waking, is fenced.
		var fenced *checkpoint.FencedError
		if _, err := d.a.Commit(ctx, checkpoint.Batch{Resource: checkpoint.ResourceEmployees, Rows: employees(d.company, 5, 5, "zombie"), Next: "3"}); !errors.As(err, &fenced) {
			t.Fatalf("dead attempt's commit after the takeover: %v", err)
		}
		var status string
		var takeovers int
		if err := db.Gorm.Raw(`SELECT status, takeovers FROM sync_runs WHERE id = ?`, d.a.RunID).Row().Scan(&status, &takeovers); err != nil {
			t.Fatal(err)
		}
		if status != "pending" || takeovers != 1 {
			t.Fatalf("run after takeover: %s, %d takeovers", status, takeovers)
		}
		// The re-driven attempt resumes where the dead one stood.
		again, err := s.Claim(ctx, d.a.RunID, d.company, "heir", checkpoint.KindFull)
		if err != nil {
			t.Fatal(err)
		}
		if again.Epoch != d.a.Epoch+2 || again.Position(checkpoint.ResourceEmployees) != (checkpoint.Position{Cursor: "2", Records: 5}) {
			t.Fatalf("re-driven attempt: epoch %d (dead %d), at %+v", again.Epoch, d.a.Epoch, again.Position(checkpoint.ResourceEmployees))
		}
	}
	if _, ok := taken[live.RunID]; ok {
		t.Fatal("a live attempt was taken over")
	}
	if _, ok := taken[done.RunID]; ok {
		t.Fatal("a pending run was taken over")
	}
	if err := live.Heartbeat(ctx); err != nil {
		t.Fatalf("live attempt disturbed: %v", err)
	}
	if n := count(t, db.Gorm, `SELECT count(*) FROM gusto_employees WHERE version = 'zombie'`); n != 0 {
		t.Fatalf("%d zombie rows", n)
	}
}
