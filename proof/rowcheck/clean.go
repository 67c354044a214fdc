package rowcheck

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
)

// CleanServed is how many records an uninterrupted sync of company fetches
// from the simulator, today (now): every employee once, and every payroll
// once per payroll window that holds its whole pay period (jobs'
// windows overlap, so a payroll near a seam is fetched twice by any sync;
// that is not a refetch). The simulator's records served beyond it are
// records fetched twice (its default, literal, filter reading assumed).
func CleanServed(sim *gustosim.Sim, company string, now time.Time) (int64, error) {
	emp, _, err := sim.Checksum(company, "employees")
	if err != nil {
		return 0, err
	}
	n := int64(emp)
	payrolls, err := sim.Records(company, "payrolls")
	if err != nil {
		return 0, err
	}
	windows := jobs.PayrollWindows(now.UTC(), jobs.DefaultPayrollHistory)
	for _, raw := range payrolls {
		var p struct {
			PayPeriod struct {
				StartDate string `json:"start_date"`
				EndDate   string `json:"end_date"`
			} `json:"pay_period"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return 0, fmt.Errorf("rowcheck: simulator payroll of %s: %w", company, err)
		}
		start, err1 := time.Parse(time.DateOnly, p.PayPeriod.StartDate)
		end, err2 := time.Parse(time.DateOnly, p.PayPeriod.EndDate)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("rowcheck: simulator payroll of %s with pay period %+v", company, p.PayPeriod)
		}
		for _, w := range windows {
			if !start.Before(w.Start) && !end.After(w.End) {
				n++
			}
		}
	}
	return n, nil
}
