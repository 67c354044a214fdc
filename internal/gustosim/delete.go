package gustosim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Errors of DeleteRecord and RestoreRecord; match them with errors.Is.
var (
	// ErrUnknownRecord: the company has no employee or payroll with that uuid.
	ErrUnknownRecord = errors.New("gustosim: unknown record")
	// ErrNotDeletable: Gusto refuses to delete that record (422): an
	// employee who finished onboarding, or a processed payroll.
	ErrNotDeletable = errors.New("gustosim: record cannot be deleted")
)

// deletions is the set of a company's deleted records, by resource and
// record index. Reads are far more frequent than deletes.
type deletions struct {
	mu        sync.RWMutex
	employees map[int]bool
	payrolls  map[int]bool
}

func (d *deletions) set(resource string) map[int]bool {
	if resource == "employees" {
		return d.employees
	}
	return d.payrolls
}

// deleted reports whether record i of resource is deleted.
func (d *deletions) deleted(resource string, i int) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.set(resource)[i]
}

// any reports whether resource has a deleted record.
func (d *deletions) any(resource string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.set(resource)) > 0
}

// DeleteRecord deletes one employee or payroll of the company, as a person
// does in Gusto: from then on no list, page count or Records includes it.
// Gusto deletes only what its reference allows (gusto/openapi.yaml):
// "Use this endpoint to delete an employee who is in onboarding. Deleting
// an onboarded employee is not allowed and will return a 422 response"
// (operation delete-v1-employee, DELETE /v1/employees/{employee_id}), and
// "This endpoint allows you to delete an unprocessed payroll" (operation
// delete-v1-companies-company_id-payrolls); anything else is
// ErrNotDeletable. resource is "employees" or "payrolls".
func (s *Sim) DeleteRecord(companyUUID, resource, uuid string) error {
	return s.setDeleted(companyUUID, resource, uuid, true)
}

// RestoreRecord serves a deleted record again, unchanged: what a sync sees
// when a record it had lost comes back (e.g. a deletion Gusto rolled back).
// Gusto has no such call; tests use it to show that a reappearing row is
// undeleted.
func (s *Sim) RestoreRecord(companyUUID, resource, uuid string) error {
	return s.setDeleted(companyUUID, resource, uuid, false)
}

func (s *Sim) setDeleted(companyUUID, resource, id string, del bool) error {
	c := s.company(companyUUID)
	if c == nil {
		return fmt.Errorf("delete %s of %s: %w", resource, companyUUID, ErrUnknownCompany)
	}
	id = strings.ToLower(id)
	i, deletable := -1, false
	switch resource {
	case "employees":
		for j := 0; j < c.employees; j++ {
			if c.employeeUUID(j).String() == id {
				i, deletable = j, c.employeeFlags(j)&flagOnboarded == 0
				break
			}
		}
	case "payrolls":
		for j, slot := range c.payrollTable() {
			r := c.stream(kindPayroll, int(slot.id))
			if r.uuid().String() == id {
				i, deletable = j, !slot.processed
				break
			}
		}
	default:
		return fmt.Errorf("delete %q: %w", resource, ErrUnknownResource)
	}
	if i < 0 {
		return fmt.Errorf("delete %s %s of %s: %w", resource, id, companyUUID, ErrUnknownRecord)
	}
	if del && !deletable {
		return fmt.Errorf("delete %s %s of %s: %w", resource, id, companyUUID, ErrNotDeletable)
	}
	c.del.mu.Lock()
	if c.del.employees == nil {
		c.del.employees, c.del.payrolls = map[int]bool{}, map[int]bool{}
	}
	if del {
		c.del.set(resource)[i] = true
	} else {
		delete(c.del.set(resource), i)
	}
	c.del.mu.Unlock()
	s.emit(c, recordEvent(resource, del), recordEntity(resource), id)
	return nil
}

// recordEvent is the event a deletion (or restoration) of a record emits:
// employee.deleted / employee.created, payroll.cancelled / payroll.created
// (Gusto's event types; https://docs.gusto.com/app-integrations/docs/webhook-events).
func recordEvent(resource string, del bool) string {
	switch {
	case resource == "employees" && del:
		return "employee.deleted"
	case resource == "employees":
		return "employee.created"
	case del:
		return "payroll.cancelled"
	}
	return "payroll.created"
}

func recordEntity(resource string) string {
	if resource == "employees" {
		return "Employee"
	}
	return "Payroll"
}

// DeletableRecords returns the uuids of the company's records of resource
// that DeleteRecord accepts (and that are not deleted yet), in page order.
func (s *Sim) DeletableRecords(companyUUID, resource string) ([]string, error) {
	c := s.company(companyUUID)
	if c == nil {
		return nil, fmt.Errorf("records of %s: %w", companyUUID, ErrUnknownCompany)
	}
	var out []string
	switch resource {
	case "employees":
		for j := 0; j < c.employees; j++ {
			if c.employeeFlags(j)&flagOnboarded == 0 && !c.del.deleted(resource, j) {
				out = append(out, c.employeeUUID(j).String())
			}
		}
	case "payrolls":
		for j, slot := range c.payrollTable() {
			if !slot.processed && !c.del.deleted(resource, j) {
				r := c.stream(kindPayroll, int(slot.id))
				out = append(out, r.uuid().String())
			}
		}
	default:
		return nil, fmt.Errorf("records %q: %w", resource, ErrUnknownResource)
	}
	return out, nil
}

// adminDeleteRoutes serves DeleteRecord and RestoreRecord:
// DELETE /admin/companies/{company_id}/{resource}/{uuid} and
// POST /admin/companies/{company_id}/{resource}/{uuid}/restore.
func (s *Sim) adminDeleteRoutes(handle func(string, http.HandlerFunc)) {
	for _, op := range []struct {
		pattern string
		del     bool
	}{{"DELETE /admin/companies/{company_id}/{resource}/{uuid}", true}, {"POST /admin/companies/{company_id}/{resource}/{uuid}/restore", false}} {
		handle(op.pattern, func(w http.ResponseWriter, r *http.Request) {
			c, res, id := r.PathValue("company_id"), r.PathValue("resource"), r.PathValue("uuid")
			if err := s.setDeleted(c, res, id, op.del); err != nil {
				adminError(w, err)
				return
			}
			adminJSON(w, http.StatusOK, map[string]any{"resource": res, "uuid": strings.ToLower(id), "deleted": op.del})
		})
	}
}
