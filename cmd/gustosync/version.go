package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/gustosync/gustosync/internal/buildinfo"
)

// setupVersion is `gustosync version` (also `gustosync --version`).
func setupVersion(_ *pflag.FlagSet, e *env) runFunc {
	return func(_ context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		fmt.Fprint(e.stdout, buildinfo.Line("gustosync"))
		return nil
	}
}
