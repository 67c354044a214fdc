package dashboard_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCompaniesPageKeyMissing: a key_missing company is listed after
// needs_reauth and before paused and active, counted in the summary, and
// the status filter accepts key_missing.
func TestCompaniesPageKeyMissing(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	for _, st := range []string{"active", "paused", "key_missing", "needs_reauth"} {
		var id string
		if err := e.db.Gorm.Raw(`INSERT INTO gusto_auth_tokens (company_uuid, access_token, refresh_token, key_id, access_token_expiration, status)
			VALUES (gen_random_uuid(), '\x00', '\x00', 'k0', now(), ?) RETURNING company_uuid::text`, st).Row().Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	resp := e.get("/companies")
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("companies page: %d", resp.StatusCode)
	}
	at := func(i int) int { return strings.Index(page, `data-company="`+ids[i]) }
	if at(3) < 0 || at(2) < at(3) || at(1) < at(2) || at(0) < at(1) {
		t.Fatalf("order: needs_reauth %d, key_missing %d, paused %d, active %d", at(3), at(2), at(1), at(0))
	}
	if !strings.Contains(page, `<span class="badge key_missing">key_missing</span> 1</span>`) {
		t.Fatal("the summary does not count the key_missing company")
	}
	filtered, _ := io.ReadAll(e.get("/companies?status=key_missing").Body)
	if f := string(filtered); !strings.Contains(f, `data-company="`+ids[2]) || strings.Contains(f, `data-company="`+ids[0]) {
		t.Fatal("the key_missing filter is not applied")
	}
}
