package scheduler

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustosync/gustosync/internal/collectorup"
	"github.com/gustosync/gustosync/internal/companies"
)

// The freshness service level indicators, read from PostgreSQL at scrape
// (one indexed query, companies.Directory.Freshness).
var (
	oldestSuccessDesc = prometheus.NewDesc("gustosync_sync_oldest_success_age_seconds",
		"Age of the oldest last successful sync among active companies (a company never synced counts from its onboarding).", nil, nil)
	overdueDesc = prometheus.NewDesc("gustosync_companies_overdue",
		"Active companies not synced successfully within twice their sync interval.", nil, nil)
	activeDesc = prometheus.NewDesc("gustosync_companies_active",
		"Active companies (those the scheduler syncs).", nil, nil)
)

// NewFreshnessCollector exports gustosync_sync_oldest_success_age_seconds,
// gustosync_companies_overdue and gustosync_companies_active, read from dir
// at each scrape on the clock now, with interval (SYNC_INTERVAL) for the
// companies without their own. A PostgreSQL that cannot be read is
// gustosync_collector_up{collector="freshness"} 0, never a failed scrape.
func NewFreshnessCollector(dir *companies.Directory, interval time.Duration, now func() time.Time) prometheus.Collector {
	if now == nil {
		now = time.Now
	}
	return collectorup.New("freshness", []*prometheus.Desc{oldestSuccessDesc, overdueDesc, activeDesc},
		func(ctx context.Context) ([]prometheus.Metric, error) {
			f, err := dir.Freshness(ctx, now(), interval)
			if err != nil {
				return nil, err
			}
			return []prometheus.Metric{
				prometheus.MustNewConstMetric(oldestSuccessDesc, prometheus.GaugeValue, f.OldestSuccessAge.Seconds()),
				prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(f.Overdue)),
				prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(f.Active)),
			}, nil
		}, collectorup.Options{})
}
