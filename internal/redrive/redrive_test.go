package redrive_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/redrive"
)

// Three replicas look at once for a dead attempt: exactly one task re-drives
// the run, on the critical queue, carrying the same run; the dead attempt
// is fenced, and a live attempt of another company is left alone.
func TestOneReplicaRedrivesADeadAttempt(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := checkpoint.NewStore(db.Gorm, checkpoint.Options{Lease: time.Minute})

	company, run := uuid.NewString(), uuid.NewString()
	dead, err := store.Claim(ctx, run, company, "killed-worker", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.Exec(`UPDATE sync_fences SET heartbeat_at = now() - interval '2 minutes' WHERE company_uuid = ?`, company).Error; err != nil {
		t.Fatal(err)
	}
	live, err := store.Claim(ctx, uuid.NewString(), uuid.NewString(), "live-worker", checkpoint.KindFull)
	if err != nil {
		t.Fatal(err)
	}

	client := asynq.NewClientFromRedisClient(srv.Client())
	reg := prometheus.NewPedanticRegistry()
	metrics, err := redrive.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := range 3 {
		r, err := redrive.New(redrive.Config{Store: store, Queue: client, By: "replica-" + strconv.Itoa(i), Metrics: metrics})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			n, err := r.Once(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 1 {
		t.Fatalf("%d re-drives for one dead attempt", total)
	}
	if n := takeovers(t, reg, "redriven"); n != 1 {
		t.Fatalf("gustosync_sync_takeovers_total{result=\"redriven\"} = %v, want 1", n)
	}
	insp := asynq.NewInspectorFromRedisClient(srv.Client())
	tasks, err := insp.ListPendingTasks(jobs.QueueCritical)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 || tasks[0].ID != "sync:"+run+":redrive:"+strconv.FormatInt(dead.Epoch+1, 10) {
		t.Fatalf("pending critical tasks %v, want one re-driving run %s", tasks, run)
	}
	p, err := jobs.ParsePayload(tasks[0].Payload)
	if err != nil || p.RunID != run || p.CompanyUUID != company {
		t.Fatalf("re-driving payload %+v (%v)", p, err)
	}
	var fenced *checkpoint.FencedError
	if err := dead.Heartbeat(ctx); !errors.As(err, &fenced) {
		t.Fatalf("dead attempt's heartbeat after the takeover: %v", err)
	}
	if err := live.Heartbeat(ctx); err != nil {
		t.Fatalf("live attempt: %v", err)
	}
}

func TestConfigIsValidated(t *testing.T) {
	t.Parallel()
	if _, err := redrive.New(redrive.Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

// takeovers reads gustosync_sync_takeovers_total{result} from reg.
func takeovers(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "gustosync_sync_takeovers_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no gustosync_sync_takeovers_total{result=%q}", result)
	return 0
}
