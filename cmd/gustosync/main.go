package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/buildinfo"
	"github.com/gustosync/gustosync/internal/config"
)

// commands is the command table. To add a command, write its setup function
// in the file of its group and add one line here; "help", --help, flag
// parsing (flags before, between or after the positional arguments), exit
// codes and error printing come with it.
var commands = []command{
	{"migrate", "", "apply the schema migrations (as DATABASE_MIGRATE_URL when set, else DATABASE_URL)", setupMigrate},
	{"migrate status", "", "list the schema migrations and whether each is applied", setupMigrateStatus},
	{"companies add", "", "store companies' Gusto token pairs (JSON on stdin or --file), encrypted", setupCompaniesAdd},
	{"companies list", "", "list companies: status, token expiry, last sync, rows, needs_reauth reason", setupCompaniesList},
	{"companies pause", "UUID", "stop syncing a company until it is resumed", setupCompaniesPause},
	{"companies resume", "UUID", "sync a paused, missing_scope or key_missing (key restored) company again", setupCompaniesResume},
	{"companies set-interval", "UUID INTERVAL|default", "set how often one company is synced (e.g. 30m), or back to SYNC_INTERVAL", setupCompaniesSetInterval},
	{"companies remove", "UUID", "offboard a company: delete its tokens, stop its syncs, keep an audit row; --purge-data deletes its synced rows", setupCompaniesRemove},
	{"tokens rekey", "", "re-encrypt every stored token pair under the first key of TOKEN_ENCRYPTION_KEYS; key_missing companies whose tokens open again become active", setupTokensRekey},
	{"sync now", "UUID", "enqueue a sync of one company now (critical queue); --full forces a full reconciliation", setupSyncNow},
	{"webhooks subscribe", "", "subscribe the dashboard's --url to Gusto's webhooks (system access token)", setupWebhooksSubscribe},
	{"webhooks list", "", "list Gusto's webhook subscriptions", setupWebhooksList},
	{"webhooks verify", "UUID", "confirm with Gusto the verification token the dashboard's intake received", setupWebhooksVerify},
	{"version", "", "print the version and commit this binary was built from", setupVersion},
}

// command is one entry of the table.
type command struct {
	// name is the words that select it: "migrate", "companies add".
	name string
	// args describes the positional arguments for the usage line, e.g.
	// "UUID"; empty when it takes none.
	args string
	// summary is one line, lower case, no final period.
	summary string
	// setup declares the command's flags on fs and returns the function that
	// runs it once they are parsed. Flags may stand anywhere on the line.
	setup func(fs *pflag.FlagSet, e *env) runFunc
}

// runFunc runs a command with the positional arguments left after its flags.
// It returns a *usageError or a *config.Error for bad input (exit 2) and any
// other error for a failure at run time (exit 1).
type runFunc func(ctx context.Context, args []string) error

// env is what a command runs with. Tests build their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// vars is the environment the configuration is read from.
	vars map[string]string
	// log writes diagnostics to stderr; results go to stdout.
	log *slog.Logger
}

// config fills dst from the environment (see package config).
func (e *env) config(dst any) error { return config.ParseFrom(dst, e.vars) }

// usageError is bad input on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a *usageError.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// noArgs is for commands that take no positional argument.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		vars:   config.Environ(),
		log:    slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	slog.SetDefault(e.log)
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run parses args with the command tree (package cobra, flags anywhere on
// the line) and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr, "")
		return exitUsage
	}
	root := newTree(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return report(e, commandName(cmd), err)
}

// tree is the cobra command tree built from the table: each table entry is
// a leaf (or, like "migrate", a command that also heads a group), each
// first word a group.
type tree struct {
	e *env
	// entries maps each cobra command built from the table to its entry;
	// a command that is not in it is a group (or the root).
	entries map[*cobra.Command]*command
}

// newTree builds the command tree over e.
func newTree(e *env) *cobra.Command {
	t := &tree{e: e, entries: map[*cobra.Command]*command{}}
	root := &cobra.Command{
		Use:           "gustosync",
		Short:         "operator commands for gustosync",
		Args:          cobra.ArbitraryArgs,
		RunE:          t.group,
		Version:       buildinfo.Get().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetIn(e.stdin)
	root.SetVersionTemplate("gustosync {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })
	root.SetHelpFunc(t.help)
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "print the commands, or one command's flags",
		Args:  cobra.ArbitraryArgs,
		RunE:  t.helpTopic,
	})
	for i := range commands {
		c := &commands[i]
		words := strings.Fields(c.name)
		parent := root
		for _, w := range words[:len(words)-1] {
			parent = t.child(parent, w)
		}
		cmd := t.child(parent, words[len(words)-1])
		cmd.Short = c.summary
		t.entries[cmd] = c
		runner := c.setup(cmd.Flags(), e)
		cmd.RunE = func(cc *cobra.Command, args []string) error { return runner(cc.Context(), args) }
	}
	return root
}

// child returns parent's subcommand named word, creating it as a group
// (which only reports a missing or unknown subcommand) when it is new.
func (t *tree) child(parent *cobra.Command, word string) *cobra.Command {
	for _, c := range parent.Commands() {
		if c.Name() == word {
			return c
		}
	}
	c := &cobra.Command{Use: word, Args: cobra.ArbitraryArgs, RunE: t.group}
	parent.AddCommand(c)
	return c
}

// group runs a command that only heads others: without a subcommand or with
// an unknown one, it is bad input.
func (t *tree) group(cmd *cobra.Command, args []string) error {
	if !cmd.HasParent() {
		return usagef("unknown command %q", args[0])
	}
	if len(args) == 0 {
		return usagef("missing subcommand")
	}
	return usagef("unknown subcommand %q", args[0])
}

// help prints the command list (the root), a group's commands, or one
// command's usage and flags.
func (t *tree) help(cmd *cobra.Command, _ []string) {
	w := cmd.OutOrStdout()
	if c, ok := t.entries[cmd]; ok {
		commandUsage(w, c, cmd.Flags())
		return
	}
	usage(w, commandName(cmd))
}

// helpTopic is `gustosync help [command…]`.
func (t *tree) helpTopic(cmd *cobra.Command, args []string) error {
	target, rest, err := cmd.Root().Find(args)
	if err != nil || len(rest) > 0 {
		return usagef("no help for %q: unknown command", strings.Join(args, " "))
	}
	t.help(target, nil)
	return nil
}

// commandName is cmd's words after "gustosync": "companies pause", or ""
// for the root.
func commandName(cmd *cobra.Command) string {
	if cmd == nil {
		return ""
	}
	return strings.TrimSpace(strings.TrimPrefix(cmd.CommandPath(), "gustosync"))
}

// report prints a command's error, if any, as one line, and returns the exit
// status it calls for.
func report(e *env, name string, err error) int {
	if err == nil {
		return exitOK
	}
	prefix, see := "gustosync", "gustosync"
	if name != "" && name != "help" {
		prefix += " " + name
		see = prefix
	} else if name == "help" {
		prefix += " help"
	}
	var ue *usageError
	var ce *config.Error
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "%s: %s (see %s --help)\n", prefix, oneLine(ue.Error()), see)
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(e.stderr, "%s: %v\n", prefix, ce)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "%s: %s\n", prefix, oneLine(err.Error()))
	return exitFailure
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// usage prints the command list, or the commands of one group.
func usage(w io.Writer, group string) {
	fmt.Fprintln(w, "Usage: gustosync <command> [args] [flags]")
	fmt.Fprintln(w)
	if group == "" {
		fmt.Fprintln(w, "Operator commands for gustosync. Commands:")
	} else {
		fmt.Fprintf(w, "Commands of %q:\n", group)
	}
	fmt.Fprintln(w)
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		if group == "" || c.name == group || strings.HasPrefix(c.name, group+" ") {
			fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'gustosync <command> --help' for a command's flags; flags may come before or")
	fmt.Fprintln(w, "after the arguments. 'gustosync --version' prints the build.")
	fmt.Fprintln(w, "Configuration is read from the environment (DATABASE_URL, REDIS_URL,")
	fmt.Fprintln(w, "TOKEN_ENCRYPTION_KEYS, …). Exit status: 0 success, 1 failure, 2 bad input.")
}

// commandUsage prints one command's usage and flags.
func commandUsage(w io.Writer, c *command, fs *pflag.FlagSet) {
	line := "Usage: gustosync " + c.name
	if c.args != "" {
		line += " " + c.args
	}
	hasFlags := fs.HasAvailableFlags()
	if hasFlags {
		line += " [flags]"
	}
	fmt.Fprintln(w, line)
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.ToUpper(c.summary[:1])+c.summary[1:]+".")
	if hasFlags {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Flags:")
		fmt.Fprint(w, fs.FlagUsages())
	}
}
