package waitfor

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeT records Fatalf instead of stopping the goroutine.
type fakeT struct {
	fatals []string
}

func (*fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

func TestConditionReturnsOnceTrue(t *testing.T) {
	var ft fakeT
	calls := 0
	start := time.Now()
	Condition(&ft, time.Minute, "the third call", func() bool {
		calls++
		return calls == 3
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s for a condition true on the third poll", took)
	}
	if calls != 3 {
		t.Errorf("cond called %d times, want 3 (no polling after it held)", calls)
	}
	if len(ft.fatals) != 0 {
		t.Errorf("failed: %q", ft.fatals)
	}
}

func TestConditionAlreadyTrueDoesNotSleep(t *testing.T) {
	var ft fakeT
	start := time.Now()
	Condition(&ft, time.Minute, "anything", func() bool { return true })
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %s for a condition true at once", took)
	}
	if len(ft.fatals) != 0 {
		t.Errorf("failed: %q", ft.fatals)
	}
}

func TestConditionTimesOut(t *testing.T) {
	var ft fakeT
	const within = 50 * time.Millisecond
	calls := 0
	start := time.Now()
	Condition(&ft, within, "the moon to turn blue", func() bool {
		calls++
		return false
	})
	took := time.Since(start)
	if len(ft.fatals) != 1 {
		t.Fatalf("Fatalf called %d times (%q), want once", len(ft.fatals), ft.fatals)
	}
	if want := "timed out after 50ms waiting for the moon to turn blue"; ft.fatals[0] != want {
		t.Errorf("message %q, want %q", ft.fatals[0], want)
	}
	if !strings.Contains(ft.fatals[0], "the moon to turn blue") {
		t.Errorf("message %q does not name what was awaited", ft.fatals[0])
	}
	if took < within {
		t.Errorf("gave up after %s, before the %s bound", took, within)
	}
	if took > 5*time.Second {
		t.Errorf("gave up only after %s for a %s bound", took, within)
	}
	if calls < 2 {
		t.Errorf("cond polled %d times in %s, want it polled repeatedly", calls, within)
	}
}
