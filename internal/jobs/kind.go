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

// fixKind fixes the run's kind at its first attempt (a later attempt keeps
// the kind the first one fixed, whatever its payload says).
func (s *syncRun) fixKind(ctx context.Context) error {
	k, err := s.a.FixKind(ctx, s.requested)
	if err != nil {
		return err
	}
	s.kind = k
	if k != s.requested {
		s.log.LogAttrs(ctx, slog.LevelInfo, "sync kind kept from the run's first attempt or upgraded to full",
			slog.String("requested", string(s.requested)), slog.String("kind", string(k)))
	}
	return nil
}

// walks reports whether the run walks resource r: an incremental run leaves
// the company record to the full walks (one record that rarely changes,
// re-read by every full walk). Whether an incremental run reads the
// employees is skipEmployees's question.
func (s *syncRun) walks(r checkpoint.Resource) bool {
	return s.kind != checkpoint.KindIncremental || r != checkpoint.ResourceCompany
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

// complete ends a full run whose every resource is done: it reconciles
// deletions and records the full sync (checkpoint.Attempt.CompleteFull).
// The payrolls it may mark are those wholly inside the history walked and
// ending a week before the horizon (a run that completes days after its
// payroll walk has a later horizon than the walk had).
func (s *syncRun) complete(ctx context.Context) error {
	if s.kind != checkpoint.KindFull {
		return nil
	}
	today := s.h.now().UTC()
	scope := checkpoint.FullScope{
		PayrollsFrom: payrollHistoryStart(today, s.h.cfg.PayrollHistory),
		PayrollsTo:   payrollHorizon(today).AddDate(0, 0, -7),
	}
	rec, err := s.a.CompleteFull(ctx, scope)
	if err != nil {
		return err
	}
	if !rec.Verified {
		s.log.LogAttrs(ctx, slog.LevelWarn, "full walk not reconciled: it was not one walk of this run from the first page; nothing marked deleted")
		return nil
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "full walk reconciled", slog.Int64("employees_deleted", rec.EmployeesDeleted),
		slog.Int64("payrolls_deleted", rec.PayrollsDeleted))
	return nil
}
