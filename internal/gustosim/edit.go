package gustosim

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// edits counts the updates of a company's employees (UpdateEmployee), by
// employee index. Reads are far more frequent than updates.
type edits struct {
	mu  sync.RWMutex
	rev map[int]uint64
}

// of returns how many times employee i was updated.
func (e *edits) of(i int) uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.rev[i]
}

// UpdateEmployee changes one employee of the company, as a person editing
// it in Gusto does: from then on the employee is served changed (its
// version, which Gusto changes on every update, and its middle initial)
// and the event Gusto documents for it, employee.updated (entity_type
// Employee, entity_uuid the employee;
// https://docs.gusto.com/app-integrations/docs/employee-events), is
// emitted to GET /v1/events and the webhook subscriptions. quiet changes
// the employee without an event: a change Gusto sends no event for.
func (s *Sim) UpdateEmployee(companyUUID, employeeUUID string, quiet bool) (Event, error) {
	c := s.company(companyUUID)
	if c == nil {
		return Event{}, fmt.Errorf("update employee of %s: %w", companyUUID, ErrUnknownCompany)
	}
	id := strings.ToLower(employeeUUID)
	i := -1
	for j := 0; j < c.employees; j++ {
		if c.employeeUUID(j).String() == id {
			i = j
			break
		}
	}
	if i < 0 || c.del.deleted("employees", i) {
		return Event{}, fmt.Errorf("update employee %s of %s: %w", id, companyUUID, ErrUnknownRecord)
	}
	c.edit.mu.Lock()
	if c.edit.rev == nil {
		c.edit.rev = map[int]uint64{}
	}
	c.edit.rev[i]++
	c.edit.mu.Unlock()
	if quiet {
		return Event{}, nil
	}
	return s.emit(c, "employee.updated", "Employee", id), nil
}

// adminEditRoutes serves UpdateEmployee:
// POST /admin/companies/{company_id}/employees/{uuid}/update (?quiet=true
// for no event).
func (s *Sim) adminEditRoutes(handle func(string, http.HandlerFunc)) {
	handle("POST /admin/companies/{company_id}/employees/{uuid}/update", func(w http.ResponseWriter, r *http.Request) {
		e, err := s.UpdateEmployee(r.PathValue("company_id"), r.PathValue("uuid"), r.URL.Query().Get("quiet") == "true")
		if err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, map[string]any{"uuid": strings.ToLower(r.PathValue("uuid")), "event": e.UUID})
	})
}
