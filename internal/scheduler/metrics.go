package scheduler

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the scheduler's Prometheus metrics. Labels never carry a
// company id (unbounded) or anything secret.
type Metrics struct {
	// Enqueues counts enqueue outcomes: result is enqueued, duplicate or error.
	Enqueues *prometheus.CounterVec
	// Due is how many companies the last tick found due.
	Due prometheus.Gauge
	// TickSeconds is how long ticks take.
	TickSeconds prometheus.Histogram
	// LastTick is the Unix time of the last tick that finished without error.
	LastTick prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Enqueues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gustosync_scheduler_enqueues_total",
			Help: "Sync enqueues by result (enqueued, duplicate: another replica had it, error).",
		}, []string{"result"}),
		Due: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gustosync_scheduler_due_companies",
			Help: "Companies found due by the last tick.",
		}),
		TickSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gustosync_scheduler_tick_seconds",
			Help:    "Duration of one scheduler tick (read due, enqueue, record).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		LastTick: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gustosync_scheduler_last_success_timestamp_seconds",
			Help: "Unix time of the last tick that finished without error.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Enqueues, m.Due, m.TickSeconds, m.LastTick)
	}
	return m
}
