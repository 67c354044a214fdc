// Package redistest starts a private redis-server for one test: a real
// Redis (the binary found on PATH) on a free loopback port, with its own data
// directory, stopped at cleanup.
//
// Tests that share the machine's Redis on 6379 would see each other's keys;
// a private server per test (about 15 ms to start and stop) gives isolation without
// prefixes, and lets chaos tests stop, kill and restart Redis under the code
// they test. redistest is for tests only: it never mocks Redis and, when
// redis-server is missing, it fails the test with a message saying how to
// install it; it never skips.
package redistest
