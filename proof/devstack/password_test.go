package devstack

import (
	"testing"

	"github.com/gustosync/gustosync/internal/config"
)

// TestDashboardPasswordIsAccepted: the password the stack generates passes
// the dashboard's strength check, so StartDashboard's dashboard starts.
func TestDashboardPasswordIsAccepted(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		p := dashboardPassword("demo")
		if reason := config.WeakPassword(p, "demo"); reason != "" {
			t.Fatalf("generated password refused: %s", reason)
		}
		if seen[p] {
			t.Fatal("the same password generated twice")
		}
		seen[p] = true
	}
}
