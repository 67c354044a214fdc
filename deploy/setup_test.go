package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// `make test`, the README's test command, sets up what its tests need
// before it runs them: the setup step comes before `go test` in its
// recipe, so a fresh machine without Chromium or promtool does not fail
// the dashboard's browser tests or the rules' tests (issue 19, item 16).
func TestMakeTestSetsItselfUp(t *testing.T) {
	make, err := exec.LookPath("make")
	if err != nil {
		t.Fatal("make is not on PATH: the README's commands are make targets (apt-get install make)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, make, "-n", "test")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n test: %v", err)
	}
	lines := strings.Split(string(out), "\n")
	setup := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "bash scripts/services.sh --test-tools" })
	goTest := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, " test ") && strings.Contains(l, "-race") })
	if setup < 0 || goTest < 0 || setup > goTest {
		t.Fatalf("make test runs `bash scripts/services.sh --test-tools` at line %d and `go test -race` at line %d: want the setup first\n%s", setup, goTest, out)
	}
	ci := readFile(t, filepath.Join(repoRoot(t), ".ci", "run"))
	if !strings.Contains(ci, "\nmake setup\n") || strings.Contains(ci, "apt-get") {
		t.Error(".ci/run must set up through `make setup`, the step `make test` runs, not an install of its own")
	}
}

// scripts/services.sh --test-tools installs, with apt-get and only when
// missing, Chromium and a font (cmd/dashboard's browser tests) and
// promtool (Debian's prometheus package; the rules' tests). It runs here
// against stand-ins: PostgreSQL and Redis answer, apt-get records what it
// was asked, and the tools are absent, then present.
func TestServicesInstallsTheTestTools(t *testing.T) {
	script := filepath.Join(repoRoot(t), "scripts", "services.sh")
	bin := t.TempDir()
	aptLog := filepath.Join(t.TempDir(), "apt-get.log")
	stub := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The real tools the script uses besides the stand-ins; nothing else
	// of the machine is on PATH, so chromium and promtool are missing.
	for _, tool := range []string{"bash", "grep", "sh"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	stub("pg_isready", "exit 0")
	stub("redis-cli", "echo PONG")
	stub("psql", "echo 1")
	stub("fc-list", "exit 0")
	stub("apt-get", `echo "$@" >> `+aptLog)
	run := func() string {
		t.Helper()
		_ = os.Remove(aptLog)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "bash"), script, "--test-tools")
		cmd.Env = []string{"PATH=" + bin}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("services.sh --test-tools: %v\n%s", err, stderr.String())
		}
		b, _ := os.ReadFile(aptLog)
		return string(b)
	}

	apt := run()
	var install []string
	for line := range strings.Lines(apt) {
		if f := strings.Fields(line); slices.Contains(f, "install") {
			install = append(install, f...)
		}
	}
	for _, pkg := range []string{"chromium", "fonts-dejavu-core", "prometheus"} {
		if !slices.Contains(install, pkg) {
			t.Errorf("with chromium, fonts and promtool missing, apt-get was not asked to install %s; it was asked:\n%s", pkg, apt)
		}
	}

	stub("chromium", "exit 0")
	stub("promtool", "exit 0")
	stub("fc-list", "echo '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf: DejaVu Sans:style=Book'")
	if apt := run(); apt != "" {
		t.Errorf("with every tool present, apt-get was still called:\n%s", apt)
	}
}
