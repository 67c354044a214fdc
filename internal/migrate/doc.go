// Package migrate owns gustosync's PostgreSQL schema: the versioned SQL
// migrations under sql/, embedded in every binary, and the code that applies
// them with goose.
//
// Up is idempotent and safe when several processes run it at once: goose
// holds a PostgreSQL session-level advisory lock while it migrates, so the
// second process waits, then finds the schema up to date. The schema changes
// only here, through new numbered files; nothing in gustosync calls gorm's
// AutoMigrate. Applied migrations are never edited: a change is a new file.
//
// Version reads the schema version a database holds without the lock, and
// Gate turns it into readiness: every binary checks at start that the
// database holds every migration it embeds, reports not ready (naming both
// versions) and does no work while it does not, and looks again until the
// migrations have run (docs/upgrading.md).
//
// Up, Status and Verify take the gorm handle of postgres.Open; goose, which
// speaks database/sql, is given the pool behind it (never a second pool).
package migrate
