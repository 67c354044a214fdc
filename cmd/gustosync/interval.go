package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/scheduler"
)

// setupCompaniesSetInterval is `gustosync companies set-interval UUID
// INTERVAL`: how often one company is synced (company_schedules), a Go
// duration between scheduler.MinInterval and scheduler.MaxInterval, or
// "default" for SYNC_INTERVAL again.
func setupCompaniesSetInterval(_ *pflag.FlagSet, e *env) runFunc {
	return func(ctx context.Context, args []string) error {
		switch {
		case len(args) < 2:
			return usagef("want a company uuid and an interval (e.g. 30m, 2h, or default)")
		case len(args) > 2:
			return usagef("unexpected argument %q", args[2])
		}
		company, err := oneCompany(args[:1])
		if err != nil {
			return err
		}
		var d time.Duration
		if args[1] != "default" {
			d, err = time.ParseDuration(args[1])
			if err != nil {
				return usagef("interval %s: want a duration such as 30m or 2h, or default", strconv.Quote(clipArg(args[1])))
			}
			if err := scheduler.CheckInterval(d); err != nil {
				return usagef("%v", err)
			}
		}
		db, err := openDB(ctx, e, 2)
		if err != nil {
			return err
		}
		defer postgres.Close(db)
		err = scheduler.SetInterval(ctx, db, company, d)
		var uc *scheduler.UnknownCompanyError
		if errors.As(err, &uc) {
			return usagef("no company %s is onboarded", company)
		}
		if err != nil {
			return err
		}
		if d == 0 {
			fmt.Fprintf(e.stdout, "%s is synced every SYNC_INTERVAL again\n", company)
			return nil
		}
		fmt.Fprintf(e.stdout, "%s is synced every %s\n", company, d)
		return nil
	}
}
