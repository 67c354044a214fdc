package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/companies"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/tokens"
)

// setupCompaniesList is `gustosync companies list [--json] [--status S]`:
// every onboarded company with its status, token expiry, last successful
// sync, rows synced, last run, next due time and needs_reauth, missing_scope
// or paused reason; above it, on stderr, a line for each API version Gusto
// currently refuses. It reads PostgreSQL only (DATABASE_URL) and never a
// token.
func setupCompaniesList(fs *pflag.FlagSet, e *env) runFunc {
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	status := fs.String("status", "", "only companies with this status: active, needs_reauth, missing_scope, key_missing or paused")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		switch tokens.Status(*status) {
		case "", tokens.StatusActive, tokens.StatusNeedsReauth, tokens.StatusMissingScope, tokens.StatusKeyMissing, tokens.StatusPaused:
		default:
			return usagef("--status: want active, needs_reauth, missing_scope, key_missing or paused")
		}
		db, err := openDB(ctx, e, 2)
		if err != nil {
			return err
		}
		defer postgres.Close(db)
		list, err := companies.New(db).List(ctx, tokens.Status(*status))
		if err != nil {
			return err
		}
		// A version Gusto refuses stops every company: say so first, on
		// stderr, so --json stays a plain array.
		refused, err := apiversion.NewStore(db, 0).Current(ctx)
		if err != nil {
			return err
		}
		for _, r := range refused {
			fmt.Fprintln(e.stderr, r.Advice())
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COMPANY\tNAME\tSTATUS\tTOKEN EXPIRES\tLAST SYNC\tROWS\tLAST RUN\tNEXT DUE\tREASON")
		for _, c := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", c.UUID, dash(c.Name), c.Status,
				stamp(&c.TokenExpiresAt), stamp(c.LastSyncAt), c.LastSyncRows, dash(c.LastRunStatus),
				stamp(c.NextDueAt), dash(c.StatusReason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(e.stderr, "no companies (onboard with gustosync companies add or the dashboard's /connect)")
		}
		return nil
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// setupCompaniesPause is `gustosync companies pause UUID [--reason TEXT]`.
func setupCompaniesPause(fs *pflag.FlagSet, e *env) runFunc {
	reason := fs.String("reason", "", "why (kept as the status reason; default \"paused by an operator\")")
	return func(ctx context.Context, args []string) error {
		company, err := oneCompany(args)
		if err != nil {
			return err
		}
		return changeStatus(ctx, e, company, func(s *tokens.Store) (bool, error) {
			return s.Pause(ctx, company, strings.TrimSpace(*reason), "cli:companies-pause")
		}, "paused", tokens.StatusPaused)
	}
}

// setupCompaniesResume is `gustosync companies resume UUID`.
func setupCompaniesResume(fs *pflag.FlagSet, e *env) runFunc {
	return func(ctx context.Context, args []string) error {
		company, err := oneCompany(args)
		if err != nil {
			return err
		}
		return changeStatus(ctx, e, company, func(s *tokens.Store) (bool, error) {
			return s.Resume(ctx, company, "cli:companies-resume")
		}, "resumed", tokens.StatusActive)
	}
}

// oneCompany takes the single positional argument, a company uuid.
func oneCompany(args []string) (string, error) {
	switch {
	case len(args) == 0:
		return "", usagef("missing the company uuid")
	case len(args) > 1:
		return "", usagef("unexpected argument %q", args[1])
	}
	u, err := uuid.Parse(args[0])
	if err != nil {
		return "", usagef("%s is not a company uuid", strconv.Quote(clipArg(args[0])))
	}
	return u.String(), nil
}

func clipArg(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// changeStatus runs a status change through the tokens store (which writes
// the audit row) and says what happened. Status changes need no key: the
// store is opened without a keyring and never decrypts.
func changeStatus(ctx context.Context, e *env, company string, change func(*tokens.Store) (bool, error), verb string, want tokens.Status) error {
	db, err := openDB(ctx, e, 2)
	if err != nil {
		return err
	}
	defer postgres.Close(db)
	// The keyring, when TOKEN_ENCRYPTION_KEYS is set: resuming a
	// key_missing company checks that its row opens.
	ring, _ := openKeyring(e)
	store := tokens.NewStore(db, ring)
	changed, err := change(store)
	var nf *tokens.NotFoundError
	if errors.As(err, &nf) {
		return usagef("no company %s is onboarded", company)
	}
	if err != nil {
		return err
	}
	if changed {
		fmt.Fprintf(e.stdout, "%s %s\n", verb, company)
		return nil
	}
	c, err := companies.New(db).Get(ctx, company)
	if err != nil {
		return err
	}
	if c.Status == want {
		fmt.Fprintf(e.stdout, "%s is already %s\n", company, c.Status)
		return nil
	}
	msg := fmt.Sprintf("company %s is %s", company, c.Status)
	if c.StatusReason != "" {
		msg += " (" + c.StatusReason + ")"
	}
	if c.Status == tokens.StatusNeedsReauth {
		msg += ": it must be reconnected (dashboard /connect or gustosync companies add) before it can be " + verb
	}
	if c.Status == tokens.StatusKeyMissing {
		msg += ": put its encryption key back in TOKEN_ENCRYPTION_KEYS, then resume it or run gustosync tokens rekey"
	}
	return errors.New(msg)
}
