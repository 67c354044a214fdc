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
// re-read by every full walk), and reads every employee and the recent
// payrolls. Every employee, because Gusto documents no way to ask for the
// changed ones only: GET /v1/companies/{company_id}/employees (operation
// get-v1-companies-company_id-employees in gusto/openapi.yaml) filters by
// location, payroll, search term, onboarding and termination, and sorts by
// created_at, name or onboarding_status; no updated-since filter, no
// updated_at sort. Unchanged employees cost no write (the upsert rewrites
// a row only when its payload changed).
func (s *syncRun) walks(r checkpoint.Resource) bool {
	return s.kind != checkpoint.KindIncremental || r != checkpoint.ResourceCompany
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
