package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dashboardBin is the dashboard binary, built once by TestMain for the
// tests that run it as a process (webhooks_test.go).
var dashboardBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gustosync-dashboard-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dashboardBin = filepath.Join(dir, "dashboard")
	build := exec.Command("go", "build", "-o", dashboardBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build dashboard: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// TestWeakPasswordRefusedAtStart: the binary refuses a weak
// DASHBOARD_PASSWORD before it opens anything, exits 2 and names the
// variable and the rule, never the password.
func TestWeakPasswordRefusedAtStart(t *testing.T) {
	for _, pw := range []string{"x", "gustosync-demo", "aaaaaaaaaaaaaaaaaaaa", "operator-password-123"} {
		vars := map[string]string{
			"DASHBOARD_USER": testUser, "DASHBOARD_PASSWORD": pw, "OAUTH_STATE_KEY": "state-key-0123456789abcdef",
			"TOKEN_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			"GUSTO_CLIENT_ID":       "cid", "GUSTO_CLIENT_SECRET": "csecret", "GUSTO_REDIRECT_URI": "http://127.0.0.1:8082/oauth/callback",
			// Nothing listens here: the check comes before any connection.
			"DATABASE_URL": "postgres://nobody@127.0.0.1:9/none", "REDIS_URL": "redis://127.0.0.1:9/0",
		}
		var stderr bytes.Buffer
		code := run(context.Background(), nil, io.Discard, &stderr, vars, nil)
		msg := stderr.String()
		if code != exitUsage || !strings.Contains(msg, "DASHBOARD_PASSWORD") || !strings.Contains(msg, "openssl rand") ||
			(len(pw) > 3 && strings.Contains(msg, pw)) {
			t.Errorf("password %q: exit %d, stderr %q; want exit 2 naming DASHBOARD_PASSWORD without the password", pw, code, msg)
		}
	}
}
