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
		{[]string{"--help"}, 0, "usage: chaos"},
		{[]string{"--rule", "lax"}, 2, "--rule gusto|latest_wins|strict|family"},
		{[]string{"--chaos", "1s"}, 2, "--chaos and --calm ≥ 10s"},
		{[]string{"--revoke", "100", "--companies", "100"}, 2, "--revoke < --companies"},
		{[]string{"--crash-window", "ignore"}, 2, "--crash-window fail|allow"},
		{[]string{"--workers", "1"}, 2, "--workers ≥ 2"},
	} {
		var out, errb strings.Builder
		if code := run(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("chaos %v: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}
