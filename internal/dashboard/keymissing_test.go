package dashboard_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCompaniesPageKeyMissing: a key_missing company is listed with its
// badge, counted in the summary, and the status filter accepts key_missing.
// (The list is in uuid order, the order its keyset pages need; the
// companies that need a person are reached through the filter.)
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
	for _, id := range ids {
		if !strings.Contains(page, `data-company="`+id) {
			t.Fatalf("company %s is not listed", id)
		}
	}
	if !strings.Contains(page, `<span class="badge key_missing">key_missing</span> 1</span>`) {
		t.Fatal("the summary does not count the key_missing company")
	}
	filtered, _ := io.ReadAll(e.get("/companies?status=key_missing").Body)
	if f := string(filtered); !strings.Contains(f, `data-company="`+ids[2]) || strings.Contains(f, `data-company="`+ids[0]) {
		t.Fatal("the key_missing filter is not applied")
	}
}
