package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/spf13/pflag"
)

// buildVersion describes the build from the module information Go embeds
// (debug.ReadBuildInfo): the main module's version ("(devel)" for a build
// from a work tree) and, when the build recorded them (not with
// -buildvcs=false), the commit, its time and whether the tree was modified.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return v + " commit unknown"
	}
	v += " commit " + rev
	if modified == "true" {
		v += " (modified)"
	}
	if at != "" {
		v += " " + at
	}
	return v + " " + bi.GoVersion
}

// setupVersion is `gustosync version` (also `gustosync --version`).
func setupVersion(_ *pflag.FlagSet, e *env) runFunc {
	return func(_ context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "gustosync %s\n", buildVersion())
		return nil
	}
}
