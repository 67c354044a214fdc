package gustosim_test

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// TestUpdateEmployee: an updated employee is served changed (a new
// version) everywhere, the others unchanged, and employee.updated about it
// is in the events; a quiet update changes the record with no event; the
// admin endpoint does the same over HTTP; an unknown employee is refused.
func TestUpdateEmployee(t *testing.T) {
	e := newEnv(t, nil)
	co := e.company(gustosim.CompanyOptions{Employees: 30, Payrolls: 2}).CompanyUUID
	before, err := e.sim.Records(co, "employees")
	if err != nil {
		t.Fatal(err)
	}
	ids := uuidsOf(t, before)
	events := len(e.sim.Events())
	ev, err := e.sim.UpdateEmployee(co, ids[3], false)
	if err != nil {
		t.Fatal(err)
	}
	if ev.EventType != "employee.updated" || ev.EntityType != "Employee" || ev.EntityUUID != ids[3] || ev.ResourceUUID != co {
		t.Fatalf("event = %+v, want employee.updated about employee %s of %s", ev, ids[3], co)
	}
	after, err := e.sim.Records(co, "employees")
	if err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if changed := !bytes.Equal(before[i], after[i]); changed != (i == 3) {
			t.Fatalf("employee %d changed = %v, want %v", i, changed, i == 3)
		}
	}
	if n := len(e.sim.Events()); n != events+1 {
		t.Fatalf("%d events after one update, want %d", n, events+1)
	}

	if _, err := e.sim.UpdateEmployee(co, ids[4], true); err != nil {
		t.Fatal(err)
	}
	quiet, _ := e.sim.Records(co, "employees")
	if bytes.Equal(quiet[4], after[4]) || len(e.sim.Events()) != events+1 {
		t.Fatalf("a quiet update: changed %v, events %d; want changed with no new event", !bytes.Equal(quiet[4], after[4]), len(e.sim.Events()))
	}

	if r := e.send(http.MethodPost, "/admin/companies/"+co+"/employees/"+ids[5]+"/update", ""); r.status != http.StatusOK {
		t.Fatalf("admin update = %d %s", r.status, r.body)
	}
	last := e.sim.Events()[len(e.sim.Events())-1]
	if last.EventType != "employee.updated" || last.EntityUUID != ids[5] {
		t.Fatalf("admin update emitted %+v", last)
	}
	if _, err := e.sim.UpdateEmployee(co, "9d1e2f3a-0000-4000-8000-000000000000", false); !errors.Is(err, gustosim.ErrUnknownRecord) {
		t.Fatalf("unknown employee: %v, want ErrUnknownRecord", err)
	}
}
