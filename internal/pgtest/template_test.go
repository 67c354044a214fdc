package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// helperEnv names the template a helper process builds.
const helperEnv = "PGTEST_HELPER_TEMPLATE"

// TestHelperNew is not a test on its own: TestTemplateBuiltOnceAcrossProcesses
// runs the test binary twice at once with helperEnv set, and each copy
// creates a database from the named template and prints how many templates
// it built.
func TestHelperNew(t *testing.T) {
	name := os.Getenv(helperEnv)
	if name == "" {
		return // run directly: nothing to do
	}
	templateName = func() string { return name }
	db := New(t)
	var n int
	if err := db.Gorm.Raw(`SELECT count(*) FROM sync_runs`).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("builds=%d\n", builds.Load())
}

// Two test binaries that need a template nobody built yet build it once
// between them: the second waits on the advisory lock, then copies it.
func TestTemplateBuiltOnceAcrossProcesses(t *testing.T) {
	name := fmt.Sprintf("%sx%d", templatePrefix, time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := adminDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = a.db.Exec("ALTER DATABASE " + ident(name) + " WITH IS_TEMPLATE false")
		if _, err := a.db.Exec("DROP DATABASE IF EXISTS " + ident(name) + " WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})

	type child struct {
		cmd *exec.Cmd
		out *bytes.Buffer
	}
	children := make([]child, 2)
	for i := range children {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperNew$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"="+name)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[i] = child{cmd, &out}
	}
	built := 0
	for i, c := range children {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, c.out)
		}
		switch {
		case strings.Contains(c.out.String(), "builds=1"):
			built++
		case !strings.Contains(c.out.String(), "builds=0"):
			t.Fatalf("helper %d printed no build count:\n%s", i, c.out)
		}
	}
	if built != 1 {
		t.Fatalf("%d processes built the template, want 1", built)
	}
	var isTemplate bool
	if err := a.db.QueryRow(`SELECT datistemplate FROM pg_database WHERE datname = $1`, name).Scan(&isTemplate); err != nil || !isTemplate {
		t.Fatalf("template %s: datistemplate=%v, %v", name, isTemplate, err)
	}
}
