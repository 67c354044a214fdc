package gustoevents

import (
	"context"
	"errors"
	"fmt"

	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/scheduler"
)

// SchedulerSync adapts the scheduler's EnqueueCompany (an incremental or
// full sync, as the company's cadence says, on the critical queue) to
// Config.Sync: a company that is not active is ErrSkipped, one that is not
// onboarded ErrUnknownCompany.
func SchedulerSync(s *scheduler.Scheduler) func(ctx context.Context, company string) error {
	return func(ctx context.Context, company string) error {
		res, err := s.EnqueueCompany(ctx, company, false)
		var na *scheduler.NotActiveError
		var uc *scheduler.UnknownCompanyError
		switch {
		case errors.As(err, &na):
			return ErrSkipped
		case errors.As(err, &uc):
			return ErrUnknownCompany
		case err != nil:
			return err
		case res.Failed > 0:
			return fmt.Errorf("enqueue failed for %s", company)
		}
		return nil
	}
}

// DirectoryKnown adapts the companies read model to Config.Known.
func DirectoryKnown(d *companies.Directory) func(ctx context.Context, company string) (bool, error) {
	return func(ctx context.Context, company string) (bool, error) {
		_, err := d.Get(ctx, company)
		var nf *companies.NotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return err == nil, err
	}
}
