package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/jobs"
	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/redistest"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// Two scheduler processes and no worker: the attempts of killed workers
// are taken over and re-driven all the same, each exactly once (one task
// per dead attempt, whichever replica won), and a live attempt is left
// alone.
func TestSchedulersRedriveDeadAttempts(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	rs := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := checkpoint.NewStore(db.Gorm, checkpoint.Options{Lease: time.Hour})
	dead := map[string]string{} // run -> company
	for i := range 5 {
		company, run := uuid.NewString(), uuid.NewString()
		if _, err := store.Claim(ctx, run, company, "killed-"+strconv.Itoa(i), checkpoint.KindFull); err != nil {
			t.Fatal(err)
		}
		dead[run] = company
	}
	if err := db.Gorm.Exec(`UPDATE sync_fences SET heartbeat_at = now() - interval '1 minute'`).Error; err != nil {
		t.Fatal(err)
	}
	live := uuid.NewString()
	if _, err := store.Claim(ctx, live, uuid.NewString(), "alive", checkpoint.KindFull); err != nil {
		t.Fatal(err)
	}
	// The live attempt heartbeats (as its worker would) while the
	// schedulers look.
	beat, cancelBeat := context.WithCancel(ctx)
	beating := make(chan struct{})
	stopBeat := func() { cancelBeat(); <-beating }
	go func() {
		defer close(beating)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			_ = db.Gorm.Exec(`UPDATE sync_fences SET heartbeat_at = now() WHERE run_id = ?`, live).Error
			select {
			case <-beat.Done():
				return
			case <-tk.C:
			}
		}
	}()

	vars := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + rs.URL, "HTTP_ADDR=127.0.0.1:0", "SCHEDULER_TICK=1h",
		"SYNC_HEARTBEAT=200ms", "SYNC_LEASE=2s"}
	a, b := start(t, nil, vars...), start(t, nil, vars...)
	defer func() {
		select {
		case <-beating:
		default:
			stopBeat()
		}
	}()
	a.waitStarted(t)
	b.waitStarted(t)
	insp := asynq.NewInspectorFromRedisClient(rs.Client())
	var tasks []*asynq.TaskInfo
	waitfor.Condition(t, 30*time.Second, "a re-driving task per dead attempt", func() bool {
		var err error
		tasks, err = insp.ListPendingTasks(jobs.QueueCritical)
		return err == nil && len(tasks) >= len(dead)
	})
	stopBeat()
	a.stop(t)
	b.stop(t)
	if len(tasks) != len(dead) {
		t.Fatalf("%d re-driving tasks for %d dead attempts", len(tasks), len(dead))
	}
	for _, task := range tasks {
		p, err := jobs.ParsePayload(task.Payload)
		if err != nil || dead[p.RunID] != p.CompanyUUID || !strings.HasPrefix(task.ID, "sync:"+p.RunID+":redrive:") {
			t.Fatalf("task %s payload %+v (%v): not a re-drive of a dead attempt", task.ID, p, err)
		}
		delete(dead, p.RunID)
	}
	if len(dead) != 0 {
		t.Fatalf("runs not re-driven: %v", dead)
	}
	// Each dead attempt was taken over once, the live one never.
	var once, liveTaken int64
	if err := db.Gorm.Raw(`SELECT count(*) FILTER (WHERE takeovers = 1 AND status = 'pending'), COALESCE(sum(takeovers) FILTER (WHERE id = ?), 0) FROM sync_runs`, live).
		Row().Scan(&once, &liveTaken); err != nil {
		t.Fatal(err)
	}
	if once != int64(len(tasks)) || liveTaken != 0 {
		t.Fatalf("%d runs taken over once (want %d), live run taken over %d times", once, len(tasks), liveTaken)
	}
	if !strings.Contains(a.log()+b.log(), `"msg":"sync attempt went silent; run taken over and re-driven"`) {
		t.Fatal("no takeover log line")
	}
}
