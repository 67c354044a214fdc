package main

import (
	"strings"
	"testing"
)

// TestFlags: --help exits 0 with the usage, bad flags exit 2 with a reason,
// before anything is started.
func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "usage: demo"},
		{[]string{"--companies", "1"}, 2, "--companies ≥ 2"},
		{[]string{"--token-lifetime", "1s"}, 2, "--token-lifetime ≥ 5s"},
		{[]string{"--stay", "maybe"}, 2, "--stay yes|no|auto"},
		{[]string{"extra"}, 2, "no arguments"},
		{[]string{"--nope"}, 2, "flag provided but not defined"},
	} {
		var out, errb strings.Builder
		if code := run(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("demo %v: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
		if out.Len() != 0 {
			t.Errorf("demo %v wrote to stdout: %q", c.args, out.String())
		}
	}
}
