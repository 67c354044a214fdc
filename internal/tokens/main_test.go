package tokens

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// The whole suite's logs (every manager, every Gusto client, every child
// process's stderr) go to suiteLogs; every token and secret a test handles
// is noted in suiteSecrets. TestMain fails the run if any log line holds a
// secret (invariant 8).
var (
	suiteMu      sync.Mutex
	suiteLogs    bytes.Buffer
	suiteSecrets = map[string]bool{}
)

type lockedWriter struct{}

func (lockedWriter) Write(p []byte) (int, error) {
	suiteMu.Lock()
	defer suiteMu.Unlock()
	return suiteLogs.Write(p)
}

// suiteWriter appends to the suite's captured logs.
var suiteWriter io.Writer = lockedWriter{}

// testLogger logs at debug level into the suite's captured logs.
func testLogger() *slog.Logger { return testLoggerTo(suiteWriter) }

// noteSecret records values that must never appear in a log.
func noteSecret(values ...string) {
	suiteMu.Lock()
	defer suiteMu.Unlock()
	for _, v := range values {
		if len(v) >= 8 {
			suiteSecrets[v] = true
		}
	}
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(childMain(mode))
	}
	code := m.Run()
	if code == 0 {
		code = checkSuiteLogs()
	}
	os.Exit(code)
}

// checkSuiteLogs is the "Secrets" must-show over the whole suite.
func checkSuiteLogs() int {
	suiteMu.Lock()
	defer suiteMu.Unlock()
	logs := suiteLogs.String()
	lines := strings.Count(logs, "\n")
	if len(suiteSecrets) == 0 || lines == 0 {
		if testingRunFiltered() {
			return 0
		}
		fmt.Fprintf(os.Stderr, "FAIL: secrets check: %d secrets noted, %d log lines captured: the check saw nothing\n", len(suiteSecrets), lines)
		return 1
	}
	leaked := 0
	for s := range suiteSecrets {
		if strings.Contains(logs, s) {
			leaked++
		}
	}
	if leaked > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: secrets check: %d of %d secrets appear in the suite's %d log lines\n", leaked, len(suiteSecrets), lines)
		return 1
	}
	fmt.Printf("secrets check: %d log lines captured across the suite (parent and child processes), none holds any of the %d tokens and secrets used\n", lines, len(suiteSecrets))
	return 0
}

// testingRunFiltered reports whether -test.run or -test.bench narrowed the
// run (then the suite-wide check may legitimately have nothing to scan).
func testingRunFiltered() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.run") || strings.HasPrefix(a, "-test.bench") {
			return true
		}
	}
	return false
}
