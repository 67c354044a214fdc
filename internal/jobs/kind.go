package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/gustosync/gustosync/internal/checkpoint"
)

// DefaultIncrementalPayrollDays is Config.IncrementalPayrollDays's default:
// an incremental run re-reads the payrolls whose check date is at most this
// many days old (and every one up to the horizon, three months ahead).
const DefaultIncrementalPayrollDays = 90

// walks reports whether the run walks resource r: an incremental run
// leaves the FullOnly resources (the company record: one record that rarely
// changes) to the full walks. Whether an incremental run reads an OnEvents
// resource (the employees) is skipEmployees's question.
func (s *syncRun) walks(r *Resource) bool {
	return s.kind != checkpoint.KindIncremental || r.Incremental != FullOnly
}

// skipEmployees holds the invariant "an incremental sync skips the
// employees only on Gusto's word" (docs/invariants.md; the package
// comment, "Employees on Gusto's word"): it reports true only for an
// incremental run that has not begun its employees walk, when the
// company's last complete employees read (checkpoint.Store.LastEmployeesRead)
// began less than EmployeesMaxAge ago and EmployeeEvents vouches that no
// employee event was recorded since it began while the events feed stayed
// healthy. Every doubt (no read, no watch, an error asking) walks.
//
// Gusto documents no way to ask for the changed employees only: GET
// /v1/companies/{company_id}/employees (operation
// get-v1-companies-company_id-employees in gusto/openapi.yaml) filters by
// location, payroll, search term, onboarding and termination, and sorts by
// created_at, name or onboarding_status; no updated-since filter, no
// updated_at sort. So the choice is all employees or none.
func (s *syncRun) skipEmployees(ctx context.Context, pos checkpoint.Position) bool {
	if s.kind != checkpoint.KindIncremental || s.h.cfg.EmployeeEvents == nil || pos != (checkpoint.Position{}) {
		return false
	}
	walk := func(why string) bool {
		s.log.LogAttrs(ctx, slog.LevelDebug, "employees walked", slog.String("why", why))
		return false
	}
	read, ok, err := s.h.cfg.Checkpoints.LastEmployeesRead(ctx, s.a.Company)
	switch {
	case err != nil:
		s.log.LogAttrs(ctx, slog.LevelWarn, "reading the last employees read failed; walking the employees", slog.String("error", err.Error()))
		return false
	case !ok:
		return walk("no complete employees read recorded")
	case read.Age >= s.h.cfg.EmployeesMaxAge:
		return walk("the last employees read is older than SYNC_EMPLOYEES_MAX_AGE")
	}
	quiet, why, err := s.h.cfg.EmployeeEvents.EmployeesQuiet(ctx, s.a.Company, read.StartedAt)
	switch {
	case err != nil:
		s.log.LogAttrs(ctx, slog.LevelWarn, "asking Gusto's events about the employees failed; walking the employees", slog.String("error", err.Error()))
		return false
	case !quiet:
		return walk(why)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "employees not walked: no employee event since the last read, events feed healthy",
		slog.String("read_run", read.RunID), slog.Duration("read_age", read.Age))
	return true
}

// payrollStart is where the payroll walk of a run started on today begins.
//
// A full run walks the whole history (payrollHistoryStart). An incremental
// run reads the payrolls whose check date is on or after today less
// IncrementalPayrollDays: its first window starts payrollWindowOverlapDays
// earlier still, more than the longest pay period plus the days a check date
// trails its period's end, so that every pay period whose check date is in
// range lies wholly inside the windows under every reading of Gusto's date
// filters (invariant 11; windows.go).
func (s *syncRun) payrollStart(today time.Time) time.Time {
	history := payrollHistoryStart(today, s.h.cfg.PayrollHistory)
	if s.kind != checkpoint.KindIncremental {
		return history
	}
	return incrementalPayrollStart(today, s.h.cfg.IncrementalPayrollDays, history)
}

// incrementalPayrollStart is payrollStart for an incremental run, never
// before the history a full run walks.
func incrementalPayrollStart(today time.Time, days int, history time.Time) time.Time {
	d := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	start := d.AddDate(0, 0, -days-payrollWindowOverlapDays)
	if start.Before(history) {
		return history
	}
	return start
}

// complete ends a full run whose every walked resource is done: it
// reconciles deletions and records the full sync
// (checkpoint.Attempt.CompleteFull). The payrolls it may mark are those
// lying wholly inside a window the walk recorded as walked.
func (s *syncRun) complete(ctx context.Context, walked []checkpoint.Resource) error {
	if s.kind != checkpoint.KindFull {
		return nil
	}
	rec, err := s.a.CompleteFull(ctx, walked)
	if err != nil {
		return err
	}
	if !rec.Verified {
		s.log.LogAttrs(ctx, slog.LevelWarn, "full walk not reconciled: a walk was not one consistent walk of this run from its first page; nothing marked deleted")
		return nil
	}
	attrs := []slog.Attr{}
	for _, r := range walked {
		if n, ok := rec.Deleted[r]; ok {
			attrs = append(attrs, slog.Int64(string(r)+"_deleted", n))
		}
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "full walk reconciled", attrs...)
	return nil
}
