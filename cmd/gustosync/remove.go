package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/offboard"
	"github.com/gustosync/gustosync/internal/postgres"
)

// setupCompaniesRemove is `gustosync companies remove UUID [--purge-data]
// [--yes]`: offboard a company (package offboard). Without --yes it asks
// for the company uuid again on stdin.
func setupCompaniesRemove(fs *pflag.FlagSet, e *env) runFunc {
	purge := fs.Bool("purge-data", false, "also delete the company's synced rows (company, employees, payrolls) and checkpoints, in batches")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	batch := fs.Int("batch", offboard.DefaultBatch, "rows deleted per transaction by --purge-data")
	return func(ctx context.Context, args []string) error {
		company, err := oneCompany(args)
		if err != nil {
			return err
		}
		if *batch <= 0 {
			return usagef("--batch must be positive")
		}
		if !*yes {
			what := "its tokens are deleted and its syncs stop"
			if *purge {
				what += "; its synced rows and checkpoints are deleted"
			}
			fmt.Fprintf(e.stderr, "Remove company %s (%s)? Type the company uuid to confirm: ", company, what)
			line, _ := bufio.NewReader(e.stdin).ReadString('\n')
			if strings.TrimSpace(line) != company {
				return usagef("not confirmed: nothing removed (type the uuid, or pass --yes)")
			}
		}
		db, err := openDB(ctx, e, 2)
		if err != nil {
			return err
		}
		defer postgres.Close(db)
		res, err := offboard.Remove(ctx, db, company, offboard.Options{By: "cli:companies-remove " + operator(), PurgeData: *purge, Batch: *batch})
		var uc *offboard.UnknownCompanyError
		if errors.As(err, &uc) {
			return usagef("no company %s is onboarded", company)
		}
		if res.AuditID == 0 {
			return err
		}
		if res.TokensDeleted {
			fmt.Fprintf(e.stdout, "removed %s (was %s): tokens deleted, syncs stopped; audit row %d\n", company, res.Prior.Status, res.AuditID)
		} else {
			fmt.Fprintf(e.stdout, "%s was already removed (no tokens left); audit row %d\n", company, res.AuditID)
		}
		if res.Revocation == offboard.RevocationUnavailable {
			fmt.Fprintln(e.stdout, "Gusto offers no API to revoke the grant: the company's admin can disconnect the app in Gusto")
		}
		if *purge && err == nil {
			p := res.Purged
			fmt.Fprintf(e.stdout, "purged %d rows: %d company, %d employees, %d payrolls, %d checkpoint and full-walk rows\n",
				p.Total(), p.Companies, p.Employees, p.Payrolls, p.Progress)
		}
		return err
	}
}

// operator names who runs the command, for the audit row: the login name
// and host, never anything secret.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}
