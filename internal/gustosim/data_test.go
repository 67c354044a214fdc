package gustosim_test

import (
	"encoding/json"
	"testing"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// Generated employees are internally consistent: dates in order, raises in
// the past, terminations after hiring.
func TestEmployeeDatesAreConsistent(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(gustosim.CompanyOptions{Employees: 2000, Payrolls: 0})
	recs, _ := e.sim.Records(g.CompanyUUID, "employees")
	today := e.clock.Now().Format("2006-01-02")
	for i, raw := range recs {
		var emp struct {
			DOB  string `json:"date_of_birth"`
			Jobs []struct {
				HireDate      string `json:"hire_date"`
				Compensations []struct {
					EffectiveDate string `json:"effective_date"`
				} `json:"compensations"`
			} `json:"jobs"`
			Terminations []struct {
				EffectiveDate string `json:"effective_date"`
			} `json:"terminations"`
		}
		if err := json.Unmarshal(raw, &emp); err != nil {
			t.Fatal(err)
		}
		hire := emp.Jobs[0].HireDate
		if !(emp.DOB < hire && hire < today) {
			t.Fatalf("employee %d: born %s, hired %s, today %s", i, emp.DOB, hire, today)
		}
		for _, c := range emp.Jobs[0].Compensations {
			if c.EffectiveDate < hire || c.EffectiveDate > today {
				t.Fatalf("employee %d: compensation effective %s (hired %s)", i, c.EffectiveDate, hire)
			}
		}
		for _, term := range emp.Terminations {
			if term.EffectiveDate <= hire || term.EffectiveDate >= today {
				t.Fatalf("employee %d: terminated %s (hired %s)", i, term.EffectiveDate, hire)
			}
		}
	}
}
