package rowcheck

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// Rows stored through jsonb compare equal to the simulator's; a changed
// field and a missing row are found, and nothing else.
func TestCompare(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	pool, err := db.Gorm.DB() // rowcheck reads through database/sql
	if err != nil {
		t.Fatal(err)
	}
	sim, err := gustosim.New(gustosim.Config{ClientID: "id", ClientSecret: "secret", RedirectURI: "http://127.0.0.1/cb", Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var companies []string
	for range 2 {
		g, err := sim.CreateCompany(gustosim.CompanyOptions{Employees: 7, Payrolls: 5})
		if err != nil {
			t.Fatal(err)
		}
		companies = append(companies, g.CompanyUUID)
	}
	store := func(company string, skipPayroll, edit bool) {
		for _, r := range Resources {
			recs, err := sim.Records(company, r.Name)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range recs {
				if r.Name == "payrolls" && skipPayroll && i == 2 {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal(rec, &m); err != nil {
					t.Fatal(err)
				}
				payload := string(rec)
				if r.Name == "employees" && edit && i == 3 {
					m["first_name"] = "Mallory"
					b, _ := json.Marshal(m)
					payload = string(b)
				}
				if r.Name == "company" {
					_, err = pool.Exec(`INSERT INTO gusto_companies (uuid, payload) VALUES ($1, $2)`, m["uuid"], payload)
				} else {
					_, err = pool.Exec(`INSERT INTO `+r.Table+` (uuid, company_uuid, payload) VALUES ($1, $2, $3)`, m["uuid"], company, payload)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	good, bad := companies[0], companies[1]
	store(good, false, false)
	store(bad, true, true)
	mm, total, err := Compare(ctx, pool, sim, companies)
	if err != nil {
		t.Fatal(err)
	}
	if total != 1+7+5+1+7+4 {
		t.Fatalf("compared %d rows, want 25", total)
	}
	if len(mm) != 2 || mm[0].Company != bad || mm[0].Resource != "employees" || mm[0].Got.Count != 7 || mm[0].Want.Count != 7 ||
		mm[0].Got.Checksum == mm[0].Want.Checksum || mm[1].Resource != "payrolls" || mm[1].Got.Count != 4 || mm[1].Want.Count != 5 {
		t.Fatalf("mismatches %v", mm)
	}
	if !strings.Contains(mm[1].String(), "4 rows") {
		t.Fatalf("String() = %s", mm[1])
	}
	var ok, failing recorder
	Require(&ok, pool, sim, good)
	Require(&failing, pool, sim, good, bad)
	if ok.failed || !failing.failed || len(failing.errors) != 2 {
		t.Fatalf("Require: exact company failed=%v; differing company failed=%v with %d errors, want 2",
			ok.failed, failing.failed, len(failing.errors))
	}
	if _, err := Stored(ctx, pool, good, "contractors"); err == nil {
		t.Fatal("an unknown resource compared without error")
	}
}

// recorder is a T that records failures instead of stopping.
type recorder struct {
	failed bool
	errors []string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Logf(string, ...any)          {}
func (r *recorder) Errorf(f string, args ...any) { r.failed = true; r.errors = append(r.errors, f) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed = true }
