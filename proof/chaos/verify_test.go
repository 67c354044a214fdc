package main

import (
	"testing"
	"time"

	"github.com/gustosync/gustosync/proof/devstack"
)

// TestCrashLosses: a lost grant is put down to a kill only when the last
// pair issued for the company went unused to a worker killed while asking
// or within the window after the answer.
func TestCrashLosses(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pair := func(co, client string, at time.Duration, used bool) devstack.IssuedPair {
		return devstack.IssuedPair{Company: co, Client: client, Requested: t0.Add(at - 2*time.Millisecond), At: t0.Add(at), Used: used}
	}
	issued := []devstack.IssuedPair{
		pair("a", "worker-1", 0, true),
		pair("a", "worker-2", 10*time.Second, false), // unused, worker-2 killed 5 ms after the answer: crash
		pair("b", "worker-1", 20*time.Second, false), // unused, but worker-1 killed 3 s later: not the crash window
		pair("c", "worker-3", 30*time.Second, true),  // used: the grant was committed and used
		pair("d", "worker-4", 40*time.Second, false), // unused, killed before the request
		pair("e", "worker-2", 50*time.Second, false), // unused, another worker killed
		pair("a", "worker-3", 5*time.Second, true),   // older than a's last pair
		pair("g", "worker-4", 60*time.Second, false), // unused, killed while the request was in flight: crash
		pair("h", "worker-5", 70*time.Second, false), // unused, reached the simulator after the kill, before the restart: crash
		pair("i", "worker-6", 80*time.Second, false), // unused, reached the simulator after the restart: a new incarnation asked
	}
	kills := []devstack.Kill{
		{Process: "worker-2", At: t0.Add(10*time.Second + 5*time.Millisecond)},
		{Process: "worker-1", At: t0.Add(23 * time.Second)},
		{Process: "worker-3", At: t0.Add(30*time.Second + time.Millisecond)},
		{Process: "worker-4", At: t0.Add(39 * time.Second)},
		{Process: "worker-1", At: t0.Add(50*time.Second + time.Millisecond)},
		{Process: "worker-4", At: t0.Add(60*time.Second - time.Millisecond)},
		{Process: "worker-5", At: t0.Add(70*time.Second - 5*time.Millisecond), Restarted: t0.Add(70 * time.Second)},
		{Process: "worker-6", At: t0.Add(80*time.Second - 50*time.Millisecond), Restarted: t0.Add(80*time.Second - 40*time.Millisecond)},
	}
	got, unexplained := crashLosses(issued, kills, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"})
	if len(got) != 3 || got[0].company != "a" || got[0].worker != "worker-2" || got[0].killedAfter != 7*time.Millisecond ||
		got[1].company != "g" || got[1].killedAfter != time.Millisecond || got[2].company != "h" || got[2].killedAfter != 0 {
		t.Fatalf("attributed %+v", got)
	}
	if want := []string{"b", "c", "d", "e", "f", "i"}; len(unexplained) != len(want) {
		t.Fatalf("unexplained %v, want %v", unexplained, want)
	}
}
