package gusto

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the client's Prometheus metrics, one set per process however
// many Clients share it. Labels are bounded: the route is the request's
// path template (e.g. /v1/companies/{company_id}/payrolls, never a path
// with a uuid), the method, and the status class. A nil *Metrics records
// nothing.
//
//	gustosync_gusto_requests_total{route,method,status_class}   requests by outcome: 2xx, 3xx, 4xx, 5xx, error (no answer)
//	gustosync_gusto_request_duration_seconds{route,method}      time to the response headers (or the transport error)
//	gustosync_gusto_rate_limited_total{route}                   429 answers
//	gustosync_gusto_unauthorized_total{route}                   401 answers (a stale or revoked token, or a missing scope)
//	gustosync_gusto_retries_total{route,reason}                 requests the client sent again itself (reason unauthorized: after invalidating the token)
type Metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	unauthed    *prometheus.CounterVec
	retries     *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (a registry the
// binary owns). A nil reg creates unregistered metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gustosync_gusto_requests_total",
			Help: "Requests to Gusto by route template, method and status class (2xx, 3xx, 4xx, 5xx, error: no answer).",
		}, []string{"route", "method", "status_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gustosync_gusto_request_duration_seconds",
			Help:    "Time from sending a request to Gusto to its response headers (or the transport error), by route template and method.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gustosync_gusto_rate_limited_total",
			Help: "429 Too Many Requests answers from Gusto, by route template.",
		}, []string{"route"}),
		unauthed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gustosync_gusto_unauthorized_total",
			Help: "401 Unauthorized answers from Gusto, by route template.",
		}, []string{"route"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gustosync_gusto_retries_total",
			Help: "Requests the Gusto client sent again itself, by route template and reason (unauthorized: once, after invalidating the refused token).",
		}, []string{"route", "reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.rateLimited, m.unauthed, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// routeOf splits an op ("GET /v1/companies/{company_id}", "POST
// /oauth/token (system_access)") into its method and path template.
func routeOf(op string) (method, route string) {
	method, route, _ = strings.Cut(op, " ")
	route, _, _ = strings.Cut(route, " ")
	return method, route
}

// statusClass is "2xx" … "5xx" for a status, "error" for no answer (0).
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "error"
	}
	return strconv.Itoa(status/100) + "xx"
}

// observe records one exchange; status 0 is a transport error.
func (m *Metrics) observe(op string, status int, took time.Duration) {
	if m == nil {
		return
	}
	method, route := routeOf(op)
	m.requests.WithLabelValues(route, method, statusClass(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(took.Seconds())
	switch status {
	case 429:
		m.rateLimited.WithLabelValues(route).Inc()
	case 401:
		m.unauthed.WithLabelValues(route).Inc()
	}
}

// retried counts a request the client sends again.
func (m *Metrics) retried(op, reason string) {
	if m == nil {
		return
	}
	_, route := routeOf(op)
	m.retries.WithLabelValues(route, reason).Inc()
}
