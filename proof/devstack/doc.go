// Package devstack starts and supervises a whole local gustosync system of
// real processes — its own redis-server, the Gusto simulator (in-process,
// behind loopback listeners), the migrations, the scheduler, N workers and
// the dashboard — for the demo (proof/demo), the chaos suite (proof/chaos)
// and the benchmark report (proof/bench).
//
// It owns four things:
//
//   - A process supervisor (Supervisor, Proc): start a binary with its log
//     in a file under the run directory, wait until it is ready with a
//     deadline, kill -9 it, restart it, stop everything on exit. Every child
//     runs in its own process group and gets SIGKILL from the kernel if the
//     supervising process dies (Pdeathsig, armed from one OS thread that
//     never exits), so a crashed or interrupted run leaves nothing behind.
//   - The stack (Stack): the wiring of the binaries through the environment
//     variables they read (package config), a dedicated PostgreSQL database
//     recreated on every run (by pgtest.Create) and a private redis-server
//     (redistest.Launch, watched by the supervisor): the same test
//     infrastructure the package tests use, with no second copy here;
//     generated secrets.
//   - The simulator's front (SimServer): one loopback listener per client
//     process, so every answer — a 401 on a data call, a rotated token pair —
//     is attributed to the process that got it.
//   - Verification and reports (Regressions, ArchivedTasks, Report; rows are
//     compared with the simulator's by package rowcheck): statuses, counters, checkpoint
//     regressions recorded by triggers, archived tasks, and the table that
//     prints each figure beside its limit.
//
// It is a development tool: it generates throwaway secrets, prints the
// dashboard's demo password on purpose, and must never be used against a
// production database. It never logs a token; tokens the simulator issues
// are kept in memory only, to tell afterwards whether one was ever used.
package devstack
