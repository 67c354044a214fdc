package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/proof/devstack"
)

// sections of the report, in the order they run; rate and resume run side
// by side (both wait on timers, not on the CPU).
var sections = []string{"gobench", "budget", "storm", "e2e", "requests", "memory", "rate", "resume"}

func main() {
	if os.Getenv("BENCH_CHILD") == "storm" {
		os.Exit(stormChild())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// bencher holds what the sections share.
type bencher struct {
	binDir, runDir, modDir string
	out                    io.Writer

	mu         sync.Mutex
	rep        *devstack.Report
	log        bytes.Buffer // raw go test output
	simRecords float64      // the simulator's raw records/s, from its benchmark
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binDir := fs.String("bin", "bin", "directory of the gustosync binaries (make build)")
	runDir := fs.String("run-dir", "", "where logs go (default $TMPDIR/gustosync/bench-<time>)")
	only := fs.String("only", "", "comma-separated sections to run (default all): "+strings.Join(sections, ","))
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bench [flags]\n\nMeasures gustosync and prints one report, each figure beside its limit measured in the same run.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	want := sections
	if *only != "" {
		want = strings.Split(*only, ",")
		for _, s := range want {
			if !slices.Contains(sections, s) {
				fmt.Fprintf(stderr, "bench: unknown section %q (want %s)\n", s, strings.Join(sections, ","))
				return 2
			}
		}
	}
	if *runDir == "" {
		*runDir = filepath.Join(os.TempDir(), "gustosync", "bench-"+time.Now().Format("20060102-150405"))
	}
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(mod)) == "" || strings.TrimSpace(string(mod)) == os.DevNull {
		fmt.Fprintln(stderr, "bench: run it inside the gustosync module (go env GOMOD is empty)")
		return 2
	}
	bin, err := filepath.Abs(*binDir)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	b := &bencher{binDir: bin, runDir: *runDir, modDir: filepath.Dir(strings.TrimSpace(string(mod))), out: stdout,
		rep: &devstack.Report{}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	b.logf("benchmark report: sections %s; logs in %s", strings.Join(want, ", "), b.runDir)
	failed := 0
	do := func(name string, fn func(context.Context, *bencher) error) {
		if !slices.Contains(want, name) || ctx.Err() != nil {
			return
		}
		t := time.Now()
		b.logf("%s …", name)
		if err := fn(ctx, b); err != nil {
			b.mu.Lock()
			failed++
			b.rep.Check(name, name+" could not be measured", false, "error", "", err.Error())
			b.mu.Unlock()
			b.logf("%s failed: %v", name, err)
			return
		}
		b.logf("%s done in %s", name, time.Since(t).Round(time.Second))
	}
	do("gobench", goBenches)
	do("budget", refreshBudget)
	do("storm", storm)
	do("e2e", endToEnd)
	do("requests", requestsPerDay)
	do("memory", memory)
	var wg sync.WaitGroup
	for _, s := range []struct {
		name string
		fn   func(context.Context, *bencher) error
	}{{"rate", rateLimit}, {"resume", resume}} {
		wg.Add(1)
		go func() { defer wg.Done(); do(s.name, s.fn) }()
	}
	wg.Wait()
	if err := os.MkdirAll(b.runDir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(b.runDir, "go-test-bench.txt"), b.log.Bytes(), 0o644)
	}
	b.rep.Title = fmt.Sprintf("gustosync benchmark report — %s, %s", time.Now().Format("2006-01-02 15:04"), time.Since(start).Round(time.Second))
	b.rep.Note("Every limit above was measured in this run, on this machine (%s). Raw `go test -bench` output: %s",
		machine(), filepath.Join(b.runDir, "go-test-bench.txt"))
	b.rep.Write(stdout)
	if ctx.Err() != nil {
		return 130
	}
	if len(b.rep.Failures()) > 0 || failed > 0 {
		return 1
	}
	return 0
}

func (b *bencher) logf(format string, args ...any) { devstack.Logf(b.out, format, args...) }

// check, info add report lines from any section's goroutine.
func (b *bencher) check(section, name string, ok bool, value, limit string, detail ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rep.Check(section, name, ok, value, limit, detail...)
}

func (b *bencher) info(section, name, value, limit string, detail ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rep.Info(section, name, value, limit, detail...)
}

// stack starts a devstack for one section, on its own database
// (gustosync_bench_<name>) and run directory.
func (b *bencher) stack(ctx context.Context, name string, sim gustosim.Config, env ...map[string]string) (*devstack.Stack, error) {
	o := devstack.Options{
		RunDir: filepath.Join(b.runDir, name), BinDir: b.binDir, Database: "gustosync_bench_" + name, Sim: sim,
	}
	if len(env) > 0 {
		o.WorkerEnv = env[0]
	}
	return devstack.Up(ctx, o)
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "\nprocessor")
		if strings.HasPrefix(string(b), "processor") {
			n++
		}
	}
	return fmt.Sprintf("%d × %s", n, cpu)
}

// uuidOf reads a record's "uuid".
func uuidOf(raw []byte) (string, error) {
	var v struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.UUID == "" {
		return "", fmt.Errorf("record without a uuid: %v", err)
	}
	return v.UUID, nil
}
