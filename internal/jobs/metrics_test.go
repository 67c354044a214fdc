package jobs_test

import (
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustosync/gustosync/internal/jobs"
)

// TestNewMetrics: the constructor has the shape every package's has: a nil
// registry gives unregistered metrics, a registry gets every collector (the
// queue collector only with an inspector), and a second registration on the
// same registry is an error, not a panic.
func TestNewMetrics(t *testing.T) {
	if m, err := jobs.NewMetrics(nil, nil); err != nil || m == nil {
		t.Fatalf("NewMetrics(nil, nil) = %v, %v", m, err)
	}
	reg := prometheus.NewPedanticRegistry()
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}) // never reached: not scraped
	defer insp.Close()
	if _, err := jobs.NewMetrics(reg, insp); err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.NewMetrics(reg, nil); err == nil {
		t.Fatal("registering the metrics twice on one registry succeeded")
	}
	other := prometheus.NewPedanticRegistry()
	if _, err := jobs.NewMetrics(other, nil); err != nil {
		t.Fatal(err)
	}
	// Without an inspector, the queue collector is not registered: its
	// metric name is still free.
	if err := other.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: "asynq_queue_collect_errors_total", Help: "x"})); err != nil {
		t.Fatalf("queue collector registered without an inspector: %v", err)
	}
}
