package main

import (
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/devstack"
)

// TestCrashLosses: a lost grant is put down to a kill only when the last
// pair issued for the company went unused to a worker killed within the
// window after the answer.
func TestCrashLosses(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	issued := []devstack.IssuedPair{
		{Company: "a", Client: "worker-1", At: t0, Used: true},
		{Company: "a", Client: "worker-2", At: t0.Add(10 * time.Second)},             // unused, worker-2 killed 5 ms later: crash
		{Company: "b", Client: "worker-1", At: t0.Add(20 * time.Second)},             // unused, but worker-1 killed 3 s later: not the crash window
		{Company: "c", Client: "worker-3", At: t0.Add(30 * time.Second), Used: true}, // used: the grant was committed and used
		{Company: "d", Client: "worker-4", At: t0.Add(40 * time.Second)},             // unused, killed before the answer
		{Company: "e", Client: "worker-2", At: t0.Add(50 * time.Second)},             // unused, another worker killed
		{Company: "a", Client: "worker-3", At: t0.Add(5 * time.Second), Used: true},  // older than a's last pair
	}
	kills := []devstack.Kill{
		{Process: "worker-2", At: t0.Add(10*time.Second + 5*time.Millisecond)},
		{Process: "worker-1", At: t0.Add(23 * time.Second)},
		{Process: "worker-3", At: t0.Add(30*time.Second + time.Millisecond)},
		{Process: "worker-4", At: t0.Add(39 * time.Second)},
		{Process: "worker-1", At: t0.Add(50*time.Second + time.Millisecond)},
	}
	got, unexplained := crashLosses(issued, kills, []string{"a", "b", "c", "d", "e", "f"})
	if len(got) != 1 || got[0].company != "a" || got[0].worker != "worker-2" || got[0].killedAfter != 5*time.Millisecond {
		t.Fatalf("attributed %+v", got)
	}
	if want := []string{"b", "c", "d", "e", "f"}; len(unexplained) != len(want) {
		t.Fatalf("unexplained %v, want %v", unexplained, want)
	}
}
