package postgres_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// recorderFilteredAtStart is whether gorm's recorder filter already dropped
// values before any test ran, i.e. merely importing the package changed it.
var recorderFilteredAtStart bool

func TestMain(m *testing.M) {
	recorderFilteredAtStart = recorderDropsValues()
	os.Exit(m.Run())
}

func recorderDropsValues() bool {
	_, vars := gormlogger.RecorderParamsFilter(context.Background(), "SELECT ?", "value")
	return len(vars) == 0
}

// Importing the package leaves gorm's globals alone; Open makes the recorder
// behind db.Scan placeholder-only.
func TestNoGlobalChangeAtImport(t *testing.T) {
	if recorderFilteredAtStart {
		t.Fatal("importing package postgres changed gorm's RecorderParamsFilter")
	}
	db := pgtest.NewEmpty(t) // opens with postgres.Open
	_ = db
	if !recorderDropsValues() {
		t.Fatal("after Open, gorm's recorder still passes values to the logger")
	}
}

func setting(t *testing.T, tx *gorm.DB, name string) string {
	t.Helper()
	var v string
	if err := tx.Raw("SELECT current_setting(?)", name).Scan(&v).Error; err != nil {
		t.Fatal(err)
	}
	return v
}

// InTx applies the lock and idle timeouts inside the transaction only.
func TestInTxSetsTimeouts(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := testCtx(t)
	for name, tc := range map[string]struct {
		o          postgres.TxOptions
		lock, idle string
	}{
		"defaults": {postgres.TxOptions{}, "30s", "15s"},
		"custom":   {postgres.TxOptions{LockTimeout: 250 * time.Millisecond, IdleTimeout: 2 * time.Minute}, "250ms", "2min"},
		"sub-ms":   {postgres.TxOptions{LockTimeout: time.Microsecond}, "1ms", "15s"},
	} {
		t.Run(name, func(t *testing.T) {
			err := postgres.InTx(ctx, db.Gorm, tc.o, func(tx *gorm.DB) error {
				if got := setting(t, tx, "lock_timeout"); got != tc.lock {
					t.Errorf("lock_timeout = %s, want %s", got, tc.lock)
				}
				if got := setting(t, tx, "idle_in_transaction_session_timeout"); got != tc.idle {
					t.Errorf("idle_in_transaction_session_timeout = %s, want %s", got, tc.idle)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// SET LOCAL: the pooled connection does not keep them (a pool of one,
	// so the check runs on the connection the transaction used).
	one, err := postgres.Open(ctx, db.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer postgres.Close(one)
	if err := postgres.InTx(ctx, one, postgres.TxOptions{LockTimeout: time.Second}, func(*gorm.DB) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := setting(t, one.WithContext(ctx), "lock_timeout"); got != "0" {
		t.Errorf("lock_timeout after the transaction = %s, want 0", got)
	}
}

// InTx commits on nil, rolls back on an error (returned as is) and on a
// panic (which goes on).
func TestInTxCommitRollback(t *testing.T) {
	db := pgtest.New(t)
	ctx := testCtx(t)
	insert := func(tx *gorm.DB, id string) error {
		return tx.Exec(`INSERT INTO sync_runs (id, company_uuid) VALUES (?, ?)`, id, uuid.NewString()).Error
	}
	exists := func(id string) bool {
		var n int64
		if err := db.Gorm.Raw(`SELECT count(*) FROM sync_runs WHERE id = ?`, id).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	committed := uuid.NewString()
	if err := postgres.InTx(ctx, db.Gorm, postgres.TxOptions{}, func(tx *gorm.DB) error { return insert(tx, committed) }); err != nil {
		t.Fatal(err)
	}
	if !exists(committed) {
		t.Error("a transaction whose fn returned nil was not committed")
	}

	failed := uuid.NewString()
	errBoom := errors.New("boom")
	err := postgres.InTx(ctx, db.Gorm, postgres.TxOptions{}, func(tx *gorm.DB) error {
		if err := insert(tx, failed); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("InTx = %v, want fn's error", err)
	}
	if exists(failed) {
		t.Error("a transaction whose fn failed was committed")
	}

	panicked := uuid.NewString()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("fn's panic did not go on")
			}
		}()
		_ = postgres.InTx(ctx, db.Gorm, postgres.TxOptions{}, func(tx *gorm.DB) error {
			if err := insert(tx, panicked); err != nil {
				return err
			}
			panic("fn panicked")
		})
	}()
	if exists(panicked) {
		t.Error("a transaction whose fn panicked was committed")
	}
}

// A holder frozen inside a transaction has its session ended once it idles
// past IdleTimeout, which releases its locks: the transaction fails instead
// of blocking others forever.
func TestInTxIdleTimeoutEndsFrozenHolder(t *testing.T) {
	db := pgtest.New(t)
	ctx := testCtx(t)
	run := uuid.NewString()
	if err := db.Gorm.Exec(`INSERT INTO sync_runs (id, company_uuid) VALUES (?, ?)`, run, uuid.NewString()).Error; err != nil {
		t.Fatal(err)
	}
	pid := make(chan int64, 1)
	resume := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- postgres.InTx(ctx, db.Gorm, postgres.TxOptions{IdleTimeout: 200 * time.Millisecond}, func(tx *gorm.DB) error {
			var p int64
			if err := tx.Raw(`SELECT pg_backend_pid()`).Scan(&p).Error; err != nil {
				return err
			}
			if err := tx.Exec(`UPDATE sync_runs SET error = 'frozen' WHERE id = ?`, run).Error; err != nil {
				return err
			}
			pid <- p
			<-resume // frozen: the transaction idles, holding the row lock
			return tx.Exec(`SELECT 1`).Error
		})
	}()
	holder := <-pid
	waitfor.Condition(t, 30*time.Second, "PostgreSQL to end the idle session", func() bool {
		var n int64
		if err := db.Gorm.Raw(`SELECT count(*) FROM pg_stat_activity WHERE pid = ?`, holder).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	// The row lock is free: an update with no wait allowed goes through.
	err := postgres.InTx(ctx, db.Gorm, postgres.TxOptions{LockTimeout: time.Millisecond}, func(tx *gorm.DB) error {
		return tx.Exec(`UPDATE sync_runs SET error = 'next' WHERE id = ?`, run).Error
	})
	if err != nil {
		t.Fatalf("update after the frozen holder's session ended: %v", err)
	}
	close(resume)
	if err := <-done; err == nil {
		t.Fatal("the frozen transaction committed after its session was ended")
	}
}

// Array binds a slice as one array parameter, also right after a
// parenthesis (where gorm expands slices) and when empty.
func TestArray(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	var got []string
	if err := db.Gorm.Raw(`SELECT u::text FROM unnest(?::uuid[]) AS x(u) ORDER BY u`, postgres.Array(ids)).Scan(&got).Error; err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("unnest(Array(ids)) = %v, want %v", got, want)
	}
	var n int64
	if err := db.Gorm.Raw(`SELECT count(*) FROM unnest(?::bigint[], ?::bool[]) AS x(a, b) WHERE b`,
		postgres.Array([]int64{1, 2, 3}), postgres.Array([]bool{true, false, true})).Scan(&n).Error; err != nil || n != 2 {
		t.Errorf("two arrays: %d, %v; want 2", n, err)
	}
	if err := db.Gorm.Raw(`SELECT cardinality(?::text[])`, postgres.Array([]string{})).Scan(&n).Error; err != nil || n != 0 {
		t.Errorf("empty array: cardinality %d, %v; want 0", n, err)
	}
	var hit bool
	if err := db.Gorm.Raw(`SELECT ? = ANY(?)`, "b", postgres.Array([]string{"a", "b"})).Scan(&hit).Error; err != nil || !hit {
		t.Errorf("= ANY(Array): %v, %v; want true", hit, err)
	}
}
