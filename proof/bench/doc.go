// Command bench prints gustosync's benchmark report: each figure beside the
// limit or yardstick it is read against, both measured in the same run on
// the same machine. `make bench` runs it:
//
//	bin/bench --bin bin [--only gobench,budget,storm,e2e,requests,memory,rate,resume]
//
// Sections:
//
//   - gobench: the benchmarks the packages carry, run with `go test -bench`
//     and parsed — AccessToken's fast path against the slow read (one
//     PostgreSQL read and decrypt) and a refresh (internal/tokens); the
//     scheduler's enqueue rate over 10,000 due companies against asynq's raw
//     enqueue rate (internal/scheduler); checkpoint.Attempt.Commit of 20k
//     new records in batches of 500 against a pgx CopyFrom of the same rows
//     (internal/checkpoint, goal ≥ 0.70); the simulator's raw HTTP ceiling
//     (internal/gustosim).
//   - budget: 10,000 companies onboarded in the same second with 2-hour
//     tokens, every one in use, through the token manager with a fleet-wide
//     budget of 50 refreshes/s (internal/tokens BenchmarkRefreshBudget10k,
//     simulated time on real PostgreSQL and Redis): peak refreshes in any
//     second against the budget, tokens used after their expiry (limit 0).
//   - storm: 4 processes × 16 goroutines calling AccessToken on 20 companies
//     whose tokens live 10 s, for 30 s: token-endpoint calls per company per
//     expiry window, limit 1.00.
//   - e2e: 12 companies × 5,000 employees synced by 2 worker processes with
//     no rate limit, from `scheduler enqueue --all` to the last run's
//     commit, against a pgx CopyFrom of the same rows into the same tables'
//     shape; rows compared with the simulator's.
//   - requests: Gusto API requests per company per day on an hourly
//     schedule, every sync full against incremental syncs with the weekly
//     full reconciliation amortized and the employees read only on Gusto's
//     word (internal/jobs BenchmarkRequestsPerCompanyDay: real HTTP against
//     the simulator and its events feed, the scheduler's own cadence; a
//     burst of employee changes a day per 50 employees, at least one, each
//     with its event-driven sync; one payroll event-driven sync a day; the
//     feed's polls shared by 1000 companies), for companies of 20 and 200 employees with
//     the simulator's three years of payrolls walked over six years of
//     windows; goal at least 5× fewer. It runs no devstack.
//   - memory: 8 syncs of 200k records at once in one worker with no rate
//     limit: the worker's peak live heap (runtime/metrics, sampled in the
//     worker) and peak reserved page bytes beside WORKER_PAGE_BYTES_BUDGET.
//   - rate: 3 large companies synced at once under the simulator's (Gusto's)
//     per-grant limit of 200 requests per 60 s, the workers pacing from
//     Gusto's X-RateLimit-* headers: requests per grant per minute spent
//     (goal ≥ 95% of the limit) and the 429s, alone and with another
//     consumer of every grant spending 50 of each window.
//   - resume: kill -9 of the worker running a sync, to the run taken over
//     and its first batch committed by the other worker (goal 10 s), beside
//     asynq's own recovery of the dead task timed in the same run; that the
//     recovered task then did nothing; and the records fetched twice
//     (limit: one batch).
//
// Each devstack section runs its own devstack (database gustosync_bench_<section>,
// own Redis, in-process simulator); rate and resume run side by side, as
// both wait on timers. Logs and the raw `go test` output go under --run-dir.
// Exit status 0 when every check passed, 1 otherwise.
package main
