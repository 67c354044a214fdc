// Package conventions holds the checks that keep the repository to its
// conventions, as tests over the module's source: every invariant written
// down in docs/invariants.md names a function and a test that exist
// (invariants_test.go), and product code logs an error under one key,
// "error" (logkey_test.go).
//
// It has no code outside its tests and nothing imports it. It must never
// change what it checks: it reads the source, never writes it.
package conventions
