package main

import (
	"context"
	"fmt"
)

// requestsPerDay reports the Gusto API requests one company costs per day
// on an hourly schedule, every sync full against incremental syncs with the
// weekly full reconciliation amortized (internal/jobs
// BenchmarkRequestsPerCompanyDay: real HTTP against the simulator, the
// scheduler's own full-sync cadence). Goal: at least 5× fewer.
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
			fmt.Sprintf("%.0f/day incremental (%.0f per incremental sync, %.0f per full, %.2f fulls/day)",
				m["incremental-requests/day"], m["incremental-requests/sync"], m["full-requests/sync"], m["fulls/day"]),
			fmt.Sprintf("vs every sync full: %.0f/day (%.1f× fewer; goal ≥ 5×)", m["full-every-sync-requests/day"], m["reduction"]),
			"an incremental sync still lists every employee (Gusto documents no updated-since filter or updated_at sort on "+
				"GET /v1/companies/{id}/employees), so its floor is the employee pages plus one payroll window")
	}
	return nil
}
