package gustosim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gustosync/gustosync/internal/gustosim"
	"github.com/gustosync/gustosync/internal/waitfor"
)

// systemToken obtains a system access token (grant_type=system_access).
func (e *env) systemToken() string {
	e.t.Helper()
	r := e.postJSON("/oauth/token", map[string]string{"grant_type": "system_access", "client_id": testClientID, "client_secret": testClientSecret})
	var tok tokenJSON
	r.json(e.t, &tok)
	if r.status != http.StatusOK || tok.AccessToken == "" || tok.RefreshToken != "" || tok.ExpiresIn != 7200 {
		e.t.Fatalf("system_access = %d %s, want 200 with an access token for 7200 s and no refresh token", r.status, truncate(r.body))
	}
	return tok.AccessToken
}

// sendAuth sends method path with a JSON body and a bearer token.
func (e *env) sendAuth(method, path, token, body string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gusto-API-Version", testVersion)
	req.Header.Set("Authorization", "Bearer "+token)
	return e.do(req)
}

func TestSystemTokenOpensOnlySystemEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(defaults())
	sys := e.systemToken()
	if r := e.get("/v1/events", g.Token.AccessToken); r.status != http.StatusUnauthorized {
		t.Fatalf("GET /v1/events with a company token = %d, want 401", r.status)
	}
	if r := e.get("/v1/companies/"+g.CompanyUUID, sys); r.status != http.StatusUnauthorized {
		t.Fatalf("company data with a system token = %d, want 401", r.status)
	}
	r := e.postJSON("/oauth/token", map[string]string{"grant_type": "system_access", "client_id": testClientID, "client_secret": "wrong"})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("system_access with a wrong secret = %d, want 401 invalid_client", r.status)
	}
	e.clock.Advance(2*time.Hour + time.Second)
	if r := e.get("/v1/events", sys); r.status != http.StatusUnauthorized {
		t.Fatalf("expired system token = %d, want 401", r.status)
	}
}

func TestEventsFeedPagesFiltersAndRecordsRevocation(t *testing.T) {
	e := newEnv(t, nil)
	a := e.company(defaults())
	b := e.company(defaults())
	if err := e.sim.Revoke(a.CompanyUUID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.EmitEvent(b.CompanyUUID, "payroll.processed", "Payroll", "0b6f1a4e-1111-4c1e-9a1e-000000000001"); err != nil {
		t.Fatal(err)
	}
	sys := e.systemToken()
	var all []gustosim.Event
	after := ""
	for {
		path := "/v1/events?limit=2"
		if after != "" {
			path += "&starting_after_uuid=" + after
		}
		r := e.get(path, sys)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, r.status, truncate(r.body))
		}
		var page []gustosim.Event
		r.json(t, &page)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].UUID
	}
	want := []string{"company.provisioned", "company.provisioned", "company.deprovisioned", "payroll.processed"}
	if len(all) != len(want) {
		t.Fatalf("paged events = %+v, want types %v", all, want)
	}
	for i, ev := range all {
		if ev.EventType != want[i] || ev.ResourceType != "Company" || ev.UUID == "" || ev.Timestamp == 0 {
			t.Fatalf("event %d = %+v, want %s", i, ev, want[i])
		}
	}
	if all[2].ResourceUUID != a.CompanyUUID {
		t.Fatalf("deprovisioned resource_uuid = %s, want %s", all[2].ResourceUUID, a.CompanyUUID)
	}
	var only []gustosim.Event
	e.get("/v1/events?event_type=company.*&resource_uuid="+a.CompanyUUID, sys).json(t, &only)
	if len(only) != 2 || only[1].EventType != "company.deprovisioned" {
		t.Fatalf("filtered events = %+v, want a's two company events", only)
	}
	for _, bad := range []string{"limit=0", "limit=101", "limit=x", "sort_order=up", "starting_after_uuid=nope"} {
		if r := e.get("/v1/events?"+bad, sys); r.status != http.StatusUnprocessableEntity {
			t.Fatalf("GET /v1/events?%s = %d, want 422", bad, r.status)
		}
	}
	e.clock.Advance(gustosim.EventRetention + time.Hour)
	sys = e.systemToken()
	var old []gustosim.Event
	e.get("/v1/events", sys).json(t, &old)
	if len(old) != 0 {
		t.Fatalf("events older than 30 days listed: %+v", old)
	}
}

// receiver is a webhook endpoint that records what it is sent.
type receiver struct {
	mu       sync.Mutex
	token    string
	bodies   [][]byte
	sigs     []string
	failures atomic.Int64 // answer 503 to this many deliveries first
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var v struct {
		VerificationToken string `json:"verification_token"`
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Header.Get("X-Gusto-Signature") == "" && json.Unmarshal(b, &v) == nil && v.VerificationToken != "" {
		rc.token = v.VerificationToken
		return
	}
	if rc.failures.Add(-1) >= 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.bodies = append(rc.bodies, b)
	rc.sigs = append(rc.sigs, r.Header.Get("X-Gusto-Signature"))
}

func (rc *receiver) snapshot() (string, [][]byte, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.token, append([][]byte(nil), rc.bodies...), append([]string(nil), rc.sigs...)
}

func TestWebhookSubscriptionVerifiedThenSignedRetriedDuplicatedDeliveries(t *testing.T) {
	e := newEnv(t, func(c *gustosim.Config) {
		c.WebhookRetryDelay = 10 * time.Millisecond
		c.WebhookDuplicateRate = 1
	})
	t.Cleanup(func() { _ = e.sim.Close() })
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	a := e.company(defaults())
	sys := e.systemToken()

	if r := e.sendAuth(http.MethodPost, "/v1/webhook_subscriptions", sys, `{"url":"not a url","subscription_types":["Company"]}`); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("subscription to a bad url = %d, want 422", r.status)
	}
	r := e.sendAuth(http.MethodPost, "/v1/webhook_subscriptions", sys, `{"url":"`+hook.URL+`","subscription_types":["Company","Employee"]}`)
	var sub gustosim.Subscription
	r.json(t, &sub)
	if r.status != http.StatusCreated || sub.Status != "pending" || sub.UUID == "" {
		t.Fatalf("create subscription = %d %s", r.status, truncate(r.body))
	}
	waitfor.Condition(t, 5*time.Second, "the verification token is POSTed", func() bool { tok, _, _ := rc.snapshot(); return tok != "" })
	token, _, _ := rc.snapshot()

	// Before verification nothing is delivered.
	if _, err := e.sim.EmitEvent(a.CompanyUUID, "employee.updated", "Employee", a.CompanyUUID); err != nil {
		t.Fatal(err)
	}
	if r := e.sendAuth(http.MethodPut, "/v1/webhook_subscriptions/"+sub.UUID+"/verify", sys, `{"verification_token":"wrong"}`); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("verify with a wrong token = %d, want 422", r.status)
	}
	if r := e.sendAuth(http.MethodPut, "/v1/webhook_subscriptions/"+sub.UUID+"/verify", sys, `{"verification_token":"`+token+`"}`); r.status != http.StatusOK {
		t.Fatalf("verify = %d %s", r.status, truncate(r.body))
	}
	var list []gustosim.Subscription
	e.sendAuth(http.MethodGet, "/v1/webhook_subscriptions", sys, "").json(t, &list)
	if len(list) != 1 || list[0].Status != "verified" {
		t.Fatalf("subscriptions = %+v, want one verified", list)
	}

	rc.failures.Store(2) // the first two attempts fail: retried
	if err := e.sim.Revoke(a.CompanyUUID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.EmitEvent(a.CompanyUUID, "payroll.processed", "Payroll", a.CompanyUUID); err != nil {
		t.Fatal(err) // not subscribed to Payroll: never delivered
	}
	waitfor.Condition(t, 10*time.Second, "the deprovisioned event delivered twice", func() bool { _, b, _ := rc.snapshot(); return len(b) >= 2 })
	_ = e.sim.Close()
	_, bodies, sigs := rc.snapshot()
	if len(bodies) != 2 {
		t.Fatalf("deliveries = %d, want 2 (one event, duplicated)", len(bodies))
	}
	for i, b := range bodies {
		var ev gustosim.Event
		if err := json.Unmarshal(b, &ev); err != nil || ev.EventType != "company.deprovisioned" || ev.ResourceUUID != a.CompanyUUID {
			t.Fatalf("delivery %d = %s", i, b)
		}
		if sigs[i] != gustosim.Signature(token, b) {
			t.Fatalf("delivery %d signature %q is not the HMAC of the body under the verification token", i, sigs[i])
		}
	}
	if c := e.sim.Counters(); c.WebhookFailures < 2 || c.WebhookDeliveries != 2 {
		t.Fatalf("counters = %d failures, %d deliveries; want >= 2 and 2", c.WebhookFailures, c.WebhookDeliveries)
	}
}

func TestAdminEmitsEvents(t *testing.T) {
	e := newEnv(t, nil)
	g := e.company(defaults())
	r := e.postJSON("/admin/companies/"+g.CompanyUUID+"/events", map[string]string{"event_type": "employee.updated", "entity_type": "Employee", "entity_uuid": g.CompanyUUID})
	var ev gustosim.Event
	r.json(t, &ev)
	if r.status != http.StatusCreated || ev.EventType != "employee.updated" || ev.ResourceUUID != g.CompanyUUID {
		t.Fatalf("POST /admin/.../events = %d %s", r.status, truncate(r.body))
	}
	if r := e.postJSON("/admin/companies/"+g.CompanyUUID+"/events", map[string]string{"event_type": "bad *"}); r.status != http.StatusBadRequest {
		t.Fatalf("a bad event type = %d, want 400", r.status)
	}
	if r := e.postJSON("/admin/companies/00000000-0000-4000-8000-000000000000/events", map[string]string{"event_type": "x.y"}); r.status != http.StatusNotFound {
		t.Fatalf("an unknown company = %d, want 404", r.status)
	}
}
