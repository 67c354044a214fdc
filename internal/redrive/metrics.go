package redrive

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the redriver's Prometheus metrics. Labels never carry a
// company id or anything secret. A nil *Metrics records nothing.
//
//	gustosync_sync_takeovers_total{result}   dead attempts taken over by this replica: redriven (task enqueued), or error (left to asynq's recovery)
type Metrics struct {
	takeovers *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (a registry the
// binary owns). A nil reg creates unregistered metrics (for tests and
// tools).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{takeovers: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gustosync_sync_takeovers_total",
		Help: "Sync attempts found silent past SYNC_LEASE and taken over by this replica, by result: redriven (a task re-drives the run), error (the enqueue failed; asynq's recovery of the run's task resumes it).",
	}, []string{"result"})}
	for _, r := range []string{"redriven", "error"} {
		m.takeovers.WithLabelValues(r) // every series exists from the start, at 0
	}
	if reg != nil {
		if err := reg.Register(m.takeovers); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) tookOver(result string) {
	if m != nil {
		m.takeovers.WithLabelValues(result).Inc()
	}
}
