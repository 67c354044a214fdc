package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestVersionFlag: --version prints the build's line, reads no
// configuration and exits 0.
func TestVersionFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--version"}, &out, &errOut, map[string]string{}, nil)
	if code != exitOK || !strings.HasPrefix(out.String(), "dashboard ") || !strings.Contains(out.String(), "(commit ") || errOut.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}
