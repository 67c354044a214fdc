package main

import (
	"context"
	"fmt"
)

// requestsPerDay reports the Gusto API requests one company costs per day
// on an hourly schedule, every sync full against incremental syncs with the
// weekly full reconciliation amortized and the employees read only on
// Gusto's word (internal/jobs BenchmarkRequestsPerCompanyDay: real HTTP
// against the simulator, the real events feed, the scheduler's own
// full-sync cadence; the model of a day is in the benchmark's comment).
// Goal: at least 5× fewer.
func requestsPerDay(ctx context.Context, b *bencher) error {
	res, err := runGoBench(ctx, b.modDir, "./internal/jobs", "^BenchmarkRequestsPerCompanyDay$", "1x", &b.log)
	if err != nil {
		return err
	}
	for _, shape := range []string{"employees=20", "employees=200"} {
		r, ok := find(res, "BenchmarkRequestsPerCompanyDay/"+shape)
		if !ok {
			return fmt.Errorf("requests benchmark %s: no result", shape)
		}
		m := r.Metrics
		emp := shape[len("employees="):]
		b.check("requests", "API requests per company per day, hourly syncs, "+emp+" employees, 3 years of payrolls over 6 years of windows",
			m["reduction"] >= 5,
			fmt.Sprintf("%.0f/day incremental (%.0f per incremental sync skipping the employees, %.0f reading them, %.0f per full; "+
				"%.2f fulls/day, %.1f employee reads/day, %.0f event-driven syncs/day, %.1f feed requests/day at 1000 companies)",
				m["incremental-requests/day"], m["incremental-skip-requests/sync"], m["incremental-requests/sync"], m["full-requests/sync"],
				m["fulls/day"], m["employee-reads/day"], m["event-syncs/day"], m["feed-requests/day"]),
			fmt.Sprintf("vs every sync full: %.0f/day (%.1f× fewer; goal ≥ 5×)", m["full-every-sync-requests/day"], m["reduction"]),
			"an incremental sync reads the employees only after an employee event, a stale events feed or a read older than "+
				"SYNC_EMPLOYEES_MAX_AGE (Gusto documents no updated-since filter on GET /v1/companies/{id}/employees); "+
				"its floor is one recent payroll window an hour (payroll.* events do not cover every change of an unprocessed payroll)")
	}
	return nil
}
