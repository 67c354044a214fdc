package rowcheck

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gustosync/gustosync/internal/checkpoint"
	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/jobs"
)

// CleanServed is how many records an uninterrupted sync of company fetches
// from the simulator, today (now): every employee once, and every payroll
// once per payroll window that returns it: each pay-period window that
// holds its whole pay period, each check-date window that holds the check
// date of a regular processed one (jobs' windows overlap, and check-date
// windows read regular processed payrolls again, so a payroll is fetched
// more than once by any sync; that is not a refetch). The simulator's
// records served beyond it are records fetched twice (its default,
// literal, filter reading assumed; no pay period longer than the windows'
// overlap, so no long-period window).
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
			CheckDate string `json:"check_date"`
			Processed bool   `json:"processed"`
			OffCycle  bool   `json:"off_cycle"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return 0, fmt.Errorf("rowcheck: simulator payroll of %s: %w", company, err)
		}
		start, err1 := time.Parse(time.DateOnly, p.PayPeriod.StartDate)
		end, err2 := time.Parse(time.DateOnly, p.PayPeriod.EndDate)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("rowcheck: simulator payroll of %s with pay period %+v", company, p.PayPeriod)
		}
		check, _ := time.Parse(time.DateOnly, p.CheckDate)
		for _, w := range windows {
			switch {
			case w.Kind == checkpoint.WindowCheckDate:
				if p.Processed && !p.OffCycle && !check.Before(w.Start) && !check.After(w.End) {
					n++
				}
			case !start.Before(w.Start) && !end.After(w.End):
				n++
			}
		}
	}
	return n, nil
}
