// Package pgtest creates fresh PostgreSQL databases with gustosync's schema
// (or empty) on a real server, by default the one TEST_DATABASE_URL names
// (else postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, the
// admin database; the new databases are created beside it).
//
// Its core, Create and Database, takes a context and returns errors; the
// proof tools (proof/devstack: demo, chaos, bench) create their per-run
// database with it. New and NewEmpty wrap it for a test: a uniquely named
// database, opened, dropped WITH (FORCE) at cleanup.
//
// A database with the schema is a copy of a template database that holds
// every migration, so it costs one CREATE DATABASE … TEMPLATE, not the
// migrations. The template is named after migrate.Fingerprint: it is built
// once per server and schema, under a PostgreSQL advisory lock, so
// processes running in parallel build it once between them.
//
// pgtest never mocks PostgreSQL, and when it cannot reach the server it
// fails with a message saying how to start it; it never skips. It is test
// infrastructure: no product binary may import it (a test in deploy/
// checks).
package pgtest
