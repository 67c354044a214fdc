package apiversion_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/apiversion"
	"github.com/gustosync/gustosync/internal/pgtest"
)

func alerts(t *testing.T, db *pgtest.DB) []string {
	t.Helper()
	var reasons []string
	if err := db.Gorm.Raw(`SELECT reason FROM alert_outbox WHERE kind = 'gusto.api_version_rejected' AND company_uuid IS NULL ORDER BY id`).
		Scan(&reasons).Error; err != nil {
		t.Fatal(err)
	}
	return reasons
}

// TestRefusalAlertsOnceAndClears: repeated refusals of one version alert
// once and show in Current; a success clears them; a new refusal after that
// alerts again.
func TestRefusalAlertsOnceAndClears(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	s := apiversion.NewStore(db.Gorm, 0)
	for range 3 {
		if err := s.Rejected(ctx, "2025-06-15", "version retired", "w1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := alerts(t, db); len(got) != 1 || !strings.Contains(got[0], "2025-06-15") || !strings.Contains(got[0], "GUSTO_API_VERSION") {
		t.Fatalf("alerts after 3 refusals = %q, want one naming the version and GUSTO_API_VERSION", got)
	}
	cur, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) != 1 || cur[0].Version != "2025-06-15" || cur[0].Rejections != 3 || cur[0].Worker != "w1" {
		t.Fatalf("Current = %+v, want one refusal of 2025-06-15 counted 3 times by w1", cur)
	}
	if a := cur[0].Advice(); !strings.Contains(a, "set GUSTO_API_VERSION") || !strings.Contains(a, "2025-06-15") {
		t.Fatalf("Advice = %q", a)
	}

	// Another version succeeding does not clear this one.
	if err := s.Accepted(ctx, "2026-06-15"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(ctx); len(cur) != 1 {
		t.Fatalf("after another version's success Current = %+v, want the refusal still there", cur)
	}
	// The refused version succeeding (Gusto accepts it again) clears it.
	s2 := apiversion.NewStore(db.Gorm, 0)
	if err := s2.Accepted(ctx, "2025-06-15"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(ctx); len(cur) != 0 {
		t.Fatalf("after a success Current = %+v, want none", cur)
	}
	if err := s.Rejected(ctx, "2025-06-15", "version retired", "w2"); err != nil {
		t.Fatal(err)
	}
	if got := alerts(t, db); len(got) != 2 {
		t.Fatalf("alerts after a refusal that follows a clear = %d, want 2", len(got))
	}
}

// TestCurrentForgetsOldRefusals: a refusal not seen within the recent window
// (no running worker sends that version any more) is not reported.
func TestCurrentForgetsOldRefusals(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	s := apiversion.NewStore(db.Gorm, time.Minute)
	if err := s.Rejected(ctx, "2025-06-15", "", "w1"); err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.Exec(`UPDATE gusto_api_version_rejections SET last_seen_at = now() - interval '2 minutes'`).Error; err != nil {
		t.Fatal(err)
	}
	if cur, err := s.Current(ctx); err != nil || len(cur) != 0 {
		t.Fatalf("Current = %+v, %v; want none for a refusal older than the window", cur, err)
	}
}
