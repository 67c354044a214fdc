package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gustosync/gustosync/internal/pgtest"
	"github.com/gustosync/gustosync/internal/scheduler"
)

// TestSetInterval: an interval outside the bounds is refused, an unknown
// company is an *UnknownCompanyError (no foreign-key failure), a shorter
// interval pulls the next window in, and zero returns to the default
// without moving it.
func TestSetInterval(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	company := addCompanies(t, db.Gorm, 1, "active")[0]
	var ie *scheduler.IntervalError
	for _, d := range []time.Duration{30 * time.Second, 8 * 24 * time.Hour, 90*time.Second + time.Millisecond} {
		if err := scheduler.SetInterval(ctx, db.Gorm, company, d); !errors.As(err, &ie) {
			t.Errorf("SetInterval(%s) = %v, want *IntervalError", d, err)
		}
	}
	var uc *scheduler.UnknownCompanyError
	if err := scheduler.SetInterval(ctx, db.Gorm, uuid.NewString(), time.Hour); !errors.As(err, &uc) {
		t.Fatalf("unknown company: %v", err)
	}
	if err := db.Gorm.Exec(`INSERT INTO company_schedules (company_uuid, next_due_at) VALUES (?, now() + interval '5 hours')`, company).Error; err != nil {
		t.Fatal(err)
	}
	type row struct {
		IntervalSeconds *int64
		InMinutes       float64
	}
	read := func() row {
		t.Helper()
		var r row
		if err := db.Gorm.Raw(`SELECT interval_seconds, EXTRACT(EPOCH FROM next_due_at - now()) / 60 AS in_minutes FROM company_schedules WHERE company_uuid = ?`, company).Scan(&r).Error; err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := scheduler.SetInterval(ctx, db.Gorm, company, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if r := read(); r.IntervalSeconds == nil || *r.IntervalSeconds != 1800 || r.InMinutes > 31 {
		t.Fatalf("after 30m: %+v; want 1800 s and the next window within 30 minutes", r)
	}
	if err := scheduler.SetInterval(ctx, db.Gorm, company, 0); err != nil {
		t.Fatal(err)
	}
	if r := read(); r.IntervalSeconds != nil || r.InMinutes > 31 {
		t.Fatalf("after default: %+v; want NULL and the window kept", r)
	}
}
