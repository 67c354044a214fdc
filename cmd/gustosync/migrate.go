package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/postgres"
)

// setupMigrate is `gustosync migrate`: apply every pending migration, verify
// the resulting schema, print what was applied or "schema up to date". A
// schema newer than the binary that holds every migration it embeds (after
// a rollback of the binaries) is up to date: exit 0, saying so, so that the
// init containers of a rolled-back release start. Safe to run from several
// processes at once: they take turns under an advisory lock.
func setupMigrate(fs *pflag.FlagSet, e *env) runFunc {
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long, waiting for another migration included")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *timeout <= 0 {
			return usagef("--timeout must be positive")
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		db, err := openMigrationPool(ctx, e, 2)
		if err != nil {
			return err
		}
		defer postgres.Close(db)
		applied, err := migrate.Up(ctx, db)
		for _, name := range applied {
			fmt.Fprintf(e.stdout, "applied %s\n", name)
		}
		if err != nil {
			return err
		}
		if err := migrate.Verify(ctx, db); err != nil {
			return err
		}
		have, err := migrate.Version(ctx, db)
		if err != nil {
			return err
		}
		switch {
		case have > migrate.Latest():
			fmt.Fprintln(e.stdout, aheadNote(have))
		case len(applied) == 0:
			fmt.Fprintf(e.stdout, "schema up to date (version %d)\n", migrate.Latest())
		default:
			fmt.Fprintf(e.stdout, "schema at version %d\n", migrate.Latest())
		}
		return nil
	}
}

// aheadNote says that a schema newer than this binary is current: a
// release's binaries were rolled back and its migrations kept, as
// docs/upgrading.md says to. Migrations only add, so this binary runs on it.
func aheadNote(have int64) string {
	return fmt.Sprintf("schema up to date: version %d is newer than this binary's %d and holds every migration it embeds (binaries rolled back, migrations kept); nothing to apply",
		have, migrate.Latest())
}

// setupMigrateStatus is `gustosync migrate status`: one line per embedded
// migration with whether the database has applied it.
func setupMigrateStatus(fs *pflag.FlagSet, e *env) runFunc {
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		db, err := openMigrationPool(ctx, e, 2)
		if err != nil {
			return err
		}
		defer postgres.Close(db)
		status, err := migrate.Status(ctx, db)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tNAME")
		for _, m := range status {
			state, at := "pending", "-"
			if m.Applied {
				state, at = "applied", m.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.Version, state, at, m.Name)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if have, err := migrate.Version(ctx, db); err == nil && have > migrate.Latest() {
			fmt.Fprintln(e.stdout, aheadNote(have))
		}
		return nil
	}
}
