package scheduler_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustosync/gustosync/internal/scheduler"
)

// TestNewMetrics: the constructor has the shape every package's has: a nil
// registry gives unregistered metrics, and a second registration on the same
// registry is an error, not a panic.
func TestNewMetrics(t *testing.T) {
	if m, err := scheduler.NewMetrics(nil); err != nil || m == nil {
		t.Fatalf("NewMetrics(nil) = %v, %v", m, err)
	}
	reg := prometheus.NewPedanticRegistry()
	if _, err := scheduler.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := scheduler.NewMetrics(reg); err == nil {
		t.Fatal("registering the metrics twice on one registry succeeded")
	}
	families, err := reg.Gather()
	if err != nil || len(families) != 4 {
		t.Fatalf("gathered %d families (%v), want 4", len(families), err)
	}
}
