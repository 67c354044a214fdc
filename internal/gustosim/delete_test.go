package gustosim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/gustosync/gustosync/internal/gustosim"
)

// uuidsOf returns the "uuid" of each record.
func uuidsOf(t *testing.T, recs []json.RawMessage) []string {
	t.Helper()
	out := make([]string, len(recs))
	for i, r := range recs {
		var v struct{ UUID string }
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		out[i] = v.UUID
	}
	return out
}

// TestDeleteRecord: a deleted employee or payroll leaves every list, page
// count and Records; Gusto's rules on what may be deleted hold (422 for an
// onboarded employee or a processed payroll); a restored record comes back
// unchanged; the admin endpoints do the same over HTTP.
func TestDeleteRecord(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(gustosim.CompanyOptions{Employees: 60, Payrolls: 40})
	co := g.CompanyUUID
	for _, res := range []string{"employees", "payrolls"} {
		before, err := e.sim.Records(co, res)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := e.sim.DeletableRecords(co, res)
		if err != nil || len(ok) == 0 {
			t.Fatalf("%s: no deletable record (%v): the test needs one", res, err)
		}
		victim := ok[0]
		all := uuidsOf(t, before)
		var refused string
		for _, id := range all {
			if !slices.Contains(ok, id) {
				refused = id
				break
			}
		}
		if err := e.sim.DeleteRecord(co, res, refused); !errors.Is(err, gustosim.ErrNotDeletable) {
			t.Fatalf("%s: deleting %s (onboarded or processed): %v, want ErrNotDeletable", res, refused, err)
		}
		if err := e.sim.DeleteRecord(co, res, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, gustosim.ErrUnknownRecord) {
			t.Fatalf("%s: deleting an unknown uuid: %v", res, err)
		}
		if err := e.sim.DeleteRecord(co, res, victim); err != nil {
			t.Fatal(err)
		}
		after, _ := e.sim.Records(co, res)
		if got := uuidsOf(t, after); len(got) != len(all)-1 || slices.Contains(got, victim) {
			t.Fatalf("%s after delete: %d records (had %d), victim present %v", res, len(got), len(all), slices.Contains(got, victim))
		}
		// The API agrees: the page count drops and the uuid is gone.
		if res == "employees" {
			r := e.get("/v1/companies/"+co+"/employees?per=100&page=1", g.Token.AccessToken)
			var page []json.RawMessage
			r.json(t, &page)
			if n, _ := strconv.Atoi(r.header.Get("X-Total-Count")); n != len(all)-1 || slices.Contains(uuidsOf(t, page), victim) {
				t.Fatalf("employees page after delete: total %d, victim present %v", n, slices.Contains(uuidsOf(t, page), victim))
			}
		}
		if err := e.sim.RestoreRecord(co, res, victim); err != nil {
			t.Fatal(err)
		}
		again, _ := e.sim.Records(co, res)
		if !slices.EqualFunc(again, before, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Fatalf("%s after restore differ from before", res)
		}

		// Over HTTP.
		if r := e.send(http.MethodDelete, "/admin/companies/"+co+"/"+res+"/"+victim, ""); r.status != http.StatusOK {
			t.Fatalf("admin delete: %d %s", r.status, r.body)
		}
		if r := e.send(http.MethodDelete, "/admin/companies/"+co+"/"+res+"/"+refused, ""); r.status != http.StatusUnprocessableEntity {
			t.Fatalf("admin delete of an undeletable record: %d %s", r.status, r.body)
		}
		if r := e.send(http.MethodPost, "/admin/companies/"+co+"/"+res+"/"+victim+"/restore", ""); r.status != http.StatusOK {
			t.Fatalf("admin restore: %d %s", r.status, r.body)
		}
		if r := e.send(http.MethodDelete, "/admin/companies/"+co+"/widgets/"+victim, ""); r.status != http.StatusNotFound {
			t.Fatalf("admin delete of an unknown resource: %d", r.status)
		}
	}
}
