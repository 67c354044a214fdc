package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/gustosync/gustosync/internal/config"
)

// commands is the command table. To add a command, write its setup function
// in the file of its group and add one line here; "help", --help, flag
// parsing, exit codes and error printing come with it.
var commands = []command{
	{"migrate", "", "apply the schema migrations to DATABASE_URL", setupMigrate},
	{"migrate status", "", "list the schema migrations and whether each is applied", setupMigrateStatus},
	{"companies add", "", "store companies' Gusto token pairs (JSON on stdin or --file), encrypted", setupCompaniesAdd},
	{"tokens rekey", "", "re-encrypt every stored token pair under the first key of TOKEN_ENCRYPTION_KEYS; key_missing companies whose tokens open again become active", setupTokensRekey},
	{"companies list", "", "list companies: status, token expiry, last sync, rows, needs_reauth reason", setupCompaniesList},
	{"companies pause", "UUID", "stop syncing a company until it is resumed", setupCompaniesPause},
	{"companies resume", "UUID", "sync a paused, missing_scope or key_missing (key restored) company again", setupCompaniesResume},
	{"sync now", "[--full] UUID", "enqueue a sync of one company now (critical queue); --full forces a full reconciliation", setupSyncNow},
	{"webhooks subscribe", "", "subscribe the dashboard's --url to Gusto's webhooks (system access token)", setupWebhooksSubscribe},
	{"webhooks list", "", "list Gusto's webhook subscriptions", setupWebhooksList},
	{"webhooks verify", "UUID", "confirm with Gusto the verification token the dashboard's intake received", setupWebhooksVerify},
}

// command is one entry of the table.
type command struct {
	// name is the words that select it: "migrate", "companies add".
	name string
	// args describes the positional arguments for the usage line, e.g.
	// "[FILE]"; empty when it takes none.
	args string
	// summary is one line, lower case, no final period.
	summary string
	// setup declares the command's flags on fs and returns the function that
	// runs it once they are parsed.
	setup func(fs *flag.FlagSet, e *env) runFunc
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

// run dispatches args to a command and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr, "")
		return exitUsage
	}
	if isHelp(args[0]) || args[0] == "help" {
		topic := ""
		if args[0] == "help" {
			topic = strings.Join(args[1:], " ")
		}
		if topic == "" {
			usage(e.stdout, "")
			return exitOK
		}
		if c, rest := lookup(strings.Fields(topic)); c != nil && len(rest) == 0 {
			fs := newFlagSet(c)
			c.setup(fs, e)
			commandUsage(e.stdout, c, fs)
			return exitOK
		}
		if isGroup(topic) {
			usage(e.stdout, topic)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "gustosync: no help for %q: unknown command (see gustosync --help)\n", topic)
		return exitUsage
	}

	c, rest := lookup(args)
	if c == nil {
		group := args[0]
		if isGroup(group) {
			if len(args) > 1 && isHelp(args[1]) {
				usage(e.stdout, group)
				return exitOK
			}
			if len(args) == 1 {
				fmt.Fprintf(e.stderr, "gustosync %s: missing subcommand (see gustosync %s --help)\n", group, group)
			} else {
				fmt.Fprintf(e.stderr, "gustosync %s: unknown subcommand %q (see gustosync %s --help)\n", group, args[1], group)
			}
			return exitUsage
		}
		fmt.Fprintf(e.stderr, "gustosync: unknown command %q (see gustosync --help)\n", group)
		return exitUsage
	}

	fs := newFlagSet(c)
	runner := c.setup(fs, e)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(e.stdout, c, fs)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "gustosync %s: %v (see gustosync %s --help)\n", c.name, err, c.name)
		return exitUsage
	}
	return report(e, c, runner(ctx, fs.Args()))
}

// report prints a command's error, if any, as one line, and returns the exit
// status it calls for.
func report(e *env, c *command, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ce *config.Error
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "gustosync %s: %v (see gustosync %s --help)\n", c.name, ue, c.name)
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(e.stderr, "gustosync %s: %v\n", c.name, ce)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "gustosync %s: %s\n", c.name, oneLine(err.Error()))
	return exitFailure
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// lookup finds the command whose name is the longest run of leading words
// of args, and returns it with the arguments after its name.
func lookup(args []string) (*command, []string) {
	var best *command
	bestLen := 0
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(words) > bestLen && len(words) <= len(args) && slices.Equal(words, args[:len(words)]) {
			best, bestLen = &commands[i], len(words)
		}
	}
	if best == nil {
		return nil, args
	}
	return best, args[bestLen:]
}

// isGroup reports whether some command's name starts with the word group
// followed by a subcommand.
func isGroup(group string) bool {
	for _, c := range commands {
		if strings.HasPrefix(c.name, group+" ") {
			return true
		}
	}
	return false
}

func newFlagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("gustosync "+c.name, flag.ContinueOnError)
	// Errors are printed by run, as one line; usage only on request.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// usage prints the command list, or the commands of one group.
func usage(w io.Writer, group string) {
	fmt.Fprintln(w, "Usage: gustosync <command> [flags] [args]")
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
	fmt.Fprintln(w, "Run 'gustosync <command> --help' for a command's flags.")
	fmt.Fprintln(w, "Configuration is read from the environment (DATABASE_URL, REDIS_URL,")
	fmt.Fprintln(w, "TOKEN_ENCRYPTION_KEYS, …). Exit status: 0 success, 1 failure, 2 bad input.")
}

// commandUsage prints one command's usage and flags.
func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	line := "Usage: gustosync " + c.name
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		line += " [flags]"
	}
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintln(w, line)
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.ToUpper(c.summary[:1])+c.summary[1:]+".")
	if hasFlags {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Flags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}
