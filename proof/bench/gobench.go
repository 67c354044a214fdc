package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// goBench is one result line of `go test -bench`: the benchmark's name
// without the -GOMAXPROCS suffix, its iterations and its metrics by unit
// ("ns/op", "records/s", …).
type goBench struct {
	Name    string
	N       int64
	Metrics map[string]float64
}

// parseGoBench reads the result lines of `go test -bench` output.
func parseGoBench(out []byte) []goBench {
	var res []goBench
	s := bufio.NewScanner(bytes.NewReader(out))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := goBench{Name: trimProcs(f[0]), N: n, Metrics: map[string]float64{}}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			b.Metrics[f[i+1]] = v
		}
		if ok {
			res = append(res, b)
		}
	}
	return res
}

// trimProcs drops the "-N" GOMAXPROCS suffix of a benchmark name.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

// runGoBench runs `go test -run ^$ -bench pattern -benchtime t pkg` in dir
// and returns the parsed results; the raw output is appended to log.
func runGoBench(ctx context.Context, dir, pkg, pattern, benchtime string, log *bytes.Buffer) ([]goBench, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, "-count", "1", pkg)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(log, "$ go test -run '^$' -bench '%s' -benchtime %s %s\n%s\n", pattern, benchtime, pkg, out)
	if err != nil {
		return nil, fmt.Errorf("go test -bench %s %s: %w (output in the bench log)", pattern, pkg, err)
	}
	res := parseGoBench(out)
	if len(res) == 0 {
		return nil, fmt.Errorf("go test -bench %s %s: no results", pattern, pkg)
	}
	return res, nil
}

// find returns the result named name.
func find(res []goBench, name string) (goBench, bool) {
	for _, r := range res {
		if r.Name == name {
			return r, true
		}
	}
	return goBench{}, false
}
