package redistest

import (
	"testing"
)

// Start retries with another port when the one it picked is taken before
// redis-server binds it, even when the taker is another redis-server that
// answers on that port.
func TestStartRetriesTakenPort(t *testing.T) {
	other := Start(t)

	calls := 0
	orig := freePort
	freePort = func() (int, error) {
		calls++
		if calls == 1 {
			return other.Process.port, nil
		}
		return orig()
	}
	t.Cleanup(func() { freePort = orig })

	s := Start(t)
	if calls != 2 {
		t.Errorf("freePort called %d times, want 2 (the taken port, then a free one)", calls)
	}
	if s.Addr == other.Addr {
		t.Fatalf("Start adopted another test's server on %s", other.Addr)
	}
	select {
	case <-s.Failed():
		t.Fatalf("the attempt on the taken port counted as a crash: %v", s.Err())
	default:
	}
	if pid, err := serverPID(s.Addr); err != nil || pid != s.PID() {
		t.Fatalf("%s is served by pid %d (%v), want ours, %d", s.Addr, pid, err, s.PID())
	}
}
