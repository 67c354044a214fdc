package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3/lock"

	"github.com/gustosync/gustosync/internal/migrate"
	"github.com/gustosync/gustosync/internal/pgtest"
)

// binary is the gustosync command built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gustosync-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gustosync")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build gustosync: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// command prepares the binary with args and a minimal environment plus vars
// ("NAME=value").
func command(ctx context.Context, args []string, vars ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, vars...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

func finish(t *testing.T, cmd *exec.Cmd, err error, stdout, stderr *bytes.Buffer) result {
	t.Helper()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// gustosync runs the binary to completion, within a deadline.
func gustosync(t *testing.T, args []string, vars ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, stdout, stderr := command(ctx, args, vars...)
	return finish(t, cmd, cmd.Run(), stdout, stderr)
}

func embeddedNames(t *testing.T) []string {
	names, err := fs.Glob(migrate.FS(), "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %v, %v", names, err)
	}
	return names
}

// appliedLines returns the names in the "applied NAME" lines of out.
func appliedLines(out string) []string {
	var names []string
	for line := range strings.Lines(out) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "applied "); ok {
			names = append(names, name)
		}
	}
	return names
}

func TestMigrateTwice(t *testing.T) {
	db := pgtest.NewEmpty(t)
	first := gustosync(t, []string{"migrate"}, "DATABASE_URL="+db.URL)
	if first.code != 0 {
		t.Fatalf("first migrate: exit %d, stderr %q", first.code, first.stderr)
	}
	if got, want := appliedLines(first.stdout), embeddedNames(t); !slices.Equal(got, want) {
		t.Fatalf("first migrate applied %v, want %v\nstdout: %s", got, want, first.stdout)
	}
	if !strings.Contains(first.stdout, fmt.Sprintf("schema at version %d", migrate.Latest())) {
		t.Errorf("first migrate stdout lacks the version: %q", first.stdout)
	}
	second := gustosync(t, []string{"migrate"}, "DATABASE_URL="+db.URL)
	if second.code != 0 {
		t.Fatalf("second migrate: exit %d, stderr %q", second.code, second.stderr)
	}
	if got := appliedLines(second.stdout); len(got) != 0 {
		t.Fatalf("second migrate applied %v", got)
	}
	if !strings.Contains(second.stdout, "schema up to date") {
		t.Errorf("second migrate stdout %q lacks \"schema up to date\"", second.stdout)
	}
	if err := migrate.Verify(context.Background(), db.Gorm); err != nil {
		t.Error(err)
	}

	status := gustosync(t, []string{"migrate", "status"}, "DATABASE_URL="+db.URL)
	if status.code != 0 {
		t.Fatalf("migrate status: exit %d, stderr %q", status.code, status.stderr)
	}
	for _, name := range embeddedNames(t) {
		if !strings.Contains(status.stdout, "applied") || !strings.Contains(status.stdout, name) {
			t.Errorf("migrate status does not show %s applied:\n%s", name, status.stdout)
		}
	}
	if strings.Contains(status.stdout, "pending") {
		t.Errorf("migrate status shows a pending migration:\n%s", status.stdout)
	}
}

// Two processes migrate one fresh database at once. The test holds goose's
// advisory lock until both have connected and tried to take it, so the two
// runs overlap for certain, then lets them race.
func TestMigrateTwiceAtOnce(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// goose's lock is a session lock: hold it on one connection of the pool.
	pool, err := db.Gorm.DB()
	if err != nil {
		t.Fatal(err)
	}
	holder, err := pool.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}

	type run struct {
		cmd            *exec.Cmd
		stdout, stderr *bytes.Buffer
	}
	runs := make([]run, 2)
	for i := range runs {
		cmd, stdout, stderr := command(ctx, []string{"migrate"}, "DATABASE_URL="+db.URL)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		runs[i] = run{cmd, stdout, stderr}
	}

	// Wait until both processes are polling for the lock.
	for {
		var waiting int
		err := db.Gorm.WithContext(ctx).Raw(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
			AND query LIKE '%pg_try_advisory_lock%'`).Scan(&waiting).Error
		if err != nil {
			t.Fatalf("waiting for both migrations to reach the lock: %v", err)
		}
		if waiting == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of 2 migrations reached the lock", waiting)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := holder.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}

	var all []string
	for i, r := range runs {
		res := finish(t, r.cmd, r.cmd.Wait(), r.stdout, r.stderr)
		if res.code != 0 {
			t.Fatalf("migrate %d: exit %d, stderr %q", i, res.code, res.stderr)
		}
		all = append(all, appliedLines(res.stdout)...)
	}
	slices.Sort(all)
	if want := embeddedNames(t); !slices.Equal(all, want) {
		t.Fatalf("the two runs applied %v together, want each of %v once", all, want)
	}
	if err := migrate.Verify(context.Background(), db.Gorm); err != nil {
		t.Error(err)
	}
}

func TestBadInput(t *testing.T) {
	const secret = "hunter2secret"
	for _, tc := range []struct {
		name string
		args []string
		vars []string
		want string // in the one stderr line
	}{
		{"no command", nil, nil, "Usage: gustosync"},
		{"unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{"unknown help topic", []string{"help", "frobnicate"}, nil, `unknown command`},
		{"bad flag", []string{"migrate", "--bogus"}, nil, "unknown flag: --bogus"},
		{"bad flag value", []string{"migrate", "--timeout", "soon"}, nil, `invalid argument "soon" for "--timeout" flag`},
		{"zero timeout", []string{"migrate", "--timeout", "0s"}, nil, "--timeout must be positive"},
		{"extra argument", []string{"migrate", "now"}, nil, `unexpected argument "now"`},
		{"unknown subcommand", []string{"migrate", "status", "extra"}, nil, `unexpected argument "extra"`},
		{"unknown group subcommand", []string{"companies", "frobnicate"}, nil, `gustosync companies: unknown subcommand "frobnicate"`},
		{"missing subcommand", []string{"companies"}, nil, `gustosync companies: missing subcommand`},
		{"unknown flag after the argument", []string{"companies", "pause", "6b1f8a52-7d0e-4c37-9a4b-1f2e3d4c5b6a", "--bogus"}, nil, "unknown flag: --bogus"},
		{"not a postgres URL", []string{"migrate"}, []string{"DATABASE_URL=mysql://u:" + secret + "@h/db"}, "DATABASE_URL: want a postgres://"},
		{"bad DSN parameter", []string{"migrate"}, []string{"DATABASE_URL=postgres://u:" + secret + "@127.0.0.1/db?sslmode=sometimes"}, "DATABASE_URL: not a valid PostgreSQL DSN"},
		{"bad pool size", []string{"migrate"}, []string{"DATABASE_MAX_CONNS=many"}, "DATABASE_MAX_CONNS: not a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := gustosync(t, tc.args, tc.vars...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", res.stderr, tc.want)
			}
			if tc.args != nil && strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", res.stderr)
			}
			if strings.Contains(res.stderr+res.stdout, secret) {
				t.Errorf("output holds the password: %q", res.stderr)
			}
		})
	}
}

func TestRuntimeFailure(t *testing.T) {
	const secret = "hunter2secret"
	res := gustosync(t, []string{"migrate", "--timeout", "20s"},
		"DATABASE_URL=postgres://postgres:"+secret+"@127.0.0.1:1/gustosync?sslmode=disable")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", res.code, res.stderr)
	}
	line := strings.TrimSpace(res.stderr)
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "gustosync migrate: ") || !strings.Contains(line, "127.0.0.1:1") {
		t.Errorf("stderr %q: want one line naming the command and the server", res.stderr)
	}
	if strings.Contains(res.stderr+res.stdout, secret) {
		t.Errorf("output holds the password: %q", res.stderr)
	}
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "migrate status"},
		{[]string{"-h"}, "Usage: gustosync <command>"},
		{[]string{"help"}, "Usage: gustosync <command>"},
		{[]string{"migrate", "--help"}, "Usage: gustosync migrate [flags]"},
		{[]string{"migrate", "-h"}, "-timeout"},
		{[]string{"help", "migrate"}, "Usage: gustosync migrate [flags]"},
		{[]string{"migrate", "status", "--help"}, "Usage: gustosync migrate status"},
		{[]string{"help", "migrate", "status"}, "List the schema migrations"},
		{[]string{"companies", "remove", "--help"}, "--purge-data"},
		{[]string{"companies", "--help"}, "companies set-interval"},
		{[]string{"help", "companies", "set-interval"}, "Usage: gustosync companies set-interval UUID INTERVAL|default"},
		{[]string{"companies", "pause", "UUID", "-h"}, "--reason"},
		{[]string{"--version"}, "(commit "},
		{[]string{"--version"}, "gustosync "},
		{[]string{"version"}, "(commit "},
	} {
		res := gustosync(t, tc.args, "DATABASE_URL=mysql://not-read-for-help")
		if res.code != 0 || res.stderr != "" {
			t.Errorf("%v: exit %d, stderr %q; want 0 and nothing", tc.args, res.code, res.stderr)
		}
		if !strings.Contains(res.stdout, tc.want) {
			t.Errorf("%v: stdout lacks %q:\n%s", tc.args, tc.want, res.stdout)
		}
	}
}

// Every command but migrate refuses a database one migration behind this
// binary, naming both versions and the fix; after `gustosync migrate` it
// works.
func TestCommandsRefuseAnOlderSchema(t *testing.T) {
	db := pgtest.NewEmpty(t)
	behind := migrate.Latest() - 1
	if _, err := migrate.UpTo(context.Background(), db.Gorm, behind); err != nil {
		t.Fatal(err)
	}
	list := gustosync(t, []string{"companies", "list"}, "DATABASE_URL="+db.URL)
	want := fmt.Sprintf("database schema version %d is older than this binary's %d: run `gustosync migrate`", behind, migrate.Latest())
	if list.code != 1 || !strings.Contains(list.stderr, want) {
		t.Fatalf("companies list on an older schema: exit %d, stderr %q; want exit 1 and %q", list.code, list.stderr, want)
	}
	if up := gustosync(t, []string{"migrate"}, "DATABASE_URL="+db.URL); up.code != 0 {
		t.Fatalf("migrate: exit %d, stderr %q", up.code, up.stderr)
	}
	if list := gustosync(t, []string{"companies", "list"}, "DATABASE_URL="+db.URL); list.code != 0 {
		t.Fatalf("companies list after migrate: exit %d, stderr %q", list.code, list.stderr)
	}
}
