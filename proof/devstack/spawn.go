package devstack

import (
	"os/exec"
	"runtime"
	"sync"
)

// spawner starts child processes from one goroutine locked to its OS thread
// for the life of the program. Pdeathsig fires when the *thread* that forked
// the child exits, not the process: Go may retire threads, so every child is
// forked from a thread that never exits.
type spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var spawn spawner

// start runs cmd.Start on the spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	s.once.Do(func() {
		s.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the program
			for r := range s.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}
