package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenSizesPool(t *testing.T) {
	db := pgtest.NewEmpty(t)
	g, err := postgres.Open(testCtx(t), db.URL, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer postgres.Close(g)
	sqlDB, err := g.DB()
	if err != nil {
		t.Fatal(err)
	}
	if got := sqlDB.Stats().MaxOpenConnections; got != 7 {
		t.Errorf("MaxOpenConnections = %d, want 7", got)
	}
	// Idle connections are kept up to the pool size: hold 7, release them,
	// and all 7 stay idle (Go's default would keep 2).
	ctx := testCtx(t)
	var conns []interface{ Close() error }
	for range 7 {
		c, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	if idle := sqlDB.Stats().Idle; idle != 7 {
		t.Errorf("idle connections after release = %d, want 7", idle)
	}
	if !g.Config.SkipDefaultTransaction {
		t.Error("SkipDefaultTransaction is off")
	}
}

func TestOpenDefaultPool(t *testing.T) {
	db := pgtest.NewEmpty(t)
	g, err := postgres.Open(testCtx(t), db.URL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer postgres.Close(g)
	sqlDB, _ := g.DB()
	if got := sqlDB.Stats().MaxOpenConnections; got != postgres.DefaultMaxConns {
		t.Errorf("MaxOpenConnections = %d, want %d", got, postgres.DefaultMaxConns)
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	db := pgtest.NewEmpty(t)
	for name, dsn := range map[string]string{
		"unreachable":  "postgres://postgres:hunter2secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=5",
		"no database":  strings.Replace(db.URL, "postgres@", "postgres:hunter2secret@", 1) + "_missing",
		"bad password": "postgres://postgres:hunter2secret@127.0.0.1:5432/x?sslmode=disable&password=hunter2secret",
		"query string": "postgres://postgres@127.0.0.1:1/x?sslmode=disable&password=hunter2secret&connect_timeout=5",
	} {
		t.Run(name, func(t *testing.T) {
			if name == "no database" {
				// The test database's URL names the database in its path.
				dsn = strings.Replace(db.URL, db.Name, db.Name+"_missing", 1)
				dsn = strings.Replace(dsn, "postgres@", "postgres:hunter2secret@", 1)
			}
			g, err := postgres.Open(testCtx(t), dsn, 1)
			if err == nil {
				_ = postgres.Close(g)
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "hunter2secret") {
				t.Errorf("error holds the password: %v", err)
			}
			var pe *postgres.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *postgres.Error", err)
			}
			if !strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("error does not name the target: %v", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db":                         "postgres://u@h/db",
		"postgres://h/db?password=pw&sslmode=x":     "postgres://h/db?password=xxxxx&sslmode=x",
		"host=h password=pw":                        "[unparsable DSN]",
	} {
		if got := postgres.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// The logger prints failing and slow statements with placeholders, never
// the values bound to them.
func TestLoggerNeverPrintsValues(t *testing.T) {
	db := pgtest.New(t)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	g := db.Gorm.Session(&gorm.Session{Logger: postgres.NewLogger(log, time.Nanosecond)})

	const secret = "tok-VALUE-must-not-be-logged"
	// Slow (threshold 1ns): logged at Warn, without the value.
	var n int64
	if err := g.Raw("SELECT count(*) FROM gusto_auth_tokens WHERE key_id = ?", secret).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	// Failing: logged at Error, without the value.
	err := g.Exec("INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration) VALUES (?, ?, ?, ?, now())",
		"not-a-uuid", []byte(secret), []byte(secret), secret).Error
	if err == nil {
		t.Fatal("insert of a bad uuid succeeded")
	}
	out := buf.String()
	if strings.Contains(out, secret) || strings.Contains(out, "not-a-uuid") {
		t.Fatalf("log holds a bound value:\n%s", out)
	}
	for _, want := range []string{"sql slow", "sql failed", "key_id = $1", "VALUES ($1, $2, $3, $4, now())", "22P02"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// A miss is not an error.
	buf.Reset()
	quiet := db.Gorm.Session(&gorm.Session{Logger: postgres.NewLogger(log, 0)})
	var row struct{ CompanyUUID string }
	err = quiet.Table("gusto_auth_tokens").Where("key_id = ?", "none").First(&row).Error
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Fatalf("First on an empty table: %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("record-not-found was logged: %s", buf.String())
	}
}

// TestOpenWithLogger: the statement log of a handle goes where WithLogger
// says, not to slog.Default(): a one-shot command passes a discarding logger
// so that a slow statement cannot add a line to its one-line error (found
// when `scheduler enqueue` printed "sql slow" on stderr under load).
func TestOpenWithLogger(t *testing.T) {
	db := pgtest.New(t)
	var def, own bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&def, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	ctx := context.Background()
	g, err := postgres.Open(ctx, db.URL, 1, postgres.WithLogger(slog.New(slog.NewTextHandler(&own, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer postgres.Close(g)
	// Slower than DefaultSlowThreshold.
	if err := g.Exec(`SELECT pg_sleep(?)`, (postgres.DefaultSlowThreshold + 50*time.Millisecond).Seconds()).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(own.String(), "sql slow") {
		t.Fatalf("the handle's logger did not get the slow statement: %q", own.String())
	}
	if def.Len() != 0 {
		t.Fatalf("slog.Default() got the statement log: %q", def.String())
	}
}
