package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/config"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/scheduler"
)

// syncConfig is what `sync now` reads from the environment.
type syncConfig struct {
	config.Database
	config.Redis
	// Interval is the retention of the enqueued task, as for scheduled ones.
	Interval time.Duration `env:"SYNC_INTERVAL" envDefault:"1h"`
	// FullEvery chooses the kind of the sync, as the scheduler does.
	FullEvery time.Duration `env:"SYNC_FULL_EVERY" envDefault:"168h"`
}

// setupSyncNow is `gustosync sync now [--full] UUID`: enqueue a sync of one
// company at once, on the critical queue, outside its schedule: a full
// reconciliation with --full or when the company's cadence says so
// (scheduler.FullDue), else an incremental sync. A second call in the same
// second enqueues nothing more.
func setupSyncNow(fs *pflag.FlagSet, e *env) runFunc {
	full := fs.Bool("full", false, "a full reconciliation (marks rows Gusto no longer has as deleted), whatever the cadence")
	return func(ctx context.Context, args []string) error {
		company, err := oneCompany(args)
		if err != nil {
			return err
		}
		var cfg syncConfig
		if err := e.config(&cfg); err != nil {
			return err
		}
		if cfg.Interval <= 0 {
			return &config.Error{Var: "SYNC_INTERVAL", Reason: "must be positive"}
		}
		if cfg.FullEvery <= 0 {
			return &config.Error{Var: "SYNC_FULL_EVERY", Reason: "must be positive"}
		}
		opt, err := cfg.Redis.ConnOpt()
		if err != nil {
			return err
		}
		db, err := openDB(ctx, e, 2)
		if err != nil {
			return err
		}
		defer postgres.Close(db)
		client := asynq.NewClient(opt)
		defer client.Close()
		s, err := scheduler.New(db, client, scheduler.Config{Interval: cfg.Interval, FullEvery: cfg.FullEvery, Logger: e.log})
		if err != nil {
			return err
		}
		res, err := s.EnqueueCompany(ctx, company, *full)
		var uc *scheduler.UnknownCompanyError
		if errors.As(err, &uc) {
			return usagef("no company %s is onboarded", company)
		}
		if err != nil {
			return err
		}
		if res.Duplicates > 0 {
			fmt.Fprintf(e.stdout, "a sync of %s was already enqueued this second\n", company)
			return nil
		}
		kind := "a sync"
		if *full {
			kind = "a full sync"
		}
		fmt.Fprintf(e.stdout, "enqueued %s of %s\n", kind, company)
		return nil
	}
}
