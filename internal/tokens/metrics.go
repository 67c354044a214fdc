package tokens

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustosync/gustosync/internal/collectorup"
)

// Metrics are the token manager's Prometheus metrics. Labels are outcomes and
// statuses only: never a company, a token or a key.
//
//	gustosync_token_refreshes_total{outcome}    refresh attempts by outcome
//	gustosync_token_lock_wait_seconds           time to take (or give up on) the refresh lock
//	gustosync_token_cas_conflicts_total         refreshed pairs thrown away after a lost compare-and-swap
//	gustosync_token_invalidations_total         access tokens invalidated after a 401
//	gustosync_token_budget_deferrals_total      refreshes deferred by the fleet-wide refresh budget
//	gustosync_token_fence_aborts_total          refreshes abandoned before sending: the lock or the claim was lost
//	gustosync_token_companies{status}           companies by token status (read from PostgreSQL at scrape;
//	                                            gustosync_collector_up{collector="token_companies"} says whether the read worked)
//	gustosync_gusto_clock_skew_seconds          Gusto's clock minus ours, latest measurement
type Metrics struct {
	refreshes     *prometheus.CounterVec
	lockWait      prometheus.Histogram
	casConflicts  prometheus.Counter
	invalidations prometheus.Counter
	fenceAborts   prometheus.Counter
	deferrals     prometheus.Counter
	skew          prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on reg (a registry the
// binary owns, not the global one). When store is not nil, a collector
// reading companies by status from PostgreSQL at each scrape is registered
// too. A nil reg creates unregistered metrics (for tests and tools).
func NewMetrics(reg prometheus.Registerer, store *Store) (*Metrics, error) {
	m := &Metrics{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gustosync_token_refreshes_total",
			Help: "Token refresh attempts by outcome (refreshed, sibling_refreshed, cas_lost, revoked, transient, failed).",
		}, []string{"outcome"}),
		lockWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gustosync_token_lock_wait_seconds",
			Help:    "Time spent taking the per-company refresh lock, or waiting until a sibling's refresh made it unnecessary.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		casConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gustosync_token_cas_conflicts_total",
			Help: "Refreshed token pairs thrown away unused because another worker committed first.",
		}),
		invalidations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gustosync_token_invalidations_total",
			Help: "Access tokens marked stale after Gusto refused them on a data call.",
		}),
		fenceAborts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gustosync_token_fence_aborts_total",
			Help: "Refreshes abandoned right before sending because this worker no longer owned the refresh (lock lost or too short, or stalled after claiming); nothing was sent.",
		}),
		deferrals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gustosync_token_budget_deferrals_total",
			Help: "Refreshes deferred by the fleet-wide refresh budget (TOKEN_REFRESH_RATE); a still-valid token kept being used meanwhile.",
		}),
		skew: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gustosync_gusto_clock_skew_seconds",
			Help: "Gusto's clock minus the local clock, from the latest response's Date header.",
		}),
	}
	for _, o := range []Outcome{OutcomeRefreshed, OutcomeSiblingRefreshed, OutcomeCASLost, OutcomeRevoked, OutcomeTransient, OutcomeFailed} {
		m.refreshes.WithLabelValues(string(o))
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.refreshes, m.lockWait, m.casConflicts, m.invalidations, m.fenceAborts, m.deferrals, m.skew}
	if store != nil {
		cs = append(cs, collectorup.New("token_companies", []*prometheus.Desc{companiesDesc}, store.readStatusMetrics, collectorup.Options{}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) refresh(o Outcome) {
	if m != nil {
		m.refreshes.WithLabelValues(string(o)).Inc()
	}
}

func (m *Metrics) observeLockWait(d time.Duration) {
	if m != nil {
		m.lockWait.Observe(d.Seconds())
	}
}

func (m *Metrics) casConflict() {
	if m != nil {
		m.casConflicts.Inc()
	}
}

func (m *Metrics) invalidated() {
	if m != nil {
		m.invalidations.Inc()
	}
}

func (m *Metrics) fenceAbort() {
	if m != nil {
		m.fenceAborts.Inc()
	}
}

func (m *Metrics) budgetDeferred() {
	if m != nil {
		m.deferrals.Inc()
	}
}

func (m *Metrics) setSkew(d time.Duration) {
	if m != nil {
		m.skew.Set(d.Seconds())
	}
}

var companiesDesc = prometheus.NewDesc("gustosync_token_companies",
	"Companies by token status (active, needs_reauth, paused).", []string{"status"}, nil)

// readStatusMetrics reads companies by status from gusto_auth_tokens at
// each scrape, so every replica reports the same truth. Wrapped by
// collectorup, a PostgreSQL outage is gustosync_collector_up{collector="token_companies"} 0,
// not a failed scrape.
func (s *Store) readStatusMetrics(ctx context.Context) ([]prometheus.Metric, error) {
	counts, err := s.CountByStatus(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]prometheus.Metric, 0, len(counts))
	for status, n := range counts {
		out = append(out, prometheus.MustNewConstMetric(companiesDesc, prometheus.GaugeValue, float64(n), string(status)))
	}
	return out, nil
}
