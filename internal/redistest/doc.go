// Package redistest starts a private redis-server: a real Redis (the binary
// found on PATH) on a loopback port, with its own data directory.
//
// Its core, Launch and Process, takes a context and returns errors; the
// proof tools (proof/devstack: demo, chaos, bench) run their Redis with it.
// Start wraps it for a test: the data directory under t.TempDir(), failures
// failing the test, the server stopped at cleanup.
//
// Tests that share the machine's Redis on 6379 would see each other's keys;
// a private server per test (about 15 ms to start and stop) gives isolation
// without prefixes, and lets chaos tests stop, kill and restart Redis under
// the code they test. redistest never mocks Redis and, when redis-server is
// missing, it fails with a message saying how to install it; it never
// skips. It is test infrastructure: no product binary may import it (a test
// in deploy/ checks).
package redistest
