// Package telemetry builds each binary's Prometheus registry, the one
// function per binary that main calls and the tests call too, so that the
// metric names the alerts and the Grafana dashboard use (k8s/components/
// monitoring) are checked against what the code registers
// (TestRulesAndDashboardUseRegisteredMetrics). It also serves /metrics so
// that a collector error never fails the scrape.
//
// It owns the wiring of metrics only: every metric is defined by the
// package whose work it counts (jobs, tokens, gusto, scheduler, …), and
// this package never reads PostgreSQL or Redis itself.
package telemetry
