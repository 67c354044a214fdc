package tokens

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestScopes(t *testing.T) {
	want := []string{"companies:read", "employees:read", "payrolls:read"}
	if got := RequiredScopes(); !slices.Equal(got, want) {
		t.Fatalf("RequiredScopes = %v, want %v", got, want)
	}
	if m := MissingScopes("payrolls:read companies:read employees:read"); m != nil {
		t.Fatalf("all granted, missing = %v", m)
	}
	if m := MissingScopes("companies:read compensations:read"); !slices.Equal(m, []string{"employees:read", "payrolls:read"}) {
		t.Fatalf("missing = %v", m)
	}
	err := checkScopes("c1", "companies:read")
	var ms *MissingScopesError
	if !errors.As(err, &ms) || !strings.Contains(err.Error(), "employees:read, payrolls:read") {
		t.Fatalf("checkScopes = %v; want a *MissingScopesError naming the missing scopes", err)
	}
}
