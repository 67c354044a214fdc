package jobs

import (
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustosync/gustosync/internal/checkpoint"
)

// Metrics are the sync's Prometheus metrics. Labels are resources and
// outcomes, never a company (unbounded cardinality) or anything secret.
// A nil *Metrics records nothing.
type Metrics struct {
	records     *prometheus.CounterVec
	changed     *prometheus.CounterVec
	batches     *prometheus.CounterVec
	commitTime  prometheus.Histogram
	runs        *prometheus.CounterVec
	runDuration *prometheus.HistogramVec
	pageRetries *prometheus.CounterVec
	versionRej  *prometheus.CounterVec
	mismatches  *prometheus.CounterVec
	foreign     *prometheus.CounterVec

	mu     sync.Mutex
	active map[*tracker]struct{}
	now    func() time.Time
}

// NewMetrics creates the metrics and registers them on reg (a registry the
// binary owns, not the global one). When inspector is not nil, a collector
// reading asynq's queues from Redis at each scrape is registered too. A nil
// reg creates unregistered metrics (for tests and tools).
func NewMetrics(reg prometheus.Registerer, inspector *asynq.Inspector) (*Metrics, error) {
	m := &Metrics{
		records: counterVec("gustosync_sync_records_total",
			"Records fetched from Gusto and committed with their checkpoint, by resource.", "resource"),
		changed: counterVec("gustosync_sync_rows_changed_total",
			"Rows inserted or whose payload changed, by resource (zero for unchanged companies).", "resource"),
		batches: counterVec("gustosync_sync_batches_total",
			"Batches committed (rows and checkpoint in one transaction), by resource.", "resource"),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gustosync_sync_batch_commit_seconds",
			Help:    "Time to commit one batch and its checkpoint.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 12),
		}),
		runs: counterVec("gustosync_sync_attempts_total",
			"Sync attempts by outcome: succeeded, retry, failed, needs_reauth, missing_scope, api_version_rejected, fenced, busy, drained, finished, malformed.", "outcome"),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gustosync_sync_run_duration_seconds",
			Help:    "Duration of sync attempts, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12),
		}, []string{"outcome"}),
		pageRetries: counterVec("gustosync_sync_page_retries_total",
			"Gusto requests retried inside an attempt, by reason (rate_limited, server_error, transport).", "reason"),
		versionRej: counterVec("gustosync_api_version_rejected_total",
			"Sync attempts Gusto answered 406 Not Acceptable: it refuses the X-Gusto-API-Version sent (set GUSTO_API_VERSION), by version.", "version"),
		mismatches: counterVec("gustosync_pagination_mismatches_total",
			"Page walks whose record counts disagreed with Gusto's pagination headers (the resource is walked again by the next run), by resource.", "resource"),
		foreign: counterVec("gustosync_sync_foreign_records_total",
			"Records Gusto returned for a company whose row another company owns: left untouched and noted on the run (invariant 14), by resource.", "resource"),
		active: map[*tracker]struct{}{},
		now:    time.Now,
	}
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gustosync_sync_checkpoint_lag_seconds",
		Help: "Longest time any running sync in this process has gone without committing a checkpoint (0 when idle).",
	}, m.maxLag)
	running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gustosync_sync_running",
		Help: "Sync attempts running in this process.",
	}, func() float64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		return float64(len(m.active))
	})
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.records, m.changed, m.batches, m.commitTime, m.runs, m.runDuration, m.pageRetries, m.versionRej, m.mismatches, m.foreign, lag, running}
	if inspector != nil {
		cs = append(cs, newQueueCollector(inspector))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// counterVec is a counter of the sync with one label.
func counterVec(name, help, label string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
}

// tracker follows one running attempt for the checkpoint-lag gauge.
type tracker struct {
	mu   sync.Mutex
	last time.Time
}

func (m *Metrics) start(now time.Time) *tracker {
	t := &tracker{last: now}
	if m == nil {
		return t
	}
	m.mu.Lock()
	m.active[t] = struct{}{}
	m.mu.Unlock()
	return t
}

func (m *Metrics) stop(t *tracker) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.active, t)
	m.mu.Unlock()
}

func (t *tracker) committed(at time.Time) {
	t.mu.Lock()
	t.last = at
	t.mu.Unlock()
}

func (m *Metrics) maxLag() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var worst time.Duration
	for t := range m.active {
		t.mu.Lock()
		worst = max(worst, now.Sub(t.last))
		t.mu.Unlock()
	}
	return worst.Seconds()
}

func (m *Metrics) batch(r checkpoint.Resource, res checkpoint.Result, took time.Duration) {
	if m == nil {
		return
	}
	m.records.WithLabelValues(string(r)).Add(float64(res.Records))
	m.changed.WithLabelValues(string(r)).Add(float64(res.Changed))
	m.batches.WithLabelValues(string(r)).Inc()
	if len(res.Foreign) > 0 {
		m.foreign.WithLabelValues(string(r)).Add(float64(len(res.Foreign)))
	}
	m.commitTime.Observe(took.Seconds())
}

func (m *Metrics) attempt(outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(outcome).Inc()
	m.runDuration.WithLabelValues(outcome).Observe(took.Seconds())
}

func (m *Metrics) pageRetry(reason string) {
	if m == nil {
		return
	}
	m.pageRetries.WithLabelValues(reason).Inc()
}

func (m *Metrics) versionRejected(version string) {
	if m == nil {
		return
	}
	m.versionRej.WithLabelValues(version).Inc()
}

func (m *Metrics) mismatch(r checkpoint.Resource) {
	if m == nil {
		return
	}
	m.mismatches.WithLabelValues(string(r)).Inc()
}
