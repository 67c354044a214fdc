// Package pgtest gives each test its own PostgreSQL database with gustosync's
// schema, on the real server named by TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, the admin
// database; the test databases are created beside it).
//
// New copies a template database that holds every migration, so a test pays
// for one CREATE DATABASE … TEMPLATE, not for the migrations. The template is
// named after migrate.Fingerprint: it is built once per machine and per
// schema, under a PostgreSQL advisory lock, so test binaries running in
// parallel build it once between them. Each test's database is dropped
// WITH (FORCE) at cleanup.
//
// pgtest is for tests only. It never mocks PostgreSQL, and a test that cannot
// reach the server fails with a message saying how to start it; it never
// skips.
package pgtest
