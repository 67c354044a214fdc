package postgres_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/postgres"
)

// CopyFrom runs on the transaction's own connection: its rows commit with
// the transaction, roll back with it, and it refuses to run outside InTx.
func TestCopyFromIsPartOfTheTransaction(t *testing.T) {
	db := pgtest.NewEmpty(t)
	ctx := testCtx(t)
	if err := db.Gorm.Exec(`CREATE TABLE copied (id int PRIMARY KEY, doc jsonb NOT NULL)`).Error; err != nil {
		t.Fatal(err)
	}
	rows := func(from int) pgx.CopyFromSource {
		return pgx.CopyFromRows([][]any{{from, []byte(`{"a":1}`)}, {from + 1, []byte(`{"a":2}`)}})
	}
	count := func() int64 {
		var n int64
		if err := db.Gorm.Raw(`SELECT count(*) FROM copied`).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	err := postgres.InTx(ctx, db.Gorm, postgres.TxOptions{}, func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO copied VALUES (0, '{}')`).Error; err != nil {
			return err
		}
		n, err := postgres.CopyFrom(tx, "copied", []string{"id", "doc"}, rows(1))
		if err != nil || n != 2 {
			t.Fatalf("copy: %d rows, %v", n, err)
		}
		// The copied rows are visible to the transaction's next statement.
		var seen int64
		if err := tx.Raw(`SELECT count(*) FROM copied`).Scan(&seen).Error; err != nil || seen != 3 {
			t.Fatalf("inside the transaction: %d rows, %v", seen, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("after commit: %d rows, want 3", n)
	}

	boom := errors.New("boom")
	err = postgres.InTx(ctx, db.Gorm, postgres.TxOptions{}, func(tx *gorm.DB) error {
		if _, err := postgres.CopyFrom(tx, "copied", []string{"id", "doc"}, rows(10)); err != nil {
			t.Fatal(err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v, want fn's error", err)
	}
	if n := count(); n != 3 {
		t.Fatalf("after rollback: %d rows, want 3 (the copy rolled back)", n)
	}

	// A copy that fails (duplicate key) fails the transaction.
	err = postgres.InTx(ctx, db.Gorm, postgres.TxOptions{}, func(tx *gorm.DB) error {
		_, err := postgres.CopyFrom(tx, "copied", []string{"id", "doc"}, rows(1))
		return err
	})
	if err == nil {
		t.Fatal("a copy of duplicate keys succeeded")
	}
	if _, err := postgres.CopyFrom(db.Gorm, "copied", []string{"id", "doc"}, rows(20)); err == nil {
		t.Fatal("CopyFrom outside a transaction succeeded")
	}
	if n := count(); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	// The pool is whole: every connection was returned.
	for range 20 {
		if err := postgres.InTx(ctx, db.Gorm, postgres.TxOptions{}, func(tx *gorm.DB) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
}
