// Package proof is the root of gustosync's proof tools: the programs and
// libraries that show the product works, run on a developer's or CI's
// machine and nowhere else.
//
//   - proof/demo: `make demo`, the whole system against the simulator,
//     with a summary of checks.
//   - proof/chaos: `make chaos` and `make chaos-ci`, the system under
//     kill -9, Redis restarts, terminated PostgreSQL backends and 5xx, then
//     verified.
//   - proof/bench: `make bench`, each figure beside its limit measured in
//     the same run.
//   - proof/devstack: the local system of real processes the three share
//     (supervisor, wiring, simulator front, reports).
//   - proof/rowcheck: rows in PostgreSQL compared with the simulator's.
//
// Nothing under proof/ ships in a production image: the Dockerfile builds
// the product binaries by name, and a test in deploy/ fails if `go list
// -deps` of any product binary names a package under proof/ (or the
// simulator, pgtest or redistest). Product code must never import it. Its
// fresh databases and private Redis servers come from internal/pgtest and
// internal/redistest, the same packages the tests use.
package proof
