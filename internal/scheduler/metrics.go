package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scheduler's Prometheus metrics. Labels never carry a
// company id (unbounded) or anything secret. A nil *Metrics records nothing.
//
//	gustosync_scheduler_enqueues_total{result}           enqueue outcomes: enqueued, duplicate, error
//	gustosync_scheduler_due_companies                    companies the last tick found due
//	gustosync_scheduler_tick_seconds                     duration of ticks
//	gustosync_scheduler_last_success_timestamp_seconds   Unix time of the last tick without error
type Metrics struct {
	enqueues    *prometheus.CounterVec
	due         prometheus.Gauge
	tickSeconds prometheus.Histogram
	lastTick    prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on reg (a registry the
// binary owns, not the global one). A nil reg creates unregistered metrics
// (for tests and tools).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		enqueues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gustosync_scheduler_enqueues_total",
			Help: "Sync enqueues by result (enqueued, duplicate: another replica had it, error).",
		}, []string{"result"}),
		due: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gustosync_scheduler_due_companies",
			Help: "Companies found due by the last tick.",
		}),
		tickSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gustosync_scheduler_tick_seconds",
			Help:    "Duration of one scheduler tick (read due, enqueue, record).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		lastTick: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gustosync_scheduler_last_success_timestamp_seconds",
			Help: "Unix time of the last tick that finished without error.",
		}),
	}
	for _, r := range []string{"enqueued", "duplicate", "error"} {
		m.enqueues.WithLabelValues(r) // every series exists from the start, at 0
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.enqueues, m.due, m.tickSeconds, m.lastTick} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ticked records one tick: how many companies were due and how long it took.
func (m *Metrics) ticked(due int, took time.Duration) {
	if m != nil {
		m.due.Set(float64(due))
		m.tickSeconds.Observe(took.Seconds())
	}
}

// succeeded records the time of a tick that finished without error.
func (m *Metrics) succeeded(at time.Time) {
	if m != nil {
		m.lastTick.Set(float64(at.Unix()))
	}
}

// enqueued counts enqueue outcomes.
func (m *Metrics) enqueued(r Result) {
	if m != nil {
		m.enqueues.WithLabelValues("enqueued").Add(float64(r.Enqueued))
		m.enqueues.WithLabelValues("duplicate").Add(float64(r.Duplicates))
		m.enqueues.WithLabelValues("error").Add(float64(r.Failed))
	}
}
